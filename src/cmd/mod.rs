//! One module per subcommand: each parses nothing itself (that is [`crate::cli`]), builds the
//! library parts it needs from the arguments and the configuration, and runs them. The library
//! crates of the same names (`agent`, `health`, `probe`, `resolver`) hold the work; these modules
//! only wire it to the process (signals, systemd notify, metrics endpoint, exit codes).

pub mod agent;
pub mod completions;
pub mod health;
pub mod lab;
pub mod manpages;
pub mod probe;
pub mod records;
pub mod resolver;
pub mod version;

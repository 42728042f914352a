//! One module per subcommand: each parses nothing itself (that is [`crate::cli`]), builds the
//! library parts it needs from the arguments and the configuration, and runs them. The library
//! crates of the same names (`agent`, `health`, `probe`, `resolver`) hold the work; these modules
//! only wire it to the process (signals, systemd notify, metrics endpoint, exit codes).

pub(crate) mod agent;
pub(crate) mod completions;
pub(crate) mod health;
pub(crate) mod lab;
pub(crate) mod manpages;
pub(crate) mod probe;
pub(crate) mod records;
pub(crate) mod resolver;
pub(crate) mod version;

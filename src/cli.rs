//! The command line: global options and one subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// DNS-based load balancing for UDP services in AWS Wavelength Zones.
///
/// Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration.
#[derive(Debug, Parser)]
#[command(name = "wavelb", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML); see docs/configuration.md.
    #[arg(long, global = true, env = "WAVELB_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log detail (-v debug, -vv trace). RUST_LOG overrides both -v and -q.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less log detail (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keep this instance's weighted record in Route 53, and drain it on the way out.
    Agent(Pending),
    /// Probe every target of a pool and quarantine the failed ones.
    Health(Pending),
    /// Serve a local authoritative DNS zone with a Route 53-compatible API (labs and tests).
    Resolver(Pending),
    /// Run the whole system on loopback: resolver, demo targets, registration, health checks.
    Lab(Pending),
    /// Inspect and change a pool's records by hand.
    Records(RecordsArgs),
    /// Run one health probe against a target.
    Probe(Pending),
    /// Print the version and build features.
    Version,
}

/// Arguments of a subcommand that a later release fills in.
#[derive(Debug, Args)]
pub struct Pending {
    /// Validate the configuration file and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Arguments for the future subcommand (ignored).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

/// `wavelb records`.
#[derive(Debug, Args)]
#[command(subcommand_required = false, arg_required_else_help = true)]
pub struct RecordsArgs {
    /// Validate the configuration file and exit.
    #[arg(long)]
    pub check_config: bool,
    /// The operation.
    #[command(subcommand)]
    pub action: Option<RecordsAction>,
}

/// Operations of `wavelb records`. Changes are conditional: they fail rather than overwrite a
/// record that changed since it was read, and they refuse foreign records without --force.
#[derive(Debug, Subcommand)]
pub enum RecordsAction {
    /// List the pool's targets, foreign ones marked.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set a target's wanted weight (published at once when it is active).
    SetWeight {
        /// The target's set identifier.
        set_id: String,
        /// The weight, 0-255.
        #[arg(value_parser = clap::value_parser!(u8))]
        weight: u8,
        /// Change a foreign record too.
        #[arg(long)]
        force: bool,
    },
    /// Take a target out of rotation (weight 0), keeping its wanted weight.
    Quarantine {
        /// The target's set identifier.
        set_id: String,
        /// Change a foreign record too.
        #[arg(long)]
        force: bool,
    },
    /// Put a quarantined or draining target back with its wanted weight.
    Restore {
        /// The target's set identifier.
        set_id: String,
        /// Change a foreign record too.
        #[arg(long)]
        force: bool,
    },
    /// Delete a target's address and ownership records.
    Remove {
        /// The target's set identifier.
        set_id: String,
        /// Delete a foreign record too.
        #[arg(long)]
        force: bool,
    },
}

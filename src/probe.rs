//! `wavelb probe`: run one health probe against a target (filled in with the probe library).

use clap::Args;

use crate::exit::UsageError;

/// `wavelb probe <kind> <host:port> [options]`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Arguments (not yet interpreted).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// Runs `wavelb probe`.
pub async fn run(_args: ProbeArgs) -> anyhow::Result<()> {
    Err(UsageError("`wavelb probe` is not yet available in this release".into()).into())
}

//! `wavelb`: one binary, one subcommand per job. See ARCHITECTURE.md.

#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod config;
mod exit;
mod logging;
mod logtap;
mod metrics_http;
mod port_holder;
mod systemd;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::Config;

fn main() -> ExitCode {
    // One rustls crypto provider for the whole process (aws-lc-rs, as the AWS SDK uses).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    logging::init(cli.log_format, cli.verbose, cli.quiet);
    exit::code(run(cli))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Completions { shell } => return cmd::completions::run(*shell),
        Command::Manpages { dir } => return cmd::manpages::run(dir),
        _ => {}
    }
    let cfg = cli.config.as_deref().map(Config::load).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let result = match cli.command {
        Command::Records(args) => runtime.block_on(cmd::records::run(cfg.as_ref(), args)),
        Command::Resolver(args) => runtime.block_on(cmd::resolver::run(cfg.as_ref(), *args)),
        Command::Lab(args) => runtime.block_on(cmd::lab::run(args)),
        Command::Version => {
            cmd::version::run();
            Ok(())
        }
        Command::Agent(args) => runtime.block_on(cmd::agent::run(cfg.as_ref(), args)),
        Command::Health(args) => runtime.block_on(cmd::health::run(cfg.as_ref(), args)),
        Command::Probe(args) => runtime.block_on(cmd::probe::run(args)),
        // Answered above, before any configuration is read.
        Command::Completions { .. } | Command::Manpages { .. } => Ok(()),
    };
    // A blocking stdin read (the lab's console) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

//! The `wavelb` binary end to end, as processes on 127.0.0.1: one test binary (one link of the
//! AWS SDK) with a module per subcommand. Run one module with
//! `cargo test --workspace --test e2e agent::`.

mod agent;
mod cidr_collections;
mod common;
mod health;
mod iam;
mod lab;
mod probe_cli;
mod prometheus;
mod records_cli;
mod resolver_api;
mod resolver_dns;

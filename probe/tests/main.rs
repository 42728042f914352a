//! The probe crate's one integration-test binary (one link instead of one per file).

mod common;
mod config;
mod failures;
mod real_servers;

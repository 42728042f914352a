//! The wavelb health controller: quarantine that cannot cause an outage.
//!
//! The probes and the per-target hysteresis live in the `probe` crate (`wavelb-probe`), shared
//! with the agent's self-check; this crate decides and writes with their verdicts.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod controller;
pub mod decide;
pub mod foreign;
pub mod global;
pub mod leader;
pub mod lease;
pub mod metrics;
pub mod readmit;
pub mod recorded;
pub mod regions;
pub mod service;
pub mod tier;
pub mod tier_controller;
pub mod tier_rejects;
pub mod txt_record;
pub mod witness;

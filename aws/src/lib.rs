//! wavelb's AWS adapters, the only code that talks to AWS: [`writer`] (the one Route 53 writer, a
//! `registry::store::PoolStore`: rate limit, retries, the typed conflict, pagination, INSYNC),
//! [`sdk`] (the Route 53 client and its conversions), [`metrics`] (the writer's), and [`ec2`]
//! (feature `ec2`: the EC2 client). Everything they decide on is pure and lives in `registry`;
//! the agent and the health controller take any `PoolStore`; only the agent's `ec2` feature (the
//! EC2 client for its Carrier IP) and the binary depend on this crate.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "ec2")]
pub mod ec2;
pub mod metrics;
pub mod sdk;
pub mod writer;

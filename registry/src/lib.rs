//! wavelb's shared core: the pool and record model, the ownership protocol (TXT codec and
//! classification), the pure change planner, and the one Route 53 writer.
//!
//! Data flows one way: listed record sets → [`pool::classify`] → intents →
//! [`plan::plan`] → [`plan::batches`] → `writer::Writer::execute`.
//!
//! The `sdk` feature (on by default) holds the AWS SDK client ([`sdk`]) and the writer
//! ([`writer`]); without it the crate is the pure model, codec and planner.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod budget;
pub mod clock;
pub mod config;
pub mod ec2;
pub mod escape;
pub mod file;
pub mod limiter;
pub mod listing;
pub mod mac;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod metrics;
pub mod model;
pub mod name;
pub mod ops;
pub mod plan;
pub mod pool;
pub mod probe_addr;
pub mod quota;
pub mod rcode;
pub mod reconcile;
pub mod retry;
#[cfg(feature = "sdk")]
pub mod sdk;
pub mod state;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tier;
pub mod txt;
#[cfg(feature = "sdk")]
pub mod writer;
pub mod zone;

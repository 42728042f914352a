//! wavelb's shared core: the pool and record model, the ownership protocol (TXT codec and
//! classification), the pure change planner, and the one reconcile loop over the `PoolStore`
//! seam (the Route 53 writer that implements it is in the `wavelb-aws` crate).
//!
//! Data flows one way: listed record sets → [`pool::classify`] → intents →
//! [`plan::plan`] → [`plan::batches`] → [`store::PoolStore::execute`]. No AWS SDK here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod budget;
pub mod cidr;
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
pub mod reconcile;
pub mod retry;
pub mod rrtype;
pub mod set_id;
pub mod state;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tier;
pub mod txt;
pub mod zone;

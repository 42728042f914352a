//! wavelb's shared core: the pool and record model, the ownership protocol (TXT codec and
//! classification), the pure change planner, and the one Route 53 writer.
//!
//! Data flows one way: listed record sets → [`pool::classify`] → intents →
//! [`plan::plan`] → [`plan::batches`] → [`writer::Writer::execute`].

#![forbid(unsafe_code)]

pub mod config;
pub mod limiter;
pub mod mac;
pub mod metrics;
pub mod model;
pub mod name;
pub mod ops;
pub mod plan;
pub mod pool;
pub mod retry;
pub mod sdk;
pub mod txt;
pub mod writer;
pub mod zone;

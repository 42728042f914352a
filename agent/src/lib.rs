//! The wavelb agent: finds this instance's id, zone and Carrier IP, keeps a weighted Route 53
//! record for it, and drains it cleanly on stop, Spot interruption or Auto Scaling termination.
//!
//! - [`config`]: the `[agent]` section.
//! - [`imds`] and [`discovery`] (EC2 through `aws::ec2`, feature `ec2`): who and where this instance is;
//!   [`instance`]: both behind one trait, with the Spot and Auto Scaling notices.
//! - [`lifecycle`]: pure decisions — register, repair drift, self-quarantine, drain.
//! - [`run`]: the adapter that applies them over time (timers, notices, signals), over any
//!   `registry::store::PoolStore` (the binary connects the Route 53 writer and installs the
//!   signal handlers).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod discovery;
pub mod imds;
pub mod instance;
pub mod lifecycle;
pub mod metrics;
pub mod run;

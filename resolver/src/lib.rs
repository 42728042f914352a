//! The wavelb lab resolver: an authoritative weighted DNS server with Route 53's semantics and a
//! Route 53-compatible control API, so the agent, the health controller, the aws CLI and boto3
//! run against it unchanged.
//!
//! - [`store`]: hosted zones, record sets (Route 53's change rules via `registry::zone`) and
//!   changes; [`persist`] makes every acknowledged change durable.
//! - [`snapshot`] and [`answer`]: the immutable DNS view and the pure query → response step;
//!   [`fast`] answers the common query (A/AAAA for a weighted name) from pre-encoded wire data.
//! - [`api`] and [`xml`]: the REST/XML API; [`sigv4`] authenticates it.
//! - [`service`]: startup and the shared state; [`tcp`]: DNS over TCP; [`http`]: the API's
//!   HTTP server; [`conn`]: the connection caps both share; `udp`: the DNS-over-UDP threads
//!   (batched I/O with `recvmmsg`/`sendmmsg`, which is why the resolver is Linux-only).

pub mod answer;
pub mod api;
pub mod config;
pub mod conn;
pub mod fast;
pub mod http;
pub mod metrics;
mod mmsg;
pub mod persist;
pub mod rdata;
pub mod service;
pub mod sigv4;
pub mod snapshot;
pub mod store;
pub mod tcp;
mod udp;
pub mod xml;

#[cfg(not(target_os = "linux"))]
compile_error!("wavelb's resolver answers UDP with recvmmsg/sendmmsg and builds on Linux only");

//! The wavelb lab resolver: an authoritative weighted DNS server with Route 53's semantics and a
//! Route 53-compatible control API, so the agent, the health controller, the aws CLI and boto3
//! run against it unchanged.
//!
//! - [`store`]: hosted zones, record sets (Route 53's change rules via `registry::zone`) and
//!   changes; [`db`] makes every acknowledged change durable (SQLite, the rows it touched);
//!   [`persist`] reads an older version's state file once, to move it into the database.
//! - [`snapshot`] and [`answer`]: the immutable DNS view and the pure query → response step;
//!   [`route`] decides what a name and type answers (weighted, geoproximity, alias);
//!   [`ecs`] reads EDNS Client Subnet and [`geotable`] places clients by address;
//!   [`fast`] answers the common query (A/AAAA for a weighted name) from pre-encoded wire data;
//!   [`transport`]: how a query arrived and how large its reply may be.
//! - [`shared`]: the state every listener shares (store, snapshot, metrics) and its write path.
//! - [`api`] and [`xml`]: the REST/XML API; [`sigv4`] authenticates it, and [`iam`] evaluates
//!   the IAM policy an access key may carry.
//! - [`healthcheck`]: Route 53 health checks (settings, validation, the pure status step);
//!   [`checker`] runs their probes and feeds the results to the store.
//! - [`tcp`]: DNS over TCP; [`http`]: the API's HTTP server; [`conn`]: the connection caps both
//!   share, deciding in [`slots`] (per /24 or /56, which connection a full listener closes); `udp`: the DNS-over-UDP threads (batched I/O with `recvmmsg`/`sendmmsg`, which is
//!   why the resolver is Linux-only).
//! - [`service`]: startup only: builds [`shared::Shared`] and composes the listeners on it.
//!
//! No two modules depend on each other (`scripts/check-cycles.py resolver/src`).

#![warn(missing_docs)]

pub mod answer;
pub mod api;
pub mod checker;
pub mod config;
pub mod conn;
pub mod db;
pub mod ecs;
pub mod fast;
pub mod geotable;
pub mod healthcheck;
pub mod http;
pub mod iam;
pub mod metrics;
mod mmsg;
pub mod persist;
pub mod rdata;
pub mod route;
pub mod service;
pub mod shared;
pub mod sigv4;
pub mod slots;
pub mod snapshot;
pub mod store;
pub mod tcp;
pub mod transport;
mod udp;
pub mod xml;

#[cfg(not(target_os = "linux"))]
compile_error!("wavelb's resolver answers UDP with recvmmsg/sendmmsg and builds on Linux only");

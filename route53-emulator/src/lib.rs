//! wavelb's Route 53 emulator: hosted zones, record sets, changes, health checks, tags and CIDR
//! collections behind a Route 53-compatible API, so the agent, the health controller, the aws
//! CLI and boto3 run against it unchanged. Its zones are served by the DNS server (`wavelb-dns`): after every
//! change the emulator publishes a new snapshot to it.
//!
//! The core, which every feature shares:
//! - [`store`]: the state every feature keeps its part of; [`db`] makes every acknowledged change durable (SQLite, the rows it touched);
//!   [`persist`] reads an older version's state file once, to move it into the database.
//! - [`api`] and [`xml`]: the REST/XML API (one `Operation` per request: authenticated with
//!   `aws_auth::sigv4`, authorised by `aws_auth::iam`, rate-limited, run); [`http`]: its HTTP
//!   server, over `dns::conn`'s connection caps.
//! - [`shared`]: the state the API and the checker share (the store, the DNS server's state it
//!   publishes to, the API's settings and metrics) and its write path.
//!
//! One folder per feature beside the core, each holding its state, XML and operations:
//! - [`zones`]: hosted zones (CreateHostedZone's checks, the apex SOA and NS, the delegation
//!   set).
//! - [`record_sets`]: Route 53's listing order and ListResourceRecordSets' pages.
//! - [`changes`]: ChangeResourceRecordSets (Route 53's change rules via `registry::zone`), the
//!   change log and GetChange.
//! - [`health_checks`]: Route 53 health checks (settings, validation, the pure status step; the
//!   checker that probes them; their part of the store, the XML and the API).
//! - [`tags`]: the tags of hosted zones and health checks.
//! - [`cidr_collections`]: CIDR collections (IP-based routing's blocks by location: the model,
//!   Route 53's rules and the lab's quotas, ChangeCidrCollection's semantics, the listings).
//! - [`limits`]: the state's bound and the account and zone limits the API reports.
//!
//! - [`config`]: `[resolver]` and the credentials file; [`metrics`]: the API's metrics.
//! - [`service`]: startup only: builds [`shared::Shared`] and composes the listeners on it.
//!
//! No module cycles (`scripts/check-cycles.py route53-emulator/src`).

#![warn(missing_docs)]

pub mod api;
pub mod changes;
pub mod cidr_collections;
pub mod config;
pub mod db;
pub mod health_checks;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod persist;
pub mod record_sets;
pub mod service;
pub mod shared;
pub mod store;
pub mod tags;
pub mod xml;
pub mod zones;

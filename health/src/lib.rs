//! The wavelb health controller: UDP- and QUIC-aware probes, hysteresis, and quarantine that
//! cannot cause an outage.
//!
//! - [`probe`]: one probe per kind of service (`udp`, `quic`, `quic-ping`, `stun`, `srt`, `dns`,
//!   `tcp`), built once from a validated [`probe::ProbeConfig`] into a reusable
//!   [`probe::Prober`]. A probe never fails with an error: it always returns a
//!   [`probe::ProbeResult`] (healthy, or unhealthy with a [`probe::Reason`]), bounded by its
//!   timeout. `wavelb probe` runs one from the command line.

#![forbid(unsafe_code)]

pub mod config;
#[cfg(feature = "sdk")]
pub mod controller;
pub mod decide;
pub mod lease;
pub mod metrics;
pub mod probe;
pub mod state;
pub mod witness;

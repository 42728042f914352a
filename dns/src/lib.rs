//! wavelb's authoritative DNS server: weighted, geoproximity and alias answers with Route 53's
//! semantics, answered from an immutable snapshot of the zones it is handed. It knows nothing of
//! where the zones are kept or how they change: the Route 53 emulator
//! (`wavelb-route53-emulator`) owns them and publishes a snapshot after every change.
//!
//! - [`snapshot`] and [`answer`]: the immutable DNS view (built from [`snapshot::Zones`], rebuilt
//!   by what a change touched, [`snapshot::Changed`]) and the pure query → response step;
//!   [`route`] decides what a name and type answers (weighted, geoproximity, alias);
//!   [`ecs`] reads EDNS Client Subnet and [`geotable`] places clients by address;
//!   [`fast`] answers the common query (A/AAAA for a weighted name) from pre-encoded wire data;
//!   [`transport`]: how a query arrived and how large its reply may be; [`rdata`]: the record
//!   values the server can encode.
//! - [`shared`]: the state every listener shares (the snapshot, the metrics, the geo table) and
//!   the read path of a query; [`metrics`]: the DNS metrics.
//! - [`tcp`]: DNS over TCP; [`conn`]: the connection caps (also the emulator API's), deciding in
//!   [`slots`] (per /24 or /56, which connection a full listener closes); `udp`: the DNS-over-UDP
//!   threads (batched I/O with `recvmmsg`/`sendmmsg`, which is why the server is Linux-only).
//! - [`listen`]: startup only: binds UDP and TCP and starts the listeners on a [`shared::Shared`].
//!
//! No two modules depend on each other (`scripts/check-cycles.py dns/src`).

#![warn(missing_docs)]

pub mod answer;
pub mod cidr;
pub mod conn;
pub mod ecs;
pub mod fast;
pub mod geotable;
pub mod listen;
pub mod metrics;
mod mmsg;
mod prefix;
pub mod rdata;
pub mod route;
pub mod shared;
pub mod slots;
pub mod snapshot;
pub mod tcp;
#[cfg(test)]
mod testing;
pub mod transport;
mod udp;

#[cfg(not(target_os = "linux"))]
compile_error!("wavelb's DNS server answers UDP with recvmmsg/sendmmsg and builds on Linux only");

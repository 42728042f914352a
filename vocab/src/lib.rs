//! The small vocabulary several wavelb crates share without depending on each other: the DNS
//! response codes' mnemonics ([`rcode`]: the DNS server's metrics, the DNS probe's errors, the
//! load generator) and the configuration file's duration syntax ([`duration`]: every section's
//! `"500ms"`, `"30s"`, `"2m"`). Pure, and no wavelb crate below it.

pub mod duration;
pub mod rcode;

//! The resolver's geo table file (`dns::geotable`, `--geo-table`).
//!
//! Asserts, for any input:
//! - `GeoTable::parse` never panics: a file is accepted or refused with its bad lines;
//! - every lookup of an accepted table returns a place within the ranges and a scope no longer
//!   than the address family's width, and an address of a listed network (its network address)
//!   is always found, with a scope at least as long as that entry's prefix.
#![no_main]

use std::net::IpAddr;

use dns::geotable::GeoTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(table) = GeoTable::parse("fuzz", text) else {
        return;
    };
    for line in text.lines() {
        let Some(cidr) = line.split_whitespace().next() else {
            continue;
        };
        let Some((addr, len)) = cidr.split_once('/') else {
            continue;
        };
        let (Ok(addr), Ok(len)) = (addr.parse::<IpAddr>(), len.parse::<u8>()) else {
            continue;
        };
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let found = table
            .lookup(addr)
            .unwrap_or_else(|| panic!("{cidr} is in the table but {addr} is not found"));
        let (lat, lon) = (found.coordinates.latitude(), found.coordinates.longitude());
        assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
        assert!(
            found.scope >= len && found.scope <= width,
            "{cidr}: scope {}",
            found.scope
        );
    }
});

//! The TXT ownership codec (`registry::txt`).
//!
//! Asserts, for any input:
//! - `decode` never panics, and a record it accepts encodes to a value that decodes to the same
//!   record;
//! - `split_quoted(join_quoted(parts)) == parts` for any strings;
//! - `decode(encode(record)) == record` for any record the protocol can hold (owner and `by`
//!   tokens, a non-empty `parked` list), built from the input with `arbitrary` (`by` as `By::parse`
//!   reads it).
#![no_main]

use std::net::IpAddr;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use registry::model::{By, ProbeAddr, TargetState};
use registry::txt::{self, OwnershipRecord};

/// The fields of an [`OwnershipRecord`], in a form `arbitrary` can build.
#[derive(Debug, Arbitrary)]
struct Fields {
    owner: String,
    wanted_weight: u8,
    state: u8,
    since: u64,
    probe: Option<(IpAddr, Option<u16>)>,
    by: Option<String>,
    parked: Option<Vec<IpAddr>>,
}

impl Fields {
    /// The record, when the protocol can hold it.
    fn record(self) -> Option<OwnershipRecord> {
        let state = match self.state % 3 {
            0 => TargetState::Active,
            1 => TargetState::Quarantined,
            _ => TargetState::Draining,
        };
        let valid = txt::is_token(&self.owner)
            && self.by.as_deref().is_none_or(txt::is_token)
            && self.parked.as_ref().is_none_or(|p| !p.is_empty());
        valid.then(|| OwnershipRecord {
            owner: self.owner,
            wanted_weight: self.wanted_weight,
            state,
            since: self.since,
            probe: self.probe.map(|(ip, port)| ProbeAddr { ip, port }),
            by: self.by.as_deref().map(By::parse),
            why: None,
            parked: self.parked,
            mac: None,
        })
    }
}

fn round_trip(record: &OwnershipRecord) {
    let encoded = txt::encode(record);
    match txt::decode(&encoded) {
        Ok(decoded) => assert_eq!(&decoded, record, "{encoded:?} decodes to another record"),
        Err(e) => panic!("{encoded:?}, encoded from {record:?}, does not decode: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = txt::decode(&String::from_utf8_lossy(data)) {
        round_trip(&record);
    }
    let mut u = Unstructured::new(data);
    if let Ok(parts) = Vec::<String>::arbitrary(&mut u) {
        let joined = txt::join_quoted(&parts);
        assert_eq!(
            txt::split_quoted(&joined).as_ref(),
            Ok(&parts),
            "{joined:?} does not split back"
        );
    }
    if let Some(record) = Fields::arbitrary(&mut u).ok().and_then(Fields::record) {
        round_trip(&record);
    }
});

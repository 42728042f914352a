//! An operator's file of a carrier's CIDR blocks (`registry::cidr::parse_source`) and the
//! ChangeCidrCollection requests between two collections (`collection_requests`).
//!
//! Two shapes of input: text (split in two at the first NUL: the collection as listed, all in
//! location "a", and the blocks wanted, alternately in "a" and "b"), or, after a first byte 0xFF,
//! a compact one that reaches past Route 53's 1 000 blocks a request, so split plans are
//! exercised: each 3 bytes are one /24 (`10.B1.B2.0/24`), the low bit of B3 choosing listed or
//! wanted and its next bit the location.
//!
//! Asserts, for any input:
//! - `parse_source` never panics, and an accepted source holds only blocks `parse_block` takes,
//!   never more than the bound;
//! - the requests, applied in order, reach exactly the wanted collection; no request carries
//!   more than Route 53's 1 000 blocks; no block is put while another location holds it; and a
//!   location that holds blocks before and after is never emptied between requests (record sets
//!   may name it, and Route 53 refuses to empty it).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use registry::cidr::{
    Action, MAX_BLOCKS_PER_REQUEST, collection_requests, parse_block, parse_source,
};

const MAX: usize = 300;

/// A collection as listed (block → location) and as wanted (location → blocks).
type Shape = (BTreeMap<IpNet, String>, BTreeMap<String, BTreeSet<IpNet>>);

fn source(text: &str) -> Option<BTreeSet<IpNet>> {
    let blocks = parse_source("fuzz", text, MAX).ok()?;
    assert!(blocks.len() <= MAX);
    for b in &blocks {
        assert_eq!(parse_block(&b.to_string()), Ok(*b), "{b}");
    }
    Some(blocks)
}

fn text_shape(data: &[u8]) -> Option<Shape> {
    let text = std::str::from_utf8(data).ok()?;
    let (listed, wanted) = text.split_once('\0').unwrap_or((text, ""));
    let (listed, wanted) = (source(listed)?, source(wanted)?);
    let current = listed.iter().map(|b| (*b, "a".to_owned())).collect();
    let mut want: BTreeMap<String, BTreeSet<IpNet>> = BTreeMap::new();
    for (i, b) in wanted.iter().enumerate() {
        let location = if i % 2 == 0 { "a" } else { "b" };
        want.entry(location.to_owned()).or_default().insert(*b);
    }
    Some((current, want))
}

fn compact_shape(data: &[u8]) -> Shape {
    let mut current = BTreeMap::new();
    let mut want: BTreeMap<String, BTreeSet<IpNet>> = BTreeMap::new();
    for chunk in data.chunks_exact(3) {
        let Ok(block) = format!("10.{}.{}.0/24", chunk[0], chunk[1]).parse::<IpNet>() else {
            continue;
        };
        let location = if chunk[2] & 2 == 0 { "a" } else { "b" };
        if chunk[2] & 1 == 0 {
            current.entry(block).or_insert_with(|| location.to_owned());
        } else if !want.values().any(|blocks| blocks.contains(&block)) {
            want.entry(location.to_owned()).or_default().insert(block);
        }
    }
    (current, want)
}

fuzz_target!(|data: &[u8]| {
    let shape = match data.split_first() {
        Some((0xFF, rest)) => Some(compact_shape(rest)),
        _ => text_shape(data),
    };
    let Some((mut current, want)) = shape else {
        return;
    };
    let kept: Vec<String> = want
        .keys()
        .filter(|l| current.values().any(|c| c == *l))
        .cloned()
        .collect();
    for request in collection_requests(&current, &want) {
        assert!(request.iter().map(|c| c.blocks.len()).sum::<usize>() <= MAX_BLOCKS_PER_REQUEST);
        for change in request {
            assert!(!change.blocks.is_empty());
            for block in change.blocks {
                match change.action {
                    Action::DeleteIfExists => {
                        if current.get(&block) == Some(&change.location) {
                            current.remove(&block);
                        }
                    }
                    Action::Put => {
                        assert!(current.get(&block).is_none_or(|l| *l == change.location));
                        current.insert(block, change.location.clone());
                    }
                }
            }
        }
        for location in &kept {
            assert!(
                current.values().any(|c| c == location),
                "{location} emptied between requests"
            );
        }
    }
    let reached: BTreeMap<IpNet, String> = want
        .iter()
        .flat_map(|(l, bs)| bs.iter().map(move |b| (*b, l.clone())))
        .collect();
    assert_eq!(current, reached);
});

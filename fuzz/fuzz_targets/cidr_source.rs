//! An operator's file of a carrier's CIDR blocks (`registry::cidr::parse_source`) and the
//! ChangeCidrCollection requests between two such sources (`collection_requests`).
//!
//! Asserts, for any input (split in two at the first NUL: the collection as listed, and the
//! blocks wanted, one location each):
//! - `parse_source` never panics, and an accepted source holds only blocks `parse_block` takes,
//!   never more than the bound;
//! - the requests between the two, applied in order, reach exactly the wanted collection, no
//!   request carries more than Route 53's 1 000 blocks, and no block is put while another
//!   location holds it.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use registry::cidr::{
    Action, MAX_BLOCKS_PER_REQUEST, collection_requests, parse_block, parse_source,
};

const MAX: usize = 300;

fn source(text: &str) -> Option<BTreeSet<IpNet>> {
    let blocks = parse_source("fuzz", text, MAX).ok()?;
    assert!(blocks.len() <= MAX);
    for b in &blocks {
        assert_eq!(parse_block(&b.to_string()), Ok(*b), "{b}");
    }
    Some(blocks)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (listed, wanted) = text.split_once('\0').unwrap_or((text, ""));
    let (Some(listed), Some(wanted)) = (source(listed), source(wanted)) else {
        return;
    };
    // The listed blocks in location "a", the wanted ones alternately in "a" and "b".
    let mut current: BTreeMap<IpNet, String> =
        listed.iter().map(|b| (*b, "a".to_owned())).collect();
    let mut want: BTreeMap<String, BTreeSet<IpNet>> = BTreeMap::new();
    for (i, b) in wanted.iter().enumerate() {
        let location = if i % 2 == 0 { "a" } else { "b" };
        want.entry(location.to_owned()).or_default().insert(*b);
    }
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
    }
    let reached: BTreeMap<IpNet, String> = want
        .iter()
        .flat_map(|(l, bs)| bs.iter().map(move |b| (*b, l.clone())))
        .collect();
    assert_eq!(current, reached);
});

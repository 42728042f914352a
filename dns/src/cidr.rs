//! IP-based routing (Route 53's CIDR collections, `CidrRoutingConfig`): which location of a
//! collection a client is in, and for how much of the address space that answer holds. Pure.
//!
//! Route 53's rule: a block matches a client subnet when it contains the subnet's address and
//! is no longer than the subnet's prefix (EDNS Client Subnet's SOURCE PREFIX-LENGTH; without
//! the option, the resolver's source address, /32 or /128). The longest matching block wins.
//! A client matching no block, or one that revealed nothing (SOURCE PREFIX-LENGTH 0), is in no
//! location: the group's default record (`*`) answers it.
//!
//! The scope ([`CidrMatch::scope`]): a matched block's nested scope ([`crate::prefix`]); for
//! no match, the longest block length of the client's family, which no block can split
//! further, and at least 1 for a collection with blocks (a scope of 0 is cached for every
//! client, of either family); 0 when a client revealed nothing or the collection is empty. Lookups cost one hash probe per block length
//! present, however many blocks a collection holds (the emulator bounds a collection at
//! 1 000 blocks).

use std::net::IpAddr;
use std::sync::Arc;

use crate::prefix::PrefixTable;

/// One collection's blocks, by location.
#[derive(Debug, Clone, Default)]
pub struct CidrTable {
    blocks: PrefixTable<Arc<str>>,
}

/// Where a client is in a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidrMatch<'t> {
    /// The location of the block that matched; `None`: the default record's clients.
    pub location: Option<&'t str>,
    /// The SCOPE PREFIX-LENGTH of an answer decided by this match.
    pub scope: u8,
}

impl CidrTable {
    /// The table of `blocks` (network address, prefix length, location). A network given
    /// twice keeps its first location (the emulator never holds one twice).
    pub fn new<'a>(blocks: impl IntoIterator<Item = (IpAddr, u8, &'a str)>) -> Self {
        let mut table = PrefixTable::default();
        for (addr, len, location) in blocks {
            table.insert(addr, len, Arc::from(location));
        }
        table.nest();
        Self { blocks: table }
    }

    /// The location of a client at `addr` that revealed `source` bits of it.
    pub fn lookup(&self, addr: IpAddr, source: u8) -> CidrMatch<'_> {
        if source == 0 {
            return CidrMatch {
                location: None,
                scope: 0,
            };
        }
        match self.blocks.lookup(addr, Some(source)) {
            Some(hit) => CidrMatch {
                location: Some(hit.value),
                scope: hit.scope,
            },
            // Never 0 for a collection with blocks: resolvers cache a scope-0 answer for every
            // client, of either family, and the other family's blocks would be ignored.
            None => CidrMatch {
                location: None,
                scope: self.blocks.longest(addr).max(u8::from(!self.is_empty())),
            },
        }
    }

    /// How many blocks the table holds.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// True for a collection without blocks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> CidrTable {
        CidrTable::new([
            ("198.51.100.0".parse().unwrap(), 24, "carrier-a"),
            ("203.0.0.0".parse().unwrap(), 8, "carrier-b"),
            ("203.0.113.0".parse().unwrap(), 24, "carrier-a"),
            ("2001:db8::".parse().unwrap(), 32, "carrier-b"),
        ])
    }

    fn at<'t>(t: &'t CidrTable, addr: &str, source: u8) -> (Option<&'t str>, u8) {
        let m = t.lookup(addr.parse().unwrap(), source);
        (m.location, m.scope)
    }

    #[test]
    fn the_longest_block_no_longer_than_the_clients_subnet_decides() {
        let t = table();
        assert_eq!(at(&t, "198.51.100.7", 32), (Some("carrier-a"), 24));
        assert_eq!(at(&t, "203.0.113.9", 24), (Some("carrier-a"), 24));
        // Inside the /8 but outside the nested /24: the /8's answer holds for a /24 only.
        assert_eq!(at(&t, "203.9.9.9", 24), (Some("carrier-b"), 24));
        // A client that revealed 16 bits cannot match a /24: the /8 answers.
        assert_eq!(at(&t, "203.0.113.9", 16), (Some("carrier-b"), 24));
        assert_eq!(at(&t, "2001:db8:0:1234::", 56), (Some("carrier-b"), 32));
        // Route 53's example: a /48 block does not match a /32 subnet.
        let narrow = CidrTable::new([("2001:db8::".parse().unwrap(), 48, "x")]);
        assert_eq!(at(&narrow, "2001:db8::", 32), (None, 48));
    }

    #[test]
    fn no_match_is_the_default_location_with_a_scope_no_block_splits() {
        let t = table();
        assert_eq!(at(&t, "192.0.2.1", 24), (None, 24));
        assert_eq!(at(&t, "192.0.2.1", 32), (None, 24));
        assert_eq!(at(&t, "2001:db9::1", 56), (None, 32));
        // A family the collection holds no block of: the default, but never for everyone.
        let v6_only = CidrTable::new([("2001:db8::".parse().unwrap(), 32, "b")]);
        assert_eq!(at(&v6_only, "192.0.2.1", 24), (None, 1));
        // Nothing revealed: the default, for everyone.
        assert_eq!(at(&t, "198.51.100.7", 0), (None, 0));
        assert!(CidrTable::default().is_empty());
        assert_eq!(at(&CidrTable::default(), "192.0.2.1", 32), (None, 0));
    }
}

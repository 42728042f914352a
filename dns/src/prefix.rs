//! Longest-prefix match over IPv4 and IPv6 networks: the one table both the geo table
//! ([`crate::geotable`]) and IP-based routing ([`crate::cidr`]) look clients up in.
//!
//! A lookup costs one hash probe per prefix length present (at most 33 for IPv4, 129 for
//! IPv6), whatever the number of entries. An IPv4-mapped IPv6 address is looked up as its IPv4
//! address, its lengths counting the 96 bits of the mapping prefix too.

use std::collections::HashMap;
use std::net::IpAddr;

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Hit<'t, T> {
    /// The matching entry's value.
    pub(crate) value: &'t T,
    /// The prefix length the answer holds for (RFC 7871's SCOPE PREFIX-LENGTH): the matching
    /// entry's, or longer when more specific entries lie inside it, so that every address
    /// sharing this many leading bits with the client matches the same entry.
    pub(crate) scope: u8,
}

/// One address family's entries, keyed by prefix length and masked network, each with its
/// scope.
#[derive(Debug, Clone)]
struct Family<T> {
    /// The prefix lengths present, longest first.
    lengths: Vec<u8>,
    entries: HashMap<(u8, u128), (T, u8)>,
}

impl<T> Default for Family<T> {
    fn default() -> Self {
        Self {
            lengths: Vec::new(),
            entries: HashMap::new(),
        }
    }
}

impl<T> Family<T> {
    /// The longest entry containing `bits` whose length is at most `max_len`.
    fn lookup(&self, bits: u128, width: u8, max_len: u8) -> Option<Hit<'_, T>> {
        self.lengths
            .iter()
            .filter(|&&len| len <= max_len)
            .find_map(|&len| self.entries.get(&(len, mask(bits, width, len))))
            .map(|(value, scope)| Hit {
                value,
                scope: *scope,
            })
    }

    /// Adds an entry, keeping `lengths` sorted; false (and nothing changed) when the network
    /// is there already.
    fn insert(&mut self, network: u128, len: u8, value: T) -> bool {
        if self.entries.contains_key(&(len, network)) {
            return false;
        }
        if let Err(at) = self.lengths.binary_search_by(|l| len.cmp(l)) {
            self.lengths.insert(at, len);
        }
        self.entries.insert((len, network), (value, len));
        true
    }

    /// Raises each entry's scope to the longest entry nested inside it (see [`Hit::scope`]).
    fn nest(&mut self, width: u8) {
        let keys: Vec<(u8, u128)> = self.entries.keys().copied().collect();
        for (len, network) in keys {
            for &shorter in self.lengths.iter().filter(|&&l| l < len) {
                if let Some(outer) = self
                    .entries
                    .get_mut(&(shorter, mask(network, width, shorter)))
                {
                    outer.1 = outer.1.max(len);
                }
            }
        }
    }
}

/// The first `len` of the `width` low bits of `bits`; the rest zero.
pub(crate) fn mask(bits: u128, width: u8, len: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    bits & (u128::MAX << (width - len.min(width)))
}

/// An address as the low bits of a `u128`, with its family's width.
pub(crate) fn address_bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// Values by network, found by longest prefix match. Entries are added with
/// [`PrefixTable::insert`], then [`PrefixTable::nest`] sets the scopes once.
#[derive(Debug, Clone)]
pub(crate) struct PrefixTable<T> {
    v4: Family<T>,
    v6: Family<T>,
}

impl<T> Default for PrefixTable<T> {
    fn default() -> Self {
        Self {
            v4: Family::default(),
            v6: Family::default(),
        }
    }
}

impl<T> PrefixTable<T> {
    /// Adds `value` for the network `addr`/`len` (its host bits are ignored); false (and
    /// nothing changed) when that network is there already. Call [`PrefixTable::nest`] after
    /// the last insert.
    pub(crate) fn insert(&mut self, addr: IpAddr, len: u8, value: T) -> bool {
        let (bits, width) = address_bits(addr);
        let family = if width == 32 {
            &mut self.v4
        } else {
            &mut self.v6
        };
        family.insert(mask(bits, width, len), len.min(width), value)
    }

    /// Sets every entry's scope (see [`Hit::scope`]).
    pub(crate) fn nest(&mut self) {
        self.v4.nest(32);
        self.v6.nest(128);
    }

    /// The longest entry that contains `addr` and is at most `max_len` bits long (`None`: any
    /// length).
    pub(crate) fn lookup(&self, addr: IpAddr, max_len: Option<u8>) -> Option<Hit<'_, T>> {
        match addr {
            IpAddr::V4(v4) => self
                .v4
                .lookup(u128::from(u32::from(v4)), 32, max_len.unwrap_or(32)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => {
                    let max = max_len.map_or(32, |l| l.saturating_sub(96));
                    self.v4
                        .lookup(u128::from(u32::from(v4)), 32, max)
                        .map(|hit| Hit {
                            scope: hit.scope + 96,
                            ..hit
                        })
                }
                None => self.v6.lookup(u128::from(v6), 128, max_len.unwrap_or(128)),
            },
        }
    }

    /// The longest prefix length of `addr`'s family present in the table (0 when none is),
    /// counted as `addr` is (an IPv4-mapped IPv6 address: plus 96).
    pub(crate) fn longest(&self, addr: IpAddr) -> u8 {
        let v4 = self.v4.lengths.first().copied().unwrap_or(0);
        match addr {
            IpAddr::V4(_) => v4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => v4 + 96,
            IpAddr::V6(_) => self.v6.lengths.first().copied().unwrap_or(0),
        }
    }

    /// How many entries the table holds.
    pub(crate) fn len(&self) -> usize {
        self.v4.entries.len() + self.v6.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, u8, &'static str)]) -> PrefixTable<&'static str> {
        let mut t = PrefixTable::default();
        for (addr, len, v) in entries {
            assert!(t.insert(addr.parse().unwrap(), *len, *v));
        }
        t.nest();
        t
    }

    #[test]
    fn the_longest_entry_no_longer_than_asked_wins_and_scopes_cover_nested_entries() {
        let t = table(&[
            ("10.0.0.0", 8, "wide"),
            ("10.1.0.0", 16, "narrow"),
            ("2001:db8::", 32, "v6"),
        ]);
        let at = |a: &str, max| {
            t.lookup(a.parse().unwrap(), max)
                .map(|h| (*h.value, h.scope))
        };
        assert_eq!(at("10.1.2.3", None), Some(("narrow", 16)));
        // The wide entry holds a narrower one: its answer holds for a /16 at most.
        assert_eq!(at("10.2.0.1", None), Some(("wide", 16)));
        // A client that revealed 12 bits cannot match the /16.
        assert_eq!(at("10.1.2.3", Some(12)), Some(("wide", 16)));
        assert_eq!(at("10.1.2.3", Some(7)), None);
        assert_eq!(at("192.0.2.1", None), None);
        assert_eq!(at("2001:db8:1::1", Some(48)), Some(("v6", 32)));
        assert_eq!(at("::ffff:10.1.0.9", None), Some(("narrow", 112)));
        assert_eq!(t.longest("192.0.2.1".parse().unwrap()), 16);
        assert_eq!(t.longest("2001:db8::1".parse().unwrap()), 32);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn a_network_given_twice_is_refused_and_host_bits_are_ignored() {
        let mut t = PrefixTable::default();
        assert!(t.insert("10.1.2.3".parse().unwrap(), 16, 1));
        assert!(!t.insert("10.1.0.0".parse().unwrap(), 16, 2));
        t.nest();
        assert_eq!(
            t.lookup("10.1.9.9".parse().unwrap(), None)
                .map(|h| *h.value),
            Some(1)
        );
    }
}

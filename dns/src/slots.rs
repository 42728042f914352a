//! The table of one listener's open connections, in pure code (no I/O; the caller passes the
//! time): which connections hold a slot, from which source network, and when each was last
//! active. It admits a connection within the listener's [`Caps`], counting sources by network
//! ([`Prefix`]: a /24 for IPv4, a /56 for IPv6, so one host with many addresses counts once),
//! and, when the listener is full, chooses the connection to close for the newcomer.
//!
//! The choice ([`Table::admit`]): the least recently active connection of the network holding
//! the most slots; the newcomer's own network when it holds as many as any other. A network that
//! holds the listener shut therefore loses its slots to newcomers first, a client with few
//! connections keeps them, and no eviction lets a network hold more than the most-holding one
//! held before. The caller closes the chosen connection ([`Admitted::evicted`] hands back the
//! value it stored for that), and defines activity by calling [`Table::touch`]: DNS over TCP
//! touches a connection when a whole query has been read and when an answer has been written,
//! so a client trickling bytes never looks active.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

/// The caps of one listener's connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Open connections at most, from all sources together.
    pub total: usize,
    /// Open connections at most from one source network ([`Prefix`]).
    pub per_source: usize,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds [`Caps::total`] connections and does not evict.
    Total,
    /// The source's network holds [`Caps::per_source`] connections.
    PerSource,
}

impl Refusal {
    /// The `reason` label of `wavelb_connections_refused_total`: `total` or `per_source`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::PerSource => "per_source",
        }
    }
}

/// The network a source address is counted in: its first 24 bits for IPv4, its first 56 for
/// IPv6 (a customer's usual delegation). An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
/// dual-stack socket reports for an IPv4 client) counts as its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prefix {
    /// An IPv4 /24: the address's first three octets.
    V4([u8; 3]),
    /// An IPv6 /56: the address's first seven octets.
    V6([u8; 7]),
}

impl Prefix {
    /// The network `ip` is counted in.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::v4(v4),
                None => {
                    let o = v6.octets();
                    Self::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6]])
                }
            },
        }
    }

    fn v4(ip: Ipv4Addr) -> Self {
        let o = ip.octets();
        Self::V4([o[0], o[1], o[2]])
    }
}

impl fmt::Display for Prefix {
    /// `192.0.2.0/24`, `2001:db8:0:ff00::/56`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::V4([a, b, c]) => write!(f, "{}/24", Ipv4Addr::new(a, b, c, 0)),
            Self::V6(p) => {
                let mut o = [0u8; 16];
                o[..7].copy_from_slice(&p);
                write!(f, "{}/56", Ipv6Addr::from(o))
            }
        }
    }
}

/// A connection's place in the table; never reused.
pub type Id = u64;

#[derive(Debug)]
struct Entry<T> {
    prefix: Prefix,
    last_active: Instant,
    token: T,
}

/// A connection admitted by [`Table::admit`].
#[derive(Debug)]
pub struct Admitted<T> {
    /// The new connection's place, for [`Table::touch`] and [`Table::release`].
    pub id: Id,
    /// The connection that lost its slot to this one, with the value stored for it: the caller
    /// must close it. Its slot is free already ([`Table::release`] of it does nothing).
    pub evicted: Option<(Id, T)>,
}

/// A listener's open connections, each with a value of the caller's (`T`: how to close it).
#[derive(Debug)]
pub struct Table<T> {
    caps: Caps,
    evict: bool,
    next: Id,
    live: HashMap<Id, Entry<T>>,
    by_prefix: HashMap<Prefix, usize>,
}

impl<T> Table<T> {
    /// An empty table. With `evict`, a full listener closes a connection for a newcomer;
    /// without, it refuses the newcomer ([`Refusal::Total`]).
    pub fn new(caps: Caps, evict: bool) -> Self {
        Self {
            caps,
            evict,
            next: 0,
            live: HashMap::new(),
            by_prefix: HashMap::new(),
        }
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Open connections from `prefix`.
    pub fn held(&self, prefix: Prefix) -> usize {
        self.by_prefix.get(&prefix).copied().unwrap_or(0)
    }

    /// Admits a connection from `source` at `now`, storing `token` with it, or says which cap
    /// refuses it. A source network at its cap is refused; a full listener evicts (see the
    /// module's documentation) or refuses.
    pub fn admit(
        &mut self,
        source: IpAddr,
        now: Instant,
        token: T,
    ) -> Result<Admitted<T>, Refusal> {
        let prefix = Prefix::of(source);
        if self.held(prefix) >= self.caps.per_source {
            return Err(Refusal::PerSource);
        }
        let mut evicted = None;
        if self.live.len() >= self.caps.total {
            if !self.evict {
                return Err(Refusal::Total);
            }
            let victim = self.victim(prefix).ok_or(Refusal::Total)?;
            evicted = self.remove(victim).map(|token| (victim, token));
        }
        let id = self.next;
        self.next += 1;
        self.live.insert(
            id,
            Entry {
                prefix,
                last_active: now,
                token,
            },
        );
        *self.by_prefix.entry(prefix).or_insert(0) += 1;
        Ok(Admitted { id, evicted })
    }

    /// The connection `id` was active at `now` (a time before its last activity changes
    /// nothing). Unknown ids (released or evicted) are ignored.
    pub fn touch(&mut self, id: Id, now: Instant) {
        if let Some(entry) = self.live.get_mut(&id) {
            entry.last_active = entry.last_active.max(now);
        }
    }

    /// The connection `id` ended: frees its slot and returns its value, or `None` when it was
    /// evicted or released already (a slot is freed once).
    pub fn release(&mut self, id: Id) -> Option<T> {
        self.remove(id)
    }

    /// Which connection a newcomer from `newcomer` evicts: the least recently active one (the
    /// oldest on a tie) of the network holding the most slots, or of the newcomer's own network
    /// when it holds as many as any other.
    fn victim(&self, newcomer: Prefix) -> Option<Id> {
        let most = self.by_prefix.values().copied().max()?;
        let own = self.held(newcomer) >= most;
        self.live
            .iter()
            .filter(|(_, e)| {
                if own {
                    e.prefix == newcomer
                } else {
                    self.held(e.prefix) == most
                }
            })
            .min_by_key(|(id, e)| (e.last_active, **id))
            .map(|(id, _)| *id)
    }

    fn remove(&mut self, id: Id) -> Option<T> {
        let entry = self.live.remove(&id)?;
        if let Some(n) = self.by_prefix.get_mut(&entry.prefix) {
            *n -= 1;
            if *n == 0 {
                self.by_prefix.remove(&entry.prefix);
            }
        }
        Some(entry.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_counts_by_24_and_ipv6_by_56() {
        assert_eq!(Prefix::of(ip("192.0.2.1")), Prefix::of(ip("192.0.2.254")));
        assert_ne!(Prefix::of(ip("192.0.2.1")), Prefix::of(ip("192.0.3.1")));
        assert_eq!(Prefix::of(ip("192.0.2.77")).to_string(), "192.0.2.0/24");
        assert_eq!(
            Prefix::of(ip("2001:db8:0:ff00::1")),
            Prefix::of(ip("2001:db8:0:ffff:1:2:3:4"))
        );
        assert_ne!(
            Prefix::of(ip("2001:db8:0:ff00::1")),
            Prefix::of(ip("2001:db8:0:fe00::1"))
        );
        assert_eq!(
            Prefix::of(ip("2001:db8:0:ffab::1")).to_string(),
            "2001:db8:0:ff00::/56"
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_ipv4() {
        assert_eq!(
            Prefix::of(ip("::ffff:192.0.2.9")),
            Prefix::of(ip("192.0.2.1"))
        );
        // IPv4-compatible (deprecated) and NAT64 addresses are IPv6 networks.
        assert!(matches!(Prefix::of(ip("::192.0.2.9")), Prefix::V6(_)));
        assert!(matches!(
            Prefix::of(ip("64:ff9b::192.0.2.9")),
            Prefix::V6(_)
        ));
    }

    proptest! {
        #[test]
        fn prefix_ignores_the_host_bits(a in any::<u32>(), host in any::<u8>(), b in any::<u128>(), low in any::<u128>()) {
            let v4 = Ipv4Addr::from(a);
            let same4 = Ipv4Addr::from((a & !0xff) | u32::from(host));
            prop_assert_eq!(Prefix::of(v4.into()), Prefix::of(same4.into()));
            let mapped = v4.to_ipv6_mapped();
            prop_assert_eq!(Prefix::of(mapped.into()), Prefix::of(v4.into()));
            let v6 = Ipv6Addr::from(b);
            let same6 = Ipv6Addr::from((b & !((1u128 << 72) - 1)) | (low >> 56));
            if v6.to_ipv4_mapped().is_none() && same6.to_ipv4_mapped().is_none() {
                prop_assert_eq!(Prefix::of(v6.into()), Prefix::of(same6.into()));
            }
            // Any address differing in the network bits is another network.
            let other4 = Ipv4Addr::from(a ^ 0x100);
            prop_assert_ne!(Prefix::of(v4.into()), Prefix::of(other4.into()));
            let other6 = Ipv6Addr::from(b ^ (1u128 << 72));
            if v6.to_ipv4_mapped().is_none() && other6.to_ipv4_mapped().is_none() {
                prop_assert_ne!(Prefix::of(v6.into()), Prefix::of(other6.into()));
            }
        }
    }

    #[test]
    fn refuses_past_the_caps_without_eviction_and_frees_once() {
        let t0 = Instant::now();
        let mut t = Table::new(
            Caps {
                total: 3,
                per_source: 2,
            },
            false,
        );
        let a1 = t.admit(ip("127.0.1.1"), t0, ()).unwrap();
        // Another address of the same /24 counts with the first.
        let _a2 = t.admit(ip("127.0.1.200"), t0, ()).unwrap();
        assert_eq!(
            t.admit(ip("127.0.1.3"), t0, ()).unwrap_err(),
            Refusal::PerSource
        );
        let _b1 = t.admit(ip("127.0.2.1"), t0, ()).unwrap();
        assert_eq!(
            t.admit(ip("127.0.3.1"), t0, ()).unwrap_err(),
            Refusal::Total
        );
        assert_eq!(t.release(a1.id), Some(()));
        assert_eq!(t.release(a1.id), None, "a slot is freed once");
        assert_eq!(t.len(), 2);
        let c = t.admit(ip("127.0.3.1"), t0, ()).unwrap();
        assert!(c.evicted.is_none());
    }

    #[test]
    fn a_full_listener_evicts_the_least_recently_active_of_the_biggest_holder() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut t = Table::new(
            Caps {
                total: 5,
                per_source: 4,
            },
            true,
        );
        // One client from 10.0.0.0/24, four holders from 10.0.1.0/24.
        let client = t.admit(ip("10.0.0.1"), at(0), "client").unwrap().id;
        let h: Vec<Id> = ["h0", "h1", "h2", "h3"]
            .into_iter()
            .map(|name| t.admit(ip("10.0.1.1"), at(1), name).unwrap().id)
            .collect();
        t.touch(h[0], at(5));
        t.touch(h[1], at(3));
        t.touch(h[2], at(4));
        t.touch(h[3], at(6));
        // The client was active longest ago, but the holders hold the most: h1 goes.
        let n = t.admit(ip("10.0.2.1"), at(7), "new").unwrap();
        assert_eq!(n.evicted, Some((h[1], "h1")));
        assert_eq!(t.release(h[1]), None, "an evicted slot is not freed twice");
        // The holders still hold the most (3): h2, the least recently active of them, goes.
        let m = t.admit(ip("10.0.3.1"), at(8), "m").unwrap();
        assert_eq!(m.evicted, Some((h[2], "h2")));
        // Holders 2, client 1, new 1, m 1: the holders again (h0 at 5 before h3 at 6).
        let k = t.admit(ip("10.0.4.1"), at(9), "k").unwrap();
        assert_eq!(k.evicted, Some((h[0], "h0")));
        assert_eq!(t.held(Prefix::of(ip("10.0.1.1"))), 1);
        // Every network holds one now: the least recently active of all, the client, goes.
        let z = t.admit(ip("10.0.5.1"), at(10), "z").unwrap();
        assert_eq!(z.evicted, Some((client, "client")));
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn a_newcomer_from_the_biggest_holder_replaces_its_own() {
        let t0 = Instant::now();
        let mut t = Table::new(
            Caps {
                total: 4,
                per_source: 3,
            },
            true,
        );
        let other = t.admit(ip("10.0.0.1"), t0, ()).unwrap().id;
        let _c = t.admit(ip("10.0.0.2"), t0, ()).unwrap().id;
        let a = t.admit(ip("10.0.1.1"), t0, ()).unwrap().id;
        let _b = t.admit(ip("10.0.1.2"), t0, ()).unwrap().id;
        t.touch(other, t0 + Duration::from_secs(1));
        // 10.0.1.0/24 holds 2, as many as 10.0.0.0/24: it replaces its own oldest (a), not the
        // oldest of all (10.0.0.2, as long inactive and admitted before).
        let n = t
            .admit(ip("10.0.1.3"), t0 + Duration::from_secs(2), ())
            .unwrap();
        assert_eq!(n.evicted.map(|(id, ())| id), Some(a));
        assert_eq!(t.held(Prefix::of(ip("10.0.1.9"))), 2);
        assert_eq!(t.held(Prefix::of(ip("10.0.0.9"))), 2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Admit { net: u8, host: u8, v6: bool },
        Touch(usize),
        Release(usize),
        Tick(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, any::<u8>(), any::<bool>()).prop_map(|(net, host, v6)| Op::Admit {
                net,
                host,
                v6
            }),
            any::<usize>().prop_map(Op::Touch),
            any::<usize>().prop_map(Op::Release),
            any::<u8>().prop_map(Op::Tick),
        ]
    }

    proptest! {
        /// Against a model that keeps every connection ever admitted: the table's counts match
        /// its live connections, stay within the caps, every slot is freed exactly once
        /// (released or evicted), and an eviction never lets the newcomer's network hold more
        /// than the most-holding network held before.
        #[test]
        fn slots_are_accounted_exactly(
            total in 1usize..8,
            per_source in 1usize..5,
            evict in any::<bool>(),
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut t = Table::new(Caps { total, per_source }, evict);
            // Every admitted id with its network and whether it is still live.
            let mut model: Vec<(Id, Prefix, bool)> = Vec::new();
            for op in ops {
                match op {
                    Op::Admit { net, host, v6 } => {
                        let source: IpAddr = if v6 {
                            Ipv6Addr::new(0x2001, 0xdb8, 0, u16::from(net) << 8, 0, 0, 0, u16::from(host)).into()
                        } else {
                            Ipv4Addr::new(10, 0, net, host).into()
                        };
                        let prefix = Prefix::of(source);
                        let live_in = |m: &[(Id, Prefix, bool)], p| m.iter().filter(|e| e.2 && e.1 == p).count();
                        let most_before = model.iter().filter(|e| e.2).map(|e| live_in(&model, e.1)).max().unwrap_or(0);
                        let live_before = model.iter().filter(|e| e.2).count();
                        let n = model.len() as u64;
                        match t.admit(source, now, n) {
                            Ok(admitted) => {
                                prop_assert!(live_in(&model, prefix) < per_source);
                                if let Some((victim, token)) = admitted.evicted.as_ref().map(|(v, t)| (*v, *t)) {
                                    prop_assert!(evict && live_before == total);
                                    let entry = model.iter_mut().find(|e| e.0 == victim).unwrap();
                                    prop_assert!(entry.2, "evicted a connection that was not live");
                                    prop_assert_eq!(token, victim);
                                    entry.2 = false;
                                } else {
                                    prop_assert!(live_before < total);
                                }
                                prop_assert_eq!(admitted.id, n, "ids are handed out in order, never reused");
                                let evicted = admitted.evicted.is_some();
                                model.push((admitted.id, prefix, true));
                                if evicted {
                                    prop_assert!(live_in(&model, prefix) <= most_before);
                                }
                            }
                            Err(Refusal::PerSource) => prop_assert!(live_in(&model, prefix) >= per_source),
                            Err(Refusal::Total) => prop_assert!(!evict && live_before >= total),
                        }
                    }
                    Op::Touch(i) if !model.is_empty() => t.touch(model[i % model.len()].0, now),
                    Op::Release(i) if !model.is_empty() => {
                        let k = i % model.len();
                        let entry = &mut model[k];
                        let freed = t.release(entry.0);
                        prop_assert_eq!(freed.is_some(), entry.2, "freed once, when live");
                        entry.2 = false;
                    }
                    Op::Tick(s) => now += Duration::from_millis(u64::from(s)),
                    Op::Touch(_) | Op::Release(_) => {}
                }
                let live: Vec<_> = model.iter().filter(|e| e.2).collect();
                prop_assert_eq!(t.len(), live.len());
                prop_assert!(t.len() <= total);
                for e in &live {
                    let held = live.iter().filter(|o| o.1 == e.1).count();
                    prop_assert_eq!(t.held(e.1), held);
                    prop_assert!(held <= per_source);
                }
                prop_assert_eq!(t.by_prefix.values().sum::<usize>(), t.len());
                prop_assert!(t.by_prefix.values().all(|&n| n > 0));
            }
        }

        /// The connection evicted is the least recently active of the network holding the most
        /// (or the newcomer's own when it holds as many), never a more recently active one of
        /// that group.
        #[test]
        fn eviction_picks_the_least_recently_active_of_its_group(
            nets in proptest::collection::vec(0u8..4, 1..12),
            touches in proptest::collection::vec((any::<usize>(), 1u64..100), 0..30),
            newcomer in 0u8..5,
        ) {
            let t0 = Instant::now();
            let mut t = Table::new(Caps { total: nets.len(), per_source: 64 }, true);
            let mut last: Vec<(Id, Prefix, Instant)> = Vec::new();
            for net in &nets {
                let source: IpAddr = Ipv4Addr::new(10, 0, *net, 1).into();
                let id = t.admit(source, t0, ()).unwrap().id;
                last.push((id, Prefix::of(source), t0));
            }
            for (i, ms) in touches {
                let k = i % last.len();
                let when = t0 + Duration::from_millis(ms);
                t.touch(last[k].0, when);
                last[k].2 = last[k].2.max(when);
            }
            let newcomer: IpAddr = Ipv4Addr::new(10, 0, newcomer, 2).into();
            let np = Prefix::of(newcomer);
            let count = |p| last.iter().filter(|e| e.1 == p).count();
            let most = last.iter().map(|e| count(e.1)).max().unwrap();
            let group: Vec<_> = if count(np) >= most {
                last.iter().filter(|e| e.1 == np).collect()
            } else {
                last.iter().filter(|e| count(e.1) == most).collect()
            };
            let admitted = t.admit(newcomer, t0 + Duration::from_secs(1), ()).unwrap();
            let (victim, ()) = admitted.evicted.unwrap();
            let v = last.iter().find(|e| e.0 == victim).unwrap();
            prop_assert!(group.iter().any(|e| e.0 == victim), "victim outside its group");
            prop_assert!(group.iter().all(|e| e.2 >= v.2), "a less recently active one was spared");
        }
    }
}

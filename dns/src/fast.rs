//! The fast path for the common query, an A or AAAA question for a weighted name: the answer is
//! copied from wire data pre-encoded when the snapshot was built, with no parsing into hickory
//! types and no allocation. Anything else (other types or classes, EDNS options, flags or shapes
//! this path does not handle, answers that need truncation) returns `None`, and
//! [`crate::answer::respond`] answers it. Both produce the same bytes for the same random number;
//! the tests hold them to it.

use crate::snapshot::{Snapshot, WeightedSet};
use crate::transport::{MAX_UDP_PAYLOAD, OPT_LEN, Transport, reply_limit};

/// The longest wire name (RFC 1035 §3.1), plus the two type bytes of a fast-path key.
const KEY_MAX: usize = 255 + 2;
/// The OPT record of every EDNS response: root owner, type 41, our payload size, extended
/// RCODE 0, version 0, no flags, no options.
const OPT: [u8; OPT_LEN] = {
    let size = MAX_UDP_PAYLOAD.to_be_bytes();
    [0, 0, 41, size[0], size[1], 0, 0, 0, 0, 0, 0]
};

/// What the fast path answered.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    /// The question's type: A (1) or AAAA (28).
    pub qtype: u16,
    /// The weighted set answered (its `served` counter counts the answer).
    pub set: &'a WeightedSet,
}

/// Writes the answer to `packet` into `out` (cleared first) when `packet` is a plain A or AAAA
/// query for a weighted name. `None` leaves `out` unspecified: answer with
/// [`crate::answer::respond`] instead.
pub fn answer<'s>(
    snapshot: &'s Snapshot,
    packet: &[u8],
    transport: Transport,
    random: u64,
    out: &mut Vec<u8>,
) -> Option<Answered<'s>> {
    let q = Query::parse(packet)?;
    let group = snapshot.fast_group(&q.key[..q.key_len])?;
    let set = group.pick(random)?;
    let (wire, count) = set.wire()?;
    let edns = q.edns_payload.is_some();
    let len = 12 + q.question.len() + wire.len() + if edns { OPT.len() } else { 0 };
    if len > reply_limit(transport, q.edns_payload) {
        return None; // truncation is the general path's job
    }
    let [id0, id1, flags, flags2, ..] = *packet else {
        return None;
    };
    out.clear();
    out.extend_from_slice(&[id0, id1]);
    // QR, opcode QUERY, AA, RD echoed; CD echoed, RCODE NOERROR.
    out.extend_from_slice(&[0x84 | (flags & 0x01), flags2 & 0x10]);
    let [c0, c1] = count.to_be_bytes();
    out.extend_from_slice(&[0, 1, c0, c1, 0, 0, 0, u8::from(edns)]);
    out.extend_from_slice(q.question);
    out.extend_from_slice(wire);
    if edns {
        out.extend_from_slice(&OPT);
    }
    Some(Answered {
        qtype: q.qtype,
        set,
    })
}

/// A query the fast path can answer, borrowed from the packet.
struct Query<'p> {
    /// The question as asked (name in its original case, type, class).
    question: &'p [u8],
    /// The lower-case name and the type: the snapshot's fast-path key.
    key: [u8; KEY_MAX],
    key_len: usize,
    qtype: u16,
    /// The client's EDNS payload size, when it sent an OPT record.
    edns_payload: Option<u16>,
}

impl<'p> Query<'p> {
    /// Parses a standard query with one question and, at most, an OPT record without options.
    /// `None` for everything else, including anything malformed.
    fn parse(packet: &'p [u8]) -> Option<Self> {
        let header = packet.get(..12)?;
        // QR = 0, opcode QUERY, AA = TC = 0 (RD may be set); Z = 0, RCODE = 0 (AD, CD may be set).
        if header[2] & 0xfe != 0 || header[3] & 0x4f != 0 {
            return None;
        }
        let counts = [
            u16::from_be_bytes([header[4], header[5]]),
            u16::from_be_bytes([header[6], header[7]]),
            u16::from_be_bytes([header[8], header[9]]),
            u16::from_be_bytes([header[10], header[11]]),
        ];
        let with_opt = match counts {
            [1, 0, 0, 0] => false,
            [1, 0, 0, 1] => true,
            _ => return None,
        };
        let mut key = [0u8; KEY_MAX];
        let mut at = 12;
        loop {
            let len = usize::from(*packet.get(at)?);
            if len > 63 {
                return None; // a compression pointer or a reserved label type
            }
            let label = packet.get(at..=at + len)?;
            let k = at - 12;
            if k + label.len() + 2 > KEY_MAX {
                return None;
            }
            for (dst, src) in key[k..k + label.len()].iter_mut().zip(label) {
                *dst = src.to_ascii_lowercase();
            }
            at += len + 1;
            if len == 0 {
                break;
            }
        }
        let name_len = at - 12;
        let tail = packet.get(at..at + 4)?;
        let qtype = u16::from_be_bytes([tail[0], tail[1]]);
        // A or AAAA in class IN only: another class (CH, ANY, NONE, …) is the general path's
        // to refuse.
        if !matches!(qtype, 1 | 28) || tail[2..4] != [0, 1] {
            return None;
        }
        key[name_len..name_len + 2].copy_from_slice(&tail[..2]);
        let question = &packet[12..at + 4];
        let rest = &packet[at + 4..];
        let edns_payload = if with_opt {
            // Root owner, type OPT, payload, extended RCODE 0, version 0, any flags, no options.
            match *rest {
                [0, 0, 41, p0, p1, 0, 0, _, _, 0, 0] => Some(u16::from_be_bytes([p0, p1])),
                _ => return None,
            }
        } else if rest.is_empty() {
            None
        } else {
            return None;
        };
        Some(Self {
            question,
            key,
            key_len: name_len + 2,
            qtype,
            edns_payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::respond;

    const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    use crate::metrics::AnswerCounters;
    use crate::testing::LabZones;
    use registry::model::{Change, RecordSet};
    use registry::name::Fqdn;

    fn set(name: &str, rtype: &str, id: Option<&str>, weight: i64, values: &[&str]) -> Change {
        Change::create(RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: rtype.parse().unwrap(),
            set_identifier: id.map(Into::into),
            weight: id.map(|_| weight),
            ttl: Some(30),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        })
    }

    /// Two nested zones with weighted A and AAAA groups, a set too big for 512 bytes, a
    /// weighted group shadowed by the child zone, and names the fast path must leave alone.
    fn snapshot() -> Snapshot {
        let mut s = LabZones::default();
        let (parent, _) = s.create_zone("lab.test", "p", None, 0).unwrap();
        let (child, _) = s.create_zone("sub.lab.test", "c", None, 0).unwrap();
        let many: Vec<String> = (1..=40).map(|i| format!("192.0.2.{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        s.change(
            &parent.id,
            &[
                set("www.lab.test", "A", Some("a"), 10, &["192.0.2.1"]),
                set(
                    "www.lab.test",
                    "A",
                    Some("b"),
                    30,
                    &["192.0.2.2", "192.0.2.3"],
                ),
                set("www.lab.test", "A", Some("z"), 0, &["192.0.2.9"]),
                set("www.lab.test", "AAAA", Some("a"), 1, &["2001:db8::1"]),
                set("www.lab.test", "TXT", Some("a"), 1, &["\"hello\""]),
                set("big.lab.test", "A", Some("a"), 1, &many),
                set("zero.lab.test", "A", Some("a"), 0, &["192.0.2.7"]),
                set("zero.lab.test", "A", Some("b"), 0, &["192.0.2.8"]),
                set("plain.lab.test", "A", None, 0, &["192.0.2.5"]),
                set("alias.lab.test", "CNAME", None, 0, &["www.lab.test"]),
                set("x.sub.lab.test", "A", Some("parent"), 1, &["192.0.2.66"]),
            ],
            None,
            1,
        )
        .unwrap();
        s.change(
            &child.id,
            &[set(
                "x.sub.lab.test",
                "A",
                Some("child"),
                1,
                &["192.0.2.77"],
            )],
            None,
            1,
        )
        .unwrap();
        Snapshot::of_zones(&s, &AnswerCounters::default())
    }

    /// A query: header flags, name labels as given (case kept), type, class, then `extra`
    /// (an OPT record or anything else) counted in ARCOUNT when `arcount` says so.
    fn query(
        flags: [u8; 2],
        name: &str,
        qtype: u16,
        class: u16,
        arcount: u16,
        extra: &[u8],
    ) -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, flags[0], flags[1], 0, 1, 0, 0, 0, 0];
        q.extend_from_slice(&arcount.to_be_bytes());
        for label in name.split('.').filter(|l| !l.is_empty()) {
            q.push(u8::try_from(label.len()).unwrap());
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&class.to_be_bytes());
        q.extend_from_slice(extra);
        q
    }

    /// A query with RD set, class IN, no EDNS: the common shape.
    fn plain(name: &str, qtype: u16) -> Vec<u8> {
        query([0x01, 0], name, qtype, 1, 0, &[])
    }

    fn opt(payload: u16, ttl: [u8; 4], rdata: &[u8]) -> Vec<u8> {
        let mut o = vec![0, 0, 41];
        o.extend_from_slice(&payload.to_be_bytes());
        o.extend_from_slice(&ttl);
        o.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        o.extend_from_slice(rdata);
        o
    }

    /// Answers `packet` both ways for several random numbers. When the fast path answers, its
    /// bytes and its set must be exactly the general path's. Returns whether it answered.
    fn same_as_general(snap: &Snapshot, packet: &[u8], transport: Transport) -> bool {
        let mut out = Vec::new();
        let mut answered = None;
        for random in [0u64, 1, 7, 10, 25, 39, 40, u64::MAX] {
            let fast = answer(snap, packet, transport, random, &mut out);
            let slow = respond(snap, packet, transport, LOCAL, random);
            if let Some(hit) = fast {
                let slow = slow.expect("the general path answers what the fast path answers");
                assert_eq!(
                    out, slow.bytes,
                    "bytes differ for {packet:02x?}, random {random}"
                );
                assert_eq!(
                    Some(hit.set.set_id.as_str()),
                    slow.picked.map(|s| s.set_id.as_str())
                );
            }
            assert!(
                answered.is_none_or(|a| a == fast.is_some()),
                "answered only sometimes"
            );
            answered = Some(fast.is_some());
        }
        answered.unwrap_or(false)
    }

    #[test]
    fn the_common_queries_take_the_fast_path_with_the_general_paths_bytes() {
        let snap = snapshot();
        let no_opt: &[u8] = &[];
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("A", plain("www.lab.test", 1)),
            ("A, no RD", query([0, 0], "www.lab.test", 1, 1, 0, no_opt)),
            ("A, 0x20 case", plain("wWw.LaB.tEsT", 1)),
            (
                "A, AD and CD",
                query([0x01, 0x30], "www.lab.test", 1, 1, 0, no_opt),
            ),
            ("AAAA", plain("www.lab.test", 28)),
            (
                "A, EDNS 1232",
                query([0x01, 0], "www.lab.test", 1, 1, 1, &opt(1232, [0; 4], &[])),
            ),
            (
                "A, EDNS 4096 + DO",
                query(
                    [0x01, 0],
                    "www.lab.test",
                    1,
                    1,
                    1,
                    &opt(4096, [0, 0, 0x80, 0], &[]),
                ),
            ),
            (
                "A, EDNS 100",
                query([0x01, 0], "www.lab.test", 1, 1, 1, &opt(100, [0; 4], &[])),
            ),
            ("all weights 0", plain("zero.lab.test", 1)),
            ("child zone wins", plain("x.sub.lab.test", 1)),
            (
                "big set, EDNS",
                query([0x01, 0], "big.lab.test", 1, 1, 1, &opt(1232, [0; 4], &[])),
            ),
        ];
        for (what, packet) in &cases {
            assert!(
                same_as_general(&snap, packet, Transport::Udp),
                "{what}: not on the fast path"
            );
            assert!(
                same_as_general(&snap, packet, Transport::Tcp),
                "{what} over TCP"
            );
        }
        // The child zone's set, not the parent's shadowed one.
        let mut out = Vec::new();
        let hit = answer(&snap, &cases[9].1, Transport::Udp, 0, &mut out).unwrap();
        assert_eq!(hit.set.set_id, "child");
    }

    #[test]
    fn everything_else_is_left_to_the_general_path() {
        let snap = snapshot();
        let no_opt: &[u8] = &[];
        let mut pointer = plain("www.lab.test", 1);
        pointer.splice(12..17, [0xc0, 0x0c]); // a compression pointer in the question
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("TXT", plain("www.lab.test", 16)),
            ("ANY", plain("www.lab.test", 255)),
            (
                "class CH",
                query([0x01, 0], "www.lab.test", 1, 3, 0, no_opt),
            ),
            ("simple A", plain("plain.lab.test", 1)),
            ("CNAME", plain("alias.lab.test", 1)),
            ("NXDOMAIN", plain("nope.lab.test", 1)),
            ("other zone", plain("www.example", 1)),
            ("too big for 512", plain("big.lab.test", 1)),
            (
                "EDNS version 1",
                query(
                    [0x01, 0],
                    "www.lab.test",
                    1,
                    1,
                    1,
                    &opt(1232, [0, 1, 0, 0], &[]),
                ),
            ),
            (
                "EDNS option",
                query(
                    [0x01, 0],
                    "www.lab.test",
                    1,
                    1,
                    1,
                    &opt(1232, [0; 4], &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]),
                ),
            ),
            (
                "OPT not counted",
                query([0x01, 0], "www.lab.test", 1, 1, 0, &opt(1232, [0; 4], &[])),
            ),
            (
                "ARCOUNT without OPT",
                query([0x01, 0], "www.lab.test", 1, 1, 1, no_opt),
            ),
            (
                "trailing bytes",
                query([0x01, 0], "www.lab.test", 1, 1, 0, &[0, 0]),
            ),
            (
                "truncated question",
                plain("www.lab.test", 1)[..20].to_vec(),
            ),
            (
                "response",
                query([0x81, 0], "www.lab.test", 1, 1, 0, no_opt),
            ),
            (
                "opcode NOTIFY",
                query([0x21, 0], "www.lab.test", 1, 1, 0, no_opt),
            ),
            (
                "Z bit",
                query([0x01, 0x40], "www.lab.test", 1, 1, 0, no_opt),
            ),
            ("pointer", pointer),
        ];
        for (what, packet) in &cases {
            assert!(
                !same_as_general(&snap, packet, Transport::Udp),
                "{what}: took the fast path"
            );
        }
        let mut out = Vec::new();
        for len in 0..12 {
            assert!(answer(&snap, &cases[0].1[..len], Transport::Udp, 0, &mut out).is_none());
        }
    }

    #[test]
    fn names_longer_than_dns_allows_are_left_alone() {
        let snap = snapshot();
        let long = vec!["a".repeat(63); 5].join(".");
        let packet = query([0x01, 0], &long, 1, 1, 0, &[]);
        assert!(!same_as_general(&snap, &packet, Transport::Udp));
        let label64 = query([0x01, 0], &"b".repeat(64), 1, 1, 0, &[]);
        assert!(!same_as_general(&snap, &label64, Transport::Udp));
    }
}

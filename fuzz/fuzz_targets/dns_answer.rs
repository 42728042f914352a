//! A raw DNS query through the resolver's whole answer path (`resolver::fast` and
//! `resolver::answer`) over a small fixed snapshot, on UDP and TCP.
//!
//! Input: 8 bytes of random number (picks the weighted set), 1 byte whose low bit picks the
//! transport (0 UDP, 1 TCP), then the query packet.
//!
//! Asserts, for every packet the general path answers:
//! - the reply is never empty and carries the query's id;
//! - it is never larger than the client's limit: 512 without EDNS, the EDNS size clamped to
//!   512..=1232 on UDP, 65535 on TCP;
//! - on UDP an error reply (any RCODE but NOERROR and NXDOMAIN) is no larger than the query
//!   plus an OPT record (11 bytes): no amplification;
//! - nothing is ignored but packets shorter than a header or marked as responses;
//! - when the fast path answers, its bytes equal the general path's for the same random number;
//! - `answer::reply`, what the listeners run, sends exactly those bytes.
#![no_main]

use std::sync::LazyLock;

use hickory_proto::op::{Message, ResponseCode};
use libfuzzer_sys::fuzz_target;
use registry::model::{Change, RecordSet};
use registry::name::Fqdn;
use resolver::answer::respond;
use resolver::metrics::AnswerCounters;
use resolver::snapshot::Snapshot;
use resolver::store::Store;
use resolver::transport::{Transport, reply_limit};

/// An OPT record with no options: what an error reply may add to the query's size.
const OPT_LEN: usize = 11;

fn set(name: &str, rtype: &str, id: Option<(&str, i64)>, values: &[&str]) -> RecordSet {
    RecordSet {
        name: Fqdn::parse(name).expect("a valid fixed name"),
        rtype: rtype.into(),
        set_identifier: id.map(|(i, _)| i.to_owned()),
        weight: id.map(|(_, w)| w),
        ttl: Some(60),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        alias: None,
        geo: None,
        opaque: None,
    }
}

/// A zone `lab.test` with weighted A and AAAA pools (one large enough to need truncation on
/// UDP without EDNS), a nested name, a CNAME, a TXT, and a delegated-looking child zone.
static SNAPSHOT: LazyLock<Snapshot> = LazyLock::new(|| {
    let mut store = Store::default();
    let (lab, _) = store
        .create_zone("lab.test", "fuzz-1", None, 0)
        .expect("zone");
    let (sub, _) = store
        .create_zone("sub.lab.test", "fuzz-2", None, 0)
        .expect("zone");
    let many: Vec<String> = (1..=60).map(|i| format!("198.51.100.{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let lab_changes = [
        set(
            "www.lab.test",
            "A",
            Some(("a", 1)),
            &["192.0.2.1", "192.0.2.2"],
        ),
        set("www.lab.test", "A", Some(("b", 3)), &["192.0.2.3"]),
        set("www.lab.test", "A", Some(("c", 0)), &["192.0.2.4"]),
        set("www.lab.test", "AAAA", Some(("a", 2)), &["2001:db8::1"]),
        set(
            "www.lab.test",
            "AAAA",
            Some(("b", 1)),
            &["2001:db8::2", "2001:db8::3"],
        ),
        set("big.lab.test", "A", Some(("all", 1)), &many),
        set("big.lab.test", "A", Some(("one", 1)), &["192.0.2.9"]),
        set("a.b.c.lab.test", "A", None, &["192.0.2.10"]),
        set("alias.lab.test", "CNAME", None, &["www.lab.test"]),
        set(
            "txt.lab.test",
            "TXT",
            None,
            &["\"v=1 owner=fuzz\" \"second string\""],
        ),
    ];
    let changes: Vec<Change> = lab_changes.into_iter().map(Change::create).collect();
    store
        .change(&lab.id, &changes, None, 1)
        .expect("fixed changes apply");
    let sub_changes = [Change::create(set(
        "x.sub.lab.test",
        "A",
        Some(("s", 1)),
        &["192.0.2.20"],
    ))];
    store
        .change(&sub.id, &sub_changes, None, 1)
        .expect("fixed changes apply");
    Snapshot::of_store(&store, &AnswerCounters::default())
});

fuzz_target!(|data: &[u8]| {
    let Some((head, packet)) = data.split_first_chunk::<9>() else {
        return;
    };
    let random = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    let transport = if head[8] & 1 == 0 {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let snapshot = &*SNAPSHOT;

    let Some(general) = respond(snapshot, packet, transport, random) else {
        assert!(
            packet.len() < 12 || packet[2] & 0x80 != 0,
            "only short packets and responses are ignored"
        );
        return;
    };
    let reply = &general.bytes;
    assert!(!reply.is_empty(), "empty reply");
    assert_eq!(reply[..2], packet[..2], "the reply carries the query's id");

    let request = Message::from_vec(packet).ok();
    let edns = request.as_ref().and_then(|m| m.edns.as_ref());
    let limit = reply_limit(transport, edns.map(|e| e.max_payload()));
    assert!(
        reply.len() <= limit,
        "{} byte reply over the client's limit of {limit} ({transport:?})",
        reply.len()
    );
    let error = !matches!(
        general.rcode,
        ResponseCode::NoError | ResponseCode::NXDomain
    );
    if transport == Transport::Udp && error {
        assert!(
            reply.len() <= packet.len() + OPT_LEN,
            "{} byte {:?} reply to a {} byte query",
            reply.len(),
            general.rcode,
            packet.len()
        );
    }

    let mut fast = Vec::new();
    if resolver::fast::answer(snapshot, packet, transport, random, &mut fast).is_some() {
        assert_eq!(&fast, reply, "the fast path and the general path disagree");
    }
    let mut sent = Vec::new();
    assert!(resolver::answer::reply(snapshot, packet, transport, random, &mut sent).is_some());
    assert_eq!(&sent, reply, "the listeners' path sends other bytes");
});

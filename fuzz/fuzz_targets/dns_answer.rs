//! A raw DNS query through the resolver's whole answer path (`dns::fast` and
//! `dns::answer`) over a small fixed snapshot, on UDP and TCP: weighted pools, and
//! geoproximity records (aliases to the pools and one with its own records) placed with the
//! built-in lab geo table, so queries with EDNS Client Subnet options are routed by them.
//!
//! Input: 8 bytes of random number (picks the weighted set), 1 byte whose low bit picks the
//! transport (0 UDP, 1 TCP) and whose next two bits pick the source address (127.0.0.1 Boston,
//! 127.64.0.1 New York, 192.0.2.1 unknown, ::1 Boston), then the query packet.
//!
//! Asserts, for every packet the general path answers:
//! - the reply is never empty and carries the query's id;
//! - it is never larger than the client's limit: 512 without EDNS, the EDNS size clamped to
//!   512..=1232 on UDP, 65535 on TCP;
//! - on UDP an error reply (any RCODE but NOERROR and NXDOMAIN) is no larger than the query
//!   plus an OPT record (11 bytes): no amplification;
//! - nothing is ignored but packets shorter than a header or marked as responses;
//! - when the fast path answers, its bytes equal the general path's for the same random number;
//! - `answer::reply`, what the listeners run, sends exactly those bytes;
//! - a reply to a query with a valid Client Subnet option (other than FORMERR and BADVERS)
//!   echoes it once, with the query's FAMILY, SOURCE PREFIX-LENGTH and ADDRESS and a SCOPE
//!   within the family's length; a malformed one gets FORMERR.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, LazyLock};

use dns::answer::respond;
use dns::ecs;
use dns::geotable::GeoTable;
use dns::metrics::AnswerCounters;
use dns::snapshot::Snapshot;
use dns::transport::{Transport, reply_limit};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use libfuzzer_sys::fuzz_target;
use registry::model::{AliasTarget, Change, GeoProximity, RecordSet};
use registry::name::Fqdn;
use route53_emulator::store::Store;

/// An OPT record with no options: what an error reply may add to the query's size.
const OPT_LEN: usize = 11;

fn set(name: &str, rtype: &str, id: Option<(&str, i64)>, values: &[&str]) -> RecordSet {
    RecordSet {
        name: Fqdn::parse(name).expect("a valid fixed name"),
        rtype: rtype.parse().expect("a valid fixed type"),
        set_identifier: id.map(|(i, _)| i.to_owned()),
        weight: id.map(|(_, w)| w),
        ttl: Some(60),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        alias: None,
        geo: None,
        cidr: None,
        multivalue: false,
        opaque: None,
        health_check_id: None,
    }
}

/// A geoproximity record at `edge.lab.test` at (`lat`, `lon`) with `bias`: an alias to `target`
/// (in zone `zone_id`, evaluating its health) or, without a target, the record `192.0.2.77`.
fn edge(id: &str, (lat, lon): (&str, &str), bias: i64, target: Option<(&str, &str)>) -> RecordSet {
    let mut set = set("edge.lab.test", "A", None, &["192.0.2.77"]);
    set.set_identifier = Some(id.into());
    set.geo = Some(GeoProximity {
        coordinates: Some((lat.into(), lon.into())),
        bias: Some(bias),
        ..GeoProximity::default()
    });
    if let Some((zone_id, target)) = target {
        set.ttl = None;
        set.values.clear();
        set.alias = Some(AliasTarget {
            hosted_zone_id: zone_id.into(),
            dns_name: Fqdn::parse(target).expect("a valid fixed name"),
            evaluate_target_health: true,
        });
    }
    set
}

/// The source address the input's selector bits pick.
fn source(selector: u8) -> IpAddr {
    match (selector >> 1) & 3 {
        0 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        1 => IpAddr::V4(Ipv4Addr::new(127, 64, 0, 1)),
        2 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        _ => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// A zone `lab.test` with weighted A and AAAA pools (one large enough to need truncation on
/// UDP without EDNS), a nested name, a CNAME, a TXT, geoproximity records at `edge` (aliases to
/// the `bos` and `nyc` pools, an alias to an alias, and one with its own record), and a
/// delegated-looking child zone.
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
    let mut changes: Vec<Change> = lab_changes.into_iter().map(Change::create).collect();
    let mut nyc_alias = edge("x", ("0", "0"), 0, Some((&lab.id, "nyc.lab.test")));
    nyc_alias.name = Fqdn::parse("to-nyc.lab.test").expect("a valid fixed name");
    nyc_alias.set_identifier = None;
    nyc_alias.geo = None;
    changes.extend(
        [
            set("bos.lab.test", "A", Some(("b1", 1)), &["192.0.2.31"]),
            set("bos.lab.test", "A", Some(("b2", 0)), &["192.0.2.32"]),
            set("nyc.lab.test", "A", None, &["192.0.2.41"]),
            nyc_alias,
            edge(
                "boston",
                ("42.36", "-71.06"),
                0,
                Some((&lab.id, "bos.lab.test")),
            ),
            edge(
                "new-york",
                ("40.71", "-74.01"),
                10,
                Some((&lab.id, "to-nyc.lab.test")),
            ),
            edge("dallas", ("32.78", "-96.8"), -20, None),
        ]
        .into_iter()
        .map(Change::create),
    );
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
    Snapshot::of_zones(&store, &AnswerCounters::default()).with_geo_table(Arc::new(GeoTable::lab()))
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
    let source = source(head[8]);
    let snapshot = &*SNAPSHOT;

    let Some(general) = respond(snapshot, packet, transport, source, random) else {
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

    // The Client Subnet rules apply to what the resolver reads past the header: a query with one
    // question. Anything else is refused by its header first (FORMERR, or NOTIMP for an opcode
    // it does not serve), whatever its OPT record holds.
    let one_question = packet.len() >= 6 && u16::from_be_bytes([packet[4], packet[5]]) == 1;
    if let Some(request) = &request
        && one_question
        && request.edns.as_ref().is_some_and(|e| e.version() == 0)
    {
        match ecs::from_query(packet) {
            Err(_) => assert_eq!(general.rcode, ResponseCode::FormErr, "a bad ECS is FORMERR"),
            Ok(Some(asked)) if general.rcode != ResponseCode::FormErr && !general.truncated => {
                let reply = Message::from_vec(reply).expect("a reply parses");
                let edns = reply.edns.expect("an EDNS query gets OPT");
                let echoed = edns.options().get_all(EdnsCode::Subnet);
                let [EdnsOption::Subnet(subnet)] = echoed.as_slice() else {
                    panic!("one ECS echo, got {echoed:?}");
                };
                assert_eq!(
                    (subnet.addr(), subnet.source_prefix()),
                    (asked.address, asked.source_prefix),
                    "the echo carries the query's subnet"
                );
                let width = if asked.address.is_ipv4() { 32 } else { 128 };
                assert!(
                    subnet.scope_prefix() <= width,
                    "scope {} > {width}",
                    subnet.scope_prefix()
                );
            }
            Ok(_) => {}
        }
    }

    let mut fast = Vec::new();
    if dns::fast::answer(snapshot, packet, transport, random, &mut fast).is_some() {
        assert_eq!(&fast, reply, "the fast path and the general path disagree");
    }
    let mut sent = Vec::new();
    assert!(dns::answer::reply(snapshot, packet, transport, source, random, &mut sent).is_some());
    assert_eq!(&sent, reply, "the listeners' path sends other bytes");
});

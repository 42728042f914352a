//! Answering one DNS query from a [`Snapshot`]: pure, with the randomness passed in.
//!
//! Every reply of the general path is finished in one place (`finish`, or `header_only` when the
//! request is not read past its header), which holds the bounds the listeners rely on (the fast
//! path only answers what fits, and declines everything else):
//! - a reply is never empty and never larger than the client's limit ([`reply_limit`]: 512 bytes
//!   without EDNS, the EDNS size capped at [`MAX_UDP_PAYLOAD`], 65535 on TCP); an answer that
//!   does not fit is truncated (TC set, the question kept, the other sections dropped);
//! - an error reply over UDP is never larger than the query plus the OPT record this server
//!   adds, so the server cannot amplify: a query without exactly one question, or that does not
//!   parse, gets a header-only reply.
//!
//! [`reply`] is the whole answer path the listeners run: [`crate::fast`] first, then [`respond`].
//!
//! EDNS Client Subnet (RFC 7871, [`crate::ecs`]): a query's option places the client (through
//! the snapshot's geo table) instead of its source address; a malformed one, or two, get
//! FORMERR. Every other reply to a query with the option echoes it, with SCOPE PREFIX-LENGTH 0
//! unless a geoproximity or IP-based group decided the answer ([`route::Routed::scope`]): for
//! geoproximity, the geo table entry's scope ([`crate::geotable::Located::scope`]), or, for a
//! client the table does not place, the SOURCE PREFIX-LENGTH (the answer holds for the subnet
//! given, and no wider); for IP-based routing, the collection's ([`crate::cidr`]); the longest
//! when both decided parts of it.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use crate::ecs::{self, ClientSubnet};
use crate::fast;
use crate::route;
use crate::snapshot::{Rrset, Snapshot, WeightedSet, ZoneView};
use crate::transport::{MAX_UDP_PAYLOAD, OPT_LEN, Transport, reply_limit};

/// How many CNAMEs are followed inside a zone.
const MAX_CNAME_CHAIN: usize = 8;
/// The DNS header (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;

/// A response, with what the metrics need to know about it.
#[derive(Debug, Clone)]
pub struct Response<'s> {
    /// The wire bytes, within the client's [`reply_limit`].
    pub bytes: Vec<u8>,
    /// Its RCODE (for the `rcode` label of `wavelb_dns_queries_total`).
    pub rcode: ResponseCode,
    /// The question's type (`None` when there was no usable question).
    pub qtype: Option<RecordType>,
    /// The weighted set answered, when the answer came from a weighted group.
    pub picked: Option<&'s WeightedSet>,
    /// True when the answer did not fit and TC was set.
    pub truncated: bool,
    /// The routing work the question did ([`route::Work`], at most
    /// [`route::MAX_ROUTE_WORK`] units).
    pub work: route::Work,
}

/// Which path [`reply`] took, with what the metrics count.
#[derive(Debug, Clone, Copy)]
pub enum Replied<'s> {
    /// The fast path: NOERROR for an A or AAAA question, answered from `set`.
    Fast(fast::Answered<'s>),
    /// The general path ([`respond`]).
    General {
        /// The reply's RCODE (for the `rcode` label of `wavelb_dns_queries_total`).
        rcode: ResponseCode,
        /// The question's type (`None` when there was no usable question).
        qtype: Option<RecordType>,
        /// The weighted set answered, when the answer came from a weighted group.
        picked: Option<&'s WeightedSet>,
    },
}

/// The whole answer path, as the DNS listeners run it: writes the reply to `packet` into `out`
/// (cleared first), from [`crate::fast`] when it is the common query and from [`respond`]
/// otherwise. `source` is the address the query came from. `None` when the packet gets no reply
/// at all (see [`respond`]). Public so that a fuzz target drives raw bytes through exactly what
/// the listeners run; the two paths are public too, to compare them.
pub fn reply<'s>(
    snapshot: &'s Snapshot,
    packet: &[u8],
    transport: Transport,
    source: IpAddr,
    random: u64,
    out: &mut Vec<u8>,
) -> Option<Replied<'s>> {
    if let Some(hit) = fast::answer(snapshot, packet, transport, random, out) {
        return Some(Replied::Fast(hit));
    }
    let resp = respond(snapshot, packet, transport, source, random)?;
    out.clear();
    out.extend_from_slice(&resp.bytes);
    Some(Replied::General {
        rcode: resp.rcode,
        qtype: resp.qtype,
        picked: resp.picked,
    })
}

/// What a reply needs from the request's header, read before (or without) parsing the rest.
#[derive(Debug, Clone, Copy)]
struct Envelope {
    /// The request's id.
    id: [u8; 2],
    /// The request's third header byte: its opcode and RD bit are echoed.
    flags: u8,
    /// The request's length: an error reply over UDP stays within it plus [`OPT_LEN`].
    len: usize,
    transport: Transport,
}

impl Envelope {
    /// The envelope of a request, or `None` for a packet that gets no reply: shorter than a
    /// header (there is no id to answer to: RFC 1035 leaves it undefined, and servers such as
    /// Knot and NSD drop it), or with QR set (a response: answering it could start a loop
    /// between two servers, RFC 5452 §9.3 / RFC 1035 §7.3).
    fn of(packet: &[u8], transport: Transport) -> Option<Self> {
        let header = packet.get(..HEADER_LEN)?;
        if header[2] & 0x80 != 0 {
            return None;
        }
        Some(Self {
            id: [header[0], header[1]],
            flags: header[2],
            len: packet.len(),
            transport,
        })
    }

    fn opcode(self) -> u8 {
        (self.flags >> 3) & 0x0f
    }

    /// The largest reply with `rcode`: an error reply over UDP is bounded by the query (plus the
    /// OPT record it may gain), whatever the client's buffer; anything else by `limit`.
    fn bound(self, rcode: ResponseCode, limit: usize) -> usize {
        let error = !matches!(rcode, ResponseCode::NoError | ResponseCode::NXDomain);
        if error && self.transport == Transport::Udp {
            limit.min(self.len + OPT_LEN).max(HEADER_LEN)
        } else {
            limit
        }
    }
}

/// A reply of only a header: the request's id, opcode and RD bit, QR set, `rcode`, every count
/// zero. Nothing the request carried past its header is read or echoed, so it is never longer
/// than the request.
fn header_only(env: Envelope, rcode: ResponseCode) -> Response<'static> {
    let mut bytes = vec![0u8; HEADER_LEN];
    bytes[..2].copy_from_slice(&env.id);
    // QR=1, the request's opcode (0x78) and RD (0x01); AA, TC, RA, Z, AD, CD clear.
    bytes[2] = 0x80 | (env.flags & 0x79);
    bytes[3] = rcode.low();
    Response {
        bytes,
        rcode,
        qtype: None,
        picked: None,
        truncated: false,
        work: route::Work::default(),
    }
}

/// Answers `packet` with the general path (hickory). Returns `None` for input that gets no
/// reply: fewer than 12 bytes (no header to answer to) or a message that is itself a response.
///
/// - Not exactly one question (QDCOUNT ≠ 1, RFC 9619): a header-only FORMERR (NOTIMP for
///   another opcode than QUERY); the questions are neither parsed nor echoed.
/// - A header but a body that does not parse: a header-only FORMERR (RFC 1035 §4.1.1, "unable
///   to interpret the query"), echoing the id.
/// - Another opcode than QUERY: NOTIMP; an EDNS version above 0: BADVERS; a malformed EDNS
///   Client Subnet option, or more than one: FORMERR; another class than IN: REFUSED. These
///   echo the one question (and an OPT record when the query had one).
///
/// `source` is the address the query came from: it places the client for geoproximity answers
/// when the query carries no Client Subnet option.
pub fn respond<'s>(
    snapshot: &'s Snapshot,
    packet: &[u8],
    transport: Transport,
    source: IpAddr,
    random: u64,
) -> Option<Response<'s>> {
    let env = Envelope::of(packet, transport)?;
    let qdcount = u16::from_be_bytes([packet[4], packet[5]]);
    if qdcount != 1 {
        let rcode = if env.opcode() == 0 {
            ResponseCode::FormErr
        } else {
            ResponseCode::NotImp
        };
        return Some(header_only(env, rcode));
    }
    let Ok(request) = Message::from_vec(packet) else {
        return Some(header_only(env, ResponseCode::FormErr));
    };
    let mut resp = Message::response(request.metadata.id, request.metadata.op_code);
    resp.metadata.recursion_desired = request.metadata.recursion_desired;
    resp.metadata.checking_disabled = request.metadata.checking_disabled;
    resp.queries = request.queries.clone();
    let limit = reply_limit(transport, request.edns.as_ref().map(Edns::max_payload));
    if let Some(req_edns) = &request.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        edns.set_version(0);
        resp.edns = Some(edns);
        if req_edns.version() != 0 {
            // BADVERS (16): the high bits travel in the OPT record.
            set_rcode(&mut resp, ResponseCode::BADVERS);
            return Some(finish(resp, env, None, None, limit));
        }
    }
    let subnet = match request.edns.as_ref().map(|_| ecs::from_query(packet)) {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(subnet))) => Some(subnet),
        Some(Err(why)) => {
            tracing::debug!(%why, "refusing a query's Client Subnet option");
            set_rcode(&mut resp, ResponseCode::FormErr);
            return Some(finish(resp, env, None, None, limit));
        }
    };
    echo(&mut resp, subnet, 0);
    if request.metadata.op_code != OpCode::Query {
        set_rcode(&mut resp, ResponseCode::NotImp);
        return Some(finish(resp, env, None, None, limit));
    }
    let [query] = request.queries.as_slice() else {
        // QDCOUNT was 1, so the parse found one question; this only guards the invariant.
        return Some(header_only(env, ResponseCode::FormErr));
    };
    let qtype = query.query_type;
    if query.query_class != DNSClass::IN {
        // Only class IN is served. REFUSED, not NOTIMP: the class is a valid one, and this
        // server simply holds no zone in it. That is what Knot and NSD answer for a class they
        // do not serve, and for a CHAOS name they hold nothing for. Unlike them, QCLASS ANY is
        // refused too, not answered from the IN data: an answer with AA to class ANY would claim
        // to hold every class at the name. No AA: nothing here is authoritative.
        set_rcode(&mut resp, ResponseCode::Refused);
        return Some(finish(resp, env, Some(qtype), None, limit));
    }
    let qname = query.name.to_lowercase().to_ascii();
    let qname = if qname.ends_with('.') {
        qname
    } else {
        qname + "."
    };
    let Some(zone) = snapshot.zone_for(&qname) else {
        set_rcode(&mut resp, ResponseCode::Refused);
        return Some(finish(resp, env, Some(qtype), None, limit));
    };
    resp.metadata.authoritative = true;
    let client = client(snapshot, subnet, source);
    let routed = answer_in_zone(
        zone,
        &qname,
        query.name.clone(),
        qtype,
        &client,
        random,
        &mut resp,
    );
    if let Some(scope) = routed.scope {
        echo(&mut resp, subnet, scope);
    }
    let mut out = finish(resp, env, Some(qtype), routed.picked, limit);
    out.work = routed.work;
    Some(out)
}

/// The client of a query: the Client Subnet `subnet` when the query has one (a SOURCE
/// PREFIX-LENGTH of 0 reveals nothing: an unknown place, RFC 7871 §7.1.2), else the source
/// address; placed by the snapshot's geo table (see the module's doc for the scopes).
fn client(snapshot: &Snapshot, subnet: Option<ClientSubnet>, source: IpAddr) -> route::Client {
    let table = snapshot.geo_table();
    let (address, revealed) = match subnet {
        Some(s) => (s.address, s.source_prefix),
        None => (source, if source.is_ipv4() { 32 } else { 128 }),
    };
    let (located, unknown_scope) = match subnet {
        Some(s) if s.source_prefix == 0 => (None, 0),
        Some(s) => (table.lookup(s.address), s.source_prefix),
        None => (table.lookup(source), 0),
    };
    route::Client {
        place: located.map(|l| l.coordinates),
        place_scope: located.map_or(unknown_scope, |l| l.scope),
        address,
        source: revealed,
    }
}

/// Adds the query's Client Subnet option to the reply with SCOPE PREFIX-LENGTH `scope`
/// (replacing an earlier echo); nothing without an option or an OPT record.
fn echo(resp: &mut Message, subnet: Option<ClientSubnet>, scope: u8) {
    if let (Some(subnet), Some(edns)) = (subnet, resp.edns.as_mut()) {
        let options = edns.options_mut();
        options.remove(hickory_proto::rr::rdata::opt::EdnsCode::Subnet);
        options.insert(subnet.echo(scope));
    }
}

/// What the answer in a zone depended on.
#[derive(Debug, Clone, Copy, Default)]
struct Answered<'s> {
    /// The last weighted set answered.
    picked: Option<&'s WeightedSet>,
    /// Set when a geoproximity or IP-based group decided part of it: for how many leading bits
    /// of the client's address the answer holds.
    scope: Option<u8>,
    /// The routing work of the whole question, every CNAME it followed included.
    work: route::Work,
}

fn answer_in_zone<'s>(
    zone: &'s ZoneView,
    qname: &str,
    original: hickory_proto::rr::Name,
    qtype: RecordType,
    client: &route::Client,
    random: u64,
    resp: &mut Message,
) -> Answered<'s> {
    let mut name = qname.to_owned();
    let mut owner = original;
    let mut answered = Answered::default();
    for _ in 0..MAX_CNAME_CHAIN {
        let Some(node) = node_for(zone, &name) else {
            if resp.answers.is_empty() {
                if !zone.interior.contains(&name) {
                    set_rcode(resp, ResponseCode::NXDomain);
                }
                resp.authorities.push(negative_soa(zone));
            }
            return answered;
        };
        if qtype == RecordType::ANY {
            // RFC 8482: a minimal answer instead of everything at the name.
            let ttl = node_ttl(node);
            resp.answers.push(Record::from_rdata(
                owner,
                ttl,
                RData::HINFO(HINFO::new("RFC8482".into(), String::new())),
            ));
            return answered;
        }
        let found = match node.rrsets.get(&qtype) {
            Some(rrset) => Some((qtype, rrset)),
            None if qtype != RecordType::CNAME => node
                .rrsets
                .get(&RecordType::CNAME)
                .map(|rrset| (RecordType::CNAME, rrset)),
            None => None,
        };
        let routed = found.map(|(rtype, rrset)| {
            route::route(zone, rrset, rtype, client, random, &mut answered.work)
        });
        if let Some(routed) = routed {
            answered.picked = routed.picked.or(answered.picked);
            answered.scope = answered.scope.max(routed.scope);
        }
        let records = routed.map_or(&[][..], |r| r.records);
        if records.is_empty() {
            if resp.answers.is_empty() {
                resp.authorities.push(negative_soa(zone));
            }
            return answered;
        }
        let records = records.to_vec();
        let cname_target = records.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if qtype != RecordType::CNAME => Some(c.0.clone()),
            _ => None,
        });
        // Echo the question's spelling on the first owner name.
        resp.answers.extend(records.into_iter().map(|mut r| {
            r.name = owner.clone();
            r
        }));
        let Some(target) = cname_target else {
            return answered;
        };
        let target_key = target.to_lowercase().to_ascii();
        if zone.interior.contains(&target_key) || node_for(zone, &target_key).is_some() {
            name = target_key;
            owner = target;
        } else {
            return answered;
        }
    }
    answered
}

/// The node that answers `name` (lower case, trailing dot) in `zone`: its own; for a name that
/// does not exist (no records, no names below it), the wildcard `*.` of its closest encloser,
/// the nearest ancestor that exists (RFC 4592, as Route 53 serves `*` records: `*.example.com`
/// answers `a.example.com` and `b.a.example.com`, but not a name that exists, nor a name below
/// an existing name with no wildcard of its own). At most one lookup per label of `name`.
fn node_for<'z>(zone: &'z ZoneView, name: &str) -> Option<&'z crate::snapshot::Node> {
    if let Some(node) = zone.nodes.get(name) {
        return Some(node);
    }
    if zone.interior.contains(name) {
        return None;
    }
    let mut rest = name;
    while let Some((_, parent)) = rest.split_once('.') {
        if parent.len() < zone.origin.len() {
            return None;
        }
        if zone.nodes.contains_key(parent) || zone.interior.contains(parent) {
            return zone.nodes.get(&format!("*.{parent}"));
        }
        rest = parent;
    }
    None
}

fn node_ttl(node: &crate::snapshot::Node) -> u32 {
    fn first_ttl(content: &crate::snapshot::Content) -> Option<u32> {
        match content {
            crate::snapshot::Content::Records(records) => records.first().map(|r| r.ttl),
            crate::snapshot::Content::Alias(_) => None,
        }
    }
    node.rrsets
        .values()
        .filter_map(|r| match r {
            Rrset::Simple(records) => records.first().map(|r| r.ttl),
            Rrset::Weighted(g) => g
                .sets
                .first()
                .and_then(|s| s.records.first())
                .map(|r| r.ttl),
            Rrset::Geo(g) => g.members.iter().find_map(|m| first_ttl(&m.content)),
            Rrset::Cidr(g) => g
                .default
                .iter()
                .chain(g.locations.values())
                .find_map(|m| first_ttl(&m.content)),
            Rrset::Multivalue(g) => g.answer(0).first().map(|r| r.ttl),
            Rrset::Alias(_) => None,
        })
        .min()
        .unwrap_or(0)
}

/// The zone's SOA for a negative answer, with the TTL RFC 2308 asks for.
fn negative_soa(zone: &ZoneView) -> Record {
    let mut soa = zone.soa.clone();
    if let RData::SOA(s) = &soa.data {
        soa.ttl = soa.ttl.min(s.minimum);
    }
    soa
}

fn set_rcode(resp: &mut Message, rcode: ResponseCode) {
    resp.metadata.response_code = rcode;
    if let Some(edns) = resp.edns.as_mut() {
        edns.set_rcode_high(rcode.high());
    }
}

/// Encodes `resp` within the request's bound ([`Envelope::bound`] of `limit`). An answer that
/// does not fit is truncated: TC set, the question and the OPT record kept, the other sections
/// dropped (RFC 2181 §9), and nothing counted as answered. Should even that not fit or not
/// encode (it cannot: one parsed question and an OPT record take at most 282 bytes), the reply
/// is a header-only SERVFAIL: never an empty one.
fn finish(
    mut resp: Message,
    env: Envelope,
    qtype: Option<RecordType>,
    picked: Option<&WeightedSet>,
    limit: usize,
) -> Response<'_> {
    let rcode = resp.metadata.response_code;
    let bound = env.bound(rcode, limit);
    let encode = |m: &Message| m.to_vec().ok().filter(|b| b.len() <= bound);
    if let Some(bytes) = encode(&resp) {
        return Response {
            bytes,
            rcode,
            qtype,
            picked,
            truncated: false,
            work: route::Work::default(),
        };
    }
    resp.answers.clear();
    resp.authorities.clear();
    resp.additionals.clear();
    resp.metadata.truncation = true;
    match encode(&resp) {
        Some(bytes) => Response {
            bytes,
            rcode,
            qtype,
            picked: None,
            truncated: true,
            work: route::Work::default(),
        },
        None => {
            tracing::debug!(
                ?rcode,
                bound,
                "a truncated reply did not encode within its bound; answering SERVFAIL"
            );
            header_only(env, ResponseCode::ServFail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::AnswerCounters;
    use registry::model::RrType;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    use crate::testing::LabZones;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use rand::{Rng, SeedableRng};
    use registry::model::{Change, RecordSet};
    use registry::name::Fqdn;

    fn weighted(name: &str, id: &str, w: i64, values: Vec<String>) -> Change {
        Change::create(RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: RrType::A,
            set_identifier: Some(id.into()),
            weight: Some(w),
            ttl: Some(30),
            values,
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        })
    }

    /// `www` (weights 1 and 3), `mid` (40 addresses: over 512 bytes, within 1232) and `big`
    /// (100 addresses: over 1232 bytes).
    fn store() -> LabZones {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let ips = |n: u8| (1..=n).map(|i| format!("192.0.2.{i}")).collect::<Vec<_>>();
        s.change(
            &zone.id,
            &[
                weighted("www.lab.test", "a", 1, vec!["192.0.2.1".into()]),
                weighted("www.lab.test", "b", 3, vec!["192.0.2.2".into()]),
                weighted("mid.lab.test", "m", 1, ips(40)),
                weighted("big.lab.test", "g", 1, ips(100)),
            ],
            None,
            1,
        )
        .unwrap();
        s
    }

    fn snapshot() -> Snapshot {
        Snapshot::of_zones(&store(), &AnswerCounters::default())
    }

    fn query(name: &str) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 0x4242;
        m.queries
            .push(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        m.to_vec().unwrap()
    }

    /// A query for `name` A with an OPT record advertising `payload`.
    fn edns_query(name: &str, payload: u16) -> Vec<u8> {
        let mut m = Message::from_vec(&query(name)).unwrap();
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        m.edns = Some(edns);
        m.to_vec().unwrap()
    }

    /// A header (id 0xbeef, RD) counting `qdcount` questions, followed by `body`.
    fn raw(flags: u8, qdcount: u16, body: &[u8]) -> Vec<u8> {
        let mut q = vec![0xbe, 0xef, flags, 0];
        q.extend_from_slice(&qdcount.to_be_bytes());
        q.extend_from_slice(&[0; 6]);
        q.extend_from_slice(body);
        q
    }

    /// `www.lab.test` A IN in wire form (18 bytes).
    const WWW: &[u8] = b"\x03www\x03lab\x04test\x00\x00\x01\x00\x01";

    /// The questions of finding 3: none, two, 600, and 406 in 2455 bytes (one in full, five for
    /// the root, 400 as compression pointers to the first).
    fn multi_question_queries() -> Vec<(&'static str, Vec<u8>)> {
        let mut packed = WWW.to_vec();
        for _ in 0..5 {
            packed.extend_from_slice(&[0, 0, 1, 0, 1]);
        }
        for _ in 0..400 {
            packed.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        }
        vec![
            ("QDCOUNT 0", raw(0x01, 0, &[])),
            ("QDCOUNT 0 with a question", raw(0x01, 0, WWW)),
            ("QDCOUNT 2", raw(0x01, 2, &WWW.repeat(2))),
            ("QDCOUNT 600", raw(0x01, 600, &WWW.repeat(600))),
            ("2455 bytes, 406 questions", raw(0x01, 406, &packed)),
            ("QDCOUNT 2, one there", raw(0x01, 2, WWW)),
        ]
    }

    fn assert_header_only(bytes: &[u8], query: &[u8], rcode: ResponseCode, what: &str) {
        assert_eq!(bytes.len(), HEADER_LEN, "{what}: {bytes:02x?}");
        assert!(bytes.len() <= query.len(), "{what}");
        assert_eq!(bytes[..2], query[..2], "{what}: id echoed");
        assert_eq!(bytes[2], 0x80 | (query[2] & 0x79), "{what}: QR, opcode, RD");
        assert_eq!(bytes[3], rcode.low(), "{what}: rcode");
        assert_eq!(bytes[4..], [0; 8], "{what}: all counts zero");
    }

    #[test]
    fn the_random_number_picks_by_cumulative_weight() {
        let snap = snapshot();
        let pick = |r| {
            respond(&snap, &query("www.lab.test."), Transport::Udp, LOCAL, r)
                .unwrap()
                .picked
                .unwrap()
                .set_id
                .clone()
        };
        assert_eq!(
            [pick(0), pick(1), pick(2), pick(3), pick(4)],
            ["a", "b", "b", "b", "a"]
        );
    }

    #[test]
    fn short_packets_and_responses_are_ignored_and_garbage_gets_formerr() {
        let snap = snapshot();
        for len in 0..HEADER_LEN {
            assert!(
                respond(
                    &snap,
                    &query("www.lab.test.")[..len],
                    Transport::Udp,
                    LOCAL,
                    0
                )
                .is_none()
            );
        }
        let mut resp = query("www.lab.test.");
        resp[2] |= 0x80;
        assert!(respond(&snap, &resp, Transport::Udp, LOCAL, 0).is_none());
        resp.truncate(14);
        assert!(
            respond(&snap, &resp, Transport::Udp, LOCAL, 0).is_none(),
            "garbage responses too"
        );
        let mut bad = query("www.lab.test.")[..14].to_vec();
        bad[0] = 0x99;
        let r = respond(&snap, &bad, Transport::Udp, LOCAL, 0).unwrap();
        assert_eq!(r.rcode, ResponseCode::FormErr);
        assert_header_only(&r.bytes, &bad, ResponseCode::FormErr, "garbage");
    }

    /// Answers `q` over UDP and TCP, asserting that both took the general path to FORMERR and
    /// answered no set; returns each reply's question type and bytes.
    fn formerr_both_ways(
        snap: &Snapshot,
        q: &[u8],
        what: &str,
    ) -> [(Option<RecordType>, Vec<u8>); 2] {
        [Transport::Udp, Transport::Tcp].map(|transport| {
            let mut out = Vec::new();
            let replied = reply(snap, q, transport, LOCAL, 0, &mut out).unwrap();
            let Replied::General {
                rcode: ResponseCode::FormErr,
                qtype,
                picked: None,
            } = replied
            else {
                panic!("{what} ({transport:?}): {replied:?}");
            };
            (qtype, out)
        })
    }

    #[test]
    fn not_exactly_one_question_gets_a_header_only_formerr_on_both_transports() {
        let snap = snapshot();
        for (what, q) in multi_question_queries() {
            for (qtype, out) in formerr_both_ways(&snap, &q, what) {
                assert_eq!(qtype, None, "{what}");
                assert_header_only(&out, &q, ResponseCode::FormErr, what);
            }
        }
        assert_eq!(multi_question_queries()[4].1.len(), 2455);
        // Another opcode (NOTIFY) without exactly one question: NOTIMP, header only.
        let notify = raw(0x21, 3, &WWW.repeat(3));
        let r = respond(&snap, &notify, Transport::Udp, LOCAL, 0).unwrap();
        assert_header_only(&r.bytes, &notify, ResponseCode::NotImp, "NOTIFY");
    }

    #[test]
    fn classes_other_than_in_are_refused_without_aa() {
        let snap = snapshot();
        for class in [3u16, 4, 254, 255, 77] {
            let mut q = raw(0x01, 1, WWW);
            let at = q.len() - 2;
            q[at..].copy_from_slice(&class.to_be_bytes());
            let mut out = Vec::new();
            for transport in [Transport::Udp, Transport::Tcp] {
                assert!(fast::answer(&snap, &q, transport, 0, &mut out).is_none());
                let replied = reply(&snap, &q, transport, LOCAL, 0, &mut out).unwrap();
                assert!(matches!(
                    replied,
                    Replied::General {
                        rcode: ResponseCode::Refused,
                        picked: None,
                        ..
                    }
                ));
                let m = Message::from_vec(&out).unwrap();
                assert_eq!(
                    m.metadata.response_code,
                    ResponseCode::Refused,
                    "class {class}"
                );
                assert!(!m.metadata.authoritative, "class {class}: no AA");
                assert!(m.answers.is_empty() && m.authorities.is_empty());
                assert_eq!(m.queries.len(), 1);
                assert_eq!(u16::from(m.queries[0].query_class), class);
                assert!(out.len() <= q.len(), "class {class}: no amplification");
            }
        }
    }

    #[test]
    fn answers_that_do_not_fit_are_truncated_to_the_question_within_the_limit() {
        let snap = snapshot();
        let cases = [
            ("mid, no EDNS", query("mid.lab.test."), 512, true),
            (
                "mid, EDNS 4096",
                edns_query("mid.lab.test.", 4096),
                1232,
                false,
            ),
            ("big, no EDNS", query("big.lab.test."), 512, true),
            (
                "big, EDNS 4096",
                edns_query("big.lab.test.", 4096),
                1232,
                true,
            ),
            ("big, EDNS 100", edns_query("big.lab.test.", 100), 512, true),
        ];
        for (what, q, limit, truncated) in cases {
            let mut out = Vec::new();
            let replied = reply(&snap, &q, Transport::Udp, LOCAL, 0, &mut out).unwrap();
            assert!(
                !out.is_empty() && out.len() <= limit,
                "{what}: {} bytes",
                out.len()
            );
            let m = Message::from_vec(&out).unwrap();
            assert_eq!(m.metadata.truncation, truncated, "{what}: TC");
            assert_eq!(m.queries.len(), 1, "{what}: the question is kept");
            assert_eq!(
                m.edns.is_some(),
                !what.contains("no EDNS"),
                "{what}: OPT kept"
            );
            if truncated {
                assert!(m.answers.is_empty(), "{what}");
                // A truncated answer served nothing: its set is not counted.
                assert!(matches!(replied, Replied::General { picked: None, .. }));
            } else {
                assert_eq!(m.answers.len(), 40, "{what}");
            }
        }
        let mut out = Vec::new();
        reply(
            &snap,
            &query("big.lab.test."),
            Transport::Tcp,
            LOCAL,
            0,
            &mut out,
        )
        .unwrap();
        let m = Message::from_vec(&out).unwrap();
        assert!(
            !m.metadata.truncation && m.answers.len() == 100,
            "TCP carries it all"
        );
    }

    /// The finishing rules hold for anything: a thousands of mutated queries (bytes flipped,
    /// cut, counts changed, appended) never get an empty reply, one over the client's limit, or
    /// an error reply larger than the query plus an OPT record; and when the fast path answers,
    /// the general path answers the same bytes.
    #[test]
    fn mutated_queries_never_get_empty_oversized_or_amplified_replies() {
        let seeds = [
            query("www.lab.test."),
            edns_query("www.lab.test.", 1232),
            query("mid.lab.test."),
            edns_query("big.lab.test.", 4096),
            query("nope.lab.test."),
            raw(0x01, 2, &WWW.repeat(2)),
        ];
        mutate_and_check(&snapshot(), &seeds, 11);
    }

    /// The same for geoproximity names and queries with Client Subnet options (valid, invalid,
    /// repeated), from sources the geo table places and does not.
    #[test]
    fn mutated_client_subnet_queries_never_get_empty_oversized_or_amplified_replies() {
        let good = ecs(1, 24, 0, &[127, 64, 3]);
        let seeds = [
            with_options("edge.lab.test.", std::slice::from_ref(&good)),
            with_options("edge.lab.test.", &[ecs(2, 128, 0, &[0; 16])]),
            with_options("edge.lab.test.", &[good.clone(), good.clone()]),
            with_options("www.lab.test.", &[(10, vec![1; 8]), good]),
            edns_query("edge.lab.test.", 512),
            query("edge.lab.test."),
        ];
        mutate_and_check(&geo_snapshot(false), &seeds, 12);
    }

    /// Mutates `seeds` 20 000 times (bytes flipped, cut, counts changed, appended) and checks
    /// every reply's bounds on both transports, and that the fast path agrees with the general
    /// one whenever it answers.
    fn mutate_and_check(snap: &Snapshot, seeds: &[Vec<u8>], seed: u64) {
        let sources: [IpAddr; 3] = [LOCAL, "127.64.0.1".parse().unwrap(), "::1".parse().unwrap()];
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let (mut out, mut fast_out) = (Vec::new(), Vec::new());
        for round in 0..20_000 {
            let mut q = seeds[round % seeds.len()].clone();
            for _ in 0..rng.random_range(1..4) {
                match rng.random_range(0..4) {
                    0 if !q.is_empty() => {
                        let at = rng.random_range(0..q.len());
                        q[at] ^= 1 << rng.random_range(0..8);
                    }
                    1 => q.truncate(rng.random_range(0..=q.len())),
                    2 if q.len() >= HEADER_LEN => {
                        let at = 2 * rng.random_range(2..6);
                        q[at..at + 2].copy_from_slice(&rng.random_range(0..4u16).to_be_bytes());
                    }
                    _ => q.extend((0..rng.random_range(0..40)).map(|_| rng.random::<u8>())),
                }
            }
            for transport in [Transport::Udp, Transport::Tcp] {
                let random = rng.random();
                let source = sources[(round / seeds.len()) % sources.len()];
                let replied = reply(snap, &q, transport, source, random, &mut out);
                let ignored = q.len() < HEADER_LEN || q[2] & 0x80 != 0;
                assert_eq!(replied.is_none(), ignored, "{q:02x?}");
                let Some(replied) = replied else { continue };
                let limit = match transport {
                    Transport::Tcp => usize::from(u16::MAX),
                    // Without an additional record there is no OPT: 512.
                    Transport::Udp if q[10..12] == [0, 0] => 512,
                    Transport::Udp => usize::from(MAX_UDP_PAYLOAD),
                };
                assert!(out.len() >= HEADER_LEN && out.len() <= limit, "{q:02x?}");
                assert_eq!(out[..2], q[..2], "id echoed");
                if let Replied::General { rcode, .. } = replied
                    && !matches!(rcode, ResponseCode::NoError | ResponseCode::NXDomain)
                    && transport == Transport::Udp
                {
                    assert!(out.len() <= q.len() + OPT_LEN, "{rcode:?} for {q:02x?}");
                }
                check_echo(&q, &out);
                if fast::answer(snap, &q, transport, random, &mut fast_out).is_some() {
                    let general = respond(snap, &q, transport, source, random).unwrap();
                    assert_eq!(
                        fast_out, general.bytes,
                        "fast and general differ on {q:02x?}"
                    );
                }
            }
        }
    }

    /// A query with EDNS version 0: a malformed Client Subnet option gets FORMERR; a valid one
    /// is echoed once (unless FORMERR for another reason) with its family, source prefix and
    /// address, and a scope within the family's length.
    fn check_echo(q: &[u8], out: &[u8]) {
        let Ok(request) = Message::from_vec(q) else {
            return;
        };
        // Only a query with one question is read past its header (see the fuzz target).
        if request.edns.as_ref().is_none_or(|e| e.version() != 0) || request.queries.len() != 1 {
            return;
        }
        let reply = Message::from_vec(out).unwrap();
        let rcode = reply.metadata.response_code;
        match ecs::from_query(q) {
            Err(_) => assert_eq!(rcode, ResponseCode::FormErr, "{q:02x?}"),
            Ok(Some(asked)) if rcode != ResponseCode::FormErr => {
                let options = reply.edns.as_ref().unwrap().options();
                let echoed = options.get_all(hickory_proto::rr::rdata::opt::EdnsCode::Subnet);
                let [hickory_proto::rr::rdata::opt::EdnsOption::Subnet(s)] = echoed.as_slice()
                else {
                    panic!("one echo for {q:02x?}: {echoed:?}");
                };
                assert_eq!(
                    (s.addr(), s.source_prefix()),
                    (asked.address, asked.source_prefix)
                );
                let width = if asked.address.is_ipv4() { 32 } else { 128 };
                assert!(s.scope_prefix() <= width, "{q:02x?}");
            }
            Ok(_) => {}
        }
    }

    /// `bos` (weighted, two sets), `nyc` (simple), `www` (weighted) and the geoproximity
    /// aliases at `edge` (Boston → bos, New York → nyc, both evaluating target health), placed
    /// with the lab geo table; `delete_bos` deletes bos's address sets afterwards.
    fn geo_snapshot(delete_bos: bool) -> Snapshot {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let edge = |id: &str, (lat, lon): (&str, &str), target: &str| {
            Change::create(RecordSet {
                name: Fqdn::parse("edge.lab.test").unwrap(),
                rtype: RrType::A,
                set_identifier: Some(id.into()),
                weight: None,
                ttl: None,
                values: Vec::new(),
                alias: Some(registry::model::AliasTarget {
                    hosted_zone_id: zone.id.clone(),
                    dns_name: Fqdn::parse(target).unwrap(),
                    evaluate_target_health: true,
                }),
                geo: Some(registry::model::GeoProximity {
                    coordinates: Some((lat.into(), lon.into())),
                    ..Default::default()
                }),
                cidr: None,
                multivalue: false,
                opaque: None,
                health_check_id: None,
            })
        };
        let bos = [
            weighted("bos.lab.test", "b1", 1, vec!["192.0.2.1".into()]),
            weighted("bos.lab.test", "b2", 1, vec!["192.0.2.2".into()]),
        ];
        let mut nyc = weighted("nyc.lab.test", "n", 1, vec!["198.51.100.1".into()]);
        nyc.record_set.set_identifier = None;
        nyc.record_set.weight = None;
        let mut changes = bos.to_vec();
        changes.extend([
            nyc,
            weighted("www.lab.test", "w", 1, vec!["203.0.113.1".into()]),
            edge("boston", ("42.36", "-71.06"), "bos.lab.test"),
            edge("new-york", ("40.71", "-74.01"), "nyc.lab.test"),
        ]);
        s.change(&zone.id, &changes, None, 1).unwrap();
        if delete_bos {
            let gone: Vec<Change> = bos
                .iter()
                .map(|c| Change::delete(c.record_set.clone()))
                .collect();
            s.change(&zone.id, &gone, None, 2).unwrap();
        }
        Snapshot::of_zones(&s, &AnswerCounters::default())
            .with_geo_table(std::sync::Arc::new(crate::geotable::GeoTable::lab()))
    }

    /// `edns_query(name)` with raw EDNS options (code, data) in its OPT record.
    fn with_options(name: &str, options: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut q = edns_query(name, 1232);
        let mut rdata = Vec::new();
        for (code, data) in options {
            rdata.extend_from_slice(&code.to_be_bytes());
            rdata.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
            rdata.extend_from_slice(data);
        }
        let at = q.len() - 2;
        q[at..].copy_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        q.extend_from_slice(&rdata);
        q
    }

    /// An ECS option's data: FAMILY, SOURCE, SCOPE, ADDRESS.
    fn ecs(family: u16, source: u8, scope: u8, address: &[u8]) -> (u16, Vec<u8>) {
        let mut o = family.to_be_bytes().to_vec();
        o.extend_from_slice(&[source, scope]);
        o.extend_from_slice(address);
        (ecs::OPTION_CODE, o)
    }

    /// The rcode, the answer's addresses and the echoed (source, scope) of `q` from `source`.
    fn ask(
        snap: &Snapshot,
        q: &[u8],
        source: &str,
    ) -> (ResponseCode, Vec<String>, Option<(u8, u8)>) {
        let mut out = Vec::new();
        reply(
            snap,
            q,
            Transport::Udp,
            source.parse().unwrap(),
            0,
            &mut out,
        )
        .unwrap();
        assert!(out.len() <= usize::from(MAX_UDP_PAYLOAD));
        let m = Message::from_vec(&out).unwrap();
        let echoed = m.edns.as_ref().and_then(|e| {
            match e.option(hickory_proto::rr::rdata::opt::EdnsCode::Subnet) {
                Some(hickory_proto::rr::rdata::opt::EdnsOption::Subnet(s)) => {
                    Some((s.source_prefix(), s.scope_prefix()))
                }
                _ => None,
            }
        });
        let addresses = m.answers.iter().map(|r| r.data.to_string()).collect();
        (m.metadata.response_code, addresses, echoed)
    }

    const COLLECTION: &str = "0b5c3a3e-5f3c-4c2e-9d2b-7a1e3c9f0a11";

    /// `carrier.lab.test` A: IP-based, location `a` (198.51.100.0/24) → 192.0.2.1, `b`
    /// (203.0.0.0/8 and 2001:db8::/32) → an alias to `b.lab.test`, and, when `default`, `*` →
    /// 192.0.2.9. `b_check`: the `b` record's health check fails.
    fn cidr_snapshot(default: bool, b_check: bool) -> Snapshot {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        s.put_collection(
            COLLECTION,
            &[
                ("198.51.100.0/24", "a"),
                ("203.0.0.0/8", "b"),
                ("203.0.0.0/24", "a"),
                ("2001:db8::/32", "b"),
            ],
        );
        let failed = b_check.then(|| s.failed_test_check("b"));
        let member = |id: &str, location: &str| RecordSet {
            name: Fqdn::parse("carrier.lab.test").unwrap(),
            rtype: RrType::A,
            set_identifier: Some(id.into()),
            weight: None,
            ttl: Some(60),
            values: vec!["192.0.2.1".into()],
            alias: None,
            geo: None,
            cidr: Some(registry::model::CidrRouting {
                collection_id: COLLECTION.into(),
                location_name: location.into(),
            }),
            multivalue: false,
            opaque: None,
            health_check_id: None,
        };
        let mut b = member("carrier-b", "b");
        b.ttl = None;
        b.values = Vec::new();
        b.alias = Some(registry::model::AliasTarget {
            hosted_zone_id: zone.id.clone(),
            dns_name: Fqdn::parse("b.lab.test").unwrap(),
            evaluate_target_health: true,
        });
        b.health_check_id = failed;
        let mut changes = vec![
            weighted("b.lab.test", "b", 1, vec!["198.51.100.77".into()]),
            Change::create(member("carrier-a", "a")),
            Change::create(b),
        ];
        if default {
            let mut d = member("everyone-else", "*");
            d.values = vec!["192.0.2.9".into()];
            changes.push(Change::create(d));
        }
        s.change(&zone.id, &changes, None, 1).unwrap();
        Snapshot::of_zones(&s, &AnswerCounters::default())
    }

    #[test]
    fn ip_based_records_answer_by_client_subnet_then_by_source_with_the_collections_scope() {
        let snap = cidr_snapshot(true, false);
        let a = vec!["192.0.2.1".to_owned()];
        let b = vec!["198.51.100.77".to_owned()];
        let other = vec!["192.0.2.9".to_owned()];
        let q = |o: (u16, Vec<u8>)| with_options("carrier.lab.test.", &[o]);
        let ok = ResponseCode::NoError;
        // The longest block no longer than the subnet: 203.0.0.0/24 is in `a`, inside `b`'s /8.
        assert_eq!(
            ask(&snap, &q(ecs(1, 24, 0, &[203, 0, 0])), "127.0.0.1"),
            (ok, a.clone(), Some((24, 24)))
        );
        // A /16 cannot match the /24: the /8 answers, for as far as a /24 (the nested block).
        assert_eq!(
            ask(&snap, &q(ecs(1, 16, 0, &[203, 0])), "127.0.0.1"),
            (ok, b.clone(), Some((16, 24)))
        );
        assert_eq!(
            ask(&snap, &q(ecs(1, 24, 0, &[203, 7, 7])), "127.0.0.1"),
            (ok, b.clone(), Some((24, 24)))
        );
        // IPv6 in `b`'s /32.
        let v6 = q(ecs(2, 56, 0, &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0]));
        assert_eq!(
            ask(&snap, &v6, "127.0.0.1"),
            (ok, b.clone(), Some((56, 32)))
        );
        // No location holds it: the default record.
        assert_eq!(
            ask(&snap, &q(ecs(1, 24, 0, &[192, 0, 2])), "198.51.100.1"),
            (ok, other.clone(), Some((24, 24)))
        );
        // Nothing revealed: the default, for everyone.
        assert_eq!(
            ask(&snap, &q(ecs(1, 0, 0, &[])), "198.51.100.1"),
            (ok, other.clone(), Some((0, 0)))
        );
        // Without the option, the source address decides, and nothing is echoed.
        let plain = edns_query("carrier.lab.test.", 1232);
        assert_eq!(ask(&snap, &plain, "198.51.100.1"), (ok, a.clone(), None));
        assert_eq!(ask(&snap, &plain, "127.0.0.1"), (ok, other.clone(), None));
        // An unhealthy location's record gives way to the default.
        let failing = cidr_snapshot(true, true);
        assert_eq!(
            ask(&failing, &q(ecs(1, 24, 0, &[203, 7, 7])), "127.0.0.1").1,
            other
        );
        // No default record: a client no location holds gets no records (NOERROR, NODATA).
        let bare = cidr_snapshot(false, false);
        assert_eq!(
            ask(&bare, &q(ecs(1, 24, 0, &[192, 0, 2])), "127.0.0.1"),
            (ok, Vec::new(), Some((24, 24)))
        );
        assert_eq!(
            ask(&bare, &q(ecs(1, 24, 0, &[198, 51, 100])), "127.0.0.1").1,
            a
        );
    }

    /// `mv.lab.test` A: `n` multivalue answer sets, `mv-00` … with 192.0.2.N; the first
    /// `failing` of them with a failing health check.
    fn multivalue_snapshot(n: usize, failing: usize) -> Snapshot {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let changes: Vec<Change> = (0..n)
            .map(|i| {
                let mut c = weighted(
                    "mv.lab.test",
                    &format!("mv-{i:02}"),
                    1,
                    vec![format!("192.0.2.{i}")],
                );
                c.record_set.weight = None;
                c.record_set.multivalue = true;
                if i < failing {
                    c.record_set.health_check_id = Some(s.failed_test_check(&format!("mv{i}")));
                }
                c
            })
            .collect();
        s.change(&zone.id, &changes, None, 1).unwrap();
        Snapshot::of_zones(&s, &AnswerCounters::default())
    }

    /// The sorted addresses `name` A answers with, for a query from 127.0.0.1 and `random`.
    fn answered(snap: &Snapshot, name: &str, random: u64) -> Vec<String> {
        let mut out = Vec::new();
        reply(
            snap,
            &query(name),
            Transport::Udp,
            "127.0.0.1".parse().unwrap(),
            random,
            &mut out,
        )
        .unwrap();
        let m = Message::from_vec(&out).unwrap();
        let mut a: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
        a.sort();
        a
    }

    /// Wildcard records (RFC 4592, as Route 53 serves them): `*.lab.test` answers names that do
    /// not exist, at any depth, with the question's name as owner; not a name that exists (of
    /// another type: NODATA), nor a name below an existing one without a wildcard of its own.
    #[test]
    fn wildcard_records_answer_names_that_do_not_exist() {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let simple = |name: &str, value: &str| {
            let mut c = weighted(name, "x", 1, vec![value.into()]);
            c.record_set.set_identifier = None;
            c.record_set.weight = None;
            c
        };
        let changes = vec![
            simple("*.lab.test", "192.0.2.9"),
            simple("www.lab.test", "192.0.2.1"),
            simple("x.y.lab.test", "192.0.2.2"),
        ];
        s.change(&zone.id, &changes, None, 1).unwrap();
        let snap = Snapshot::of_zones(&s, &AnswerCounters::default());
        let ask = |name: &str, rtype: RecordType| {
            let mut m = Message::query();
            m.queries
                .push(Query::query(Name::from_ascii(name).unwrap(), rtype));
            let mut out = Vec::new();
            reply(
                &snap,
                &m.to_vec().unwrap(),
                Transport::Udp,
                "127.0.0.1".parse().unwrap(),
                0,
                &mut out,
            )
            .unwrap();
            let r = Message::from_vec(&out).unwrap();
            let answers: Vec<(String, String)> = r
                .answers
                .iter()
                .map(|a| (a.name.to_ascii(), a.data.to_string()))
                .collect();
            (r.metadata.response_code, answers)
        };
        let ok = ResponseCode::NoError;
        let wild = |name: &str| (ok, vec![(name.to_owned(), "192.0.2.9".to_owned())]);
        assert_eq!(ask("foo.lab.test.", RecordType::A), wild("foo.lab.test."));
        assert_eq!(ask("a.b.lab.test.", RecordType::A), wild("a.b.lab.test."));
        assert_eq!(
            ask("www.lab.test.", RecordType::A).1,
            [("www.lab.test.".to_owned(), "192.0.2.1".to_owned())]
        );
        // A name that exists, of another type: NODATA, not the wildcard.
        assert_eq!(ask("www.lab.test.", RecordType::AAAA), (ok, Vec::new()));
        // y.lab.test exists (a name below it): NODATA; below it, no wildcard of its own: NXDOMAIN.
        assert_eq!(ask("y.lab.test.", RecordType::A), (ok, Vec::new()));
        assert_eq!(
            ask("z.y.lab.test.", RecordType::A).0,
            ResponseCode::NXDomain
        );
        // The wildcard's own name answers as itself.
        assert_eq!(ask("*.lab.test.", RecordType::A), wild("*.lab.test."));
    }

    /// Weighted alias records: `w.lab.test` aliases to `a.lab.test` (weight 1) and
    /// `b.lab.test` (weight 3), both with `EvaluateTargetHealth`. Answers follow the weights;
    /// once `a`'s records are gone its turn goes to `b`.
    #[test]
    fn weighted_alias_records_answer_by_weight_and_pass_an_empty_targets_turn() {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let mut pools = vec![
            weighted("a.lab.test", "a", 1, vec!["192.0.2.1".into()]),
            weighted("b.lab.test", "b", 1, vec!["192.0.2.2".into()]),
        ];
        for p in &mut pools {
            p.record_set.set_identifier = None;
            p.record_set.weight = None;
        }
        let alias = |id: &str, w: i64, target: &str| {
            let mut c = weighted("w.lab.test", id, w, Vec::new());
            c.record_set.ttl = None;
            c.record_set.alias = Some(registry::model::AliasTarget {
                hosted_zone_id: zone.id.clone(),
                dns_name: Fqdn::parse(target).unwrap(),
                evaluate_target_health: true,
            });
            c
        };
        let mut changes = pools.clone();
        changes.extend([
            alias("to-a", 1, "a.lab.test"),
            alias("to-b", 3, "b.lab.test"),
        ]);
        s.change(&zone.id, &changes, None, 1).unwrap();
        let snap = Snapshot::of_zones(&s, &AnswerCounters::default());
        let count = |snap: &Snapshot, address: &str| {
            (0..400)
                .filter(|&r| answered(snap, "w.lab.test.", r) == [address])
                .count()
        };
        assert_eq!(
            (count(&snap, "192.0.2.1"), count(&snap, "192.0.2.2")),
            (100, 300)
        );
        // a's address record is deleted (Route 53 allows it): its alias passes its turn to b.
        s.change(
            &zone.id,
            &[Change::delete(pools[0].record_set.clone())],
            None,
            2,
        )
        .unwrap();
        let snap = Snapshot::of_zones(&s, &AnswerCounters::default());
        assert_eq!(count(&snap, "192.0.2.2"), 400);
    }

    #[test]
    fn multivalue_answers_carry_up_to_eight_healthy_sets() {
        // Five sets, two failing: the three healthy ones, every time.
        let snap = multivalue_snapshot(5, 2);
        for random in 0..20 {
            assert_eq!(
                answered(&snap, "mv.lab.test.", random),
                ["192.0.2.2", "192.0.2.3", "192.0.2.4"]
            );
        }
        // Every set failing: Route 53 answers with the unhealthy ones.
        assert_eq!(
            answered(&multivalue_snapshot(3, 3), "mv.lab.test.", 7).len(),
            3
        );
        // Twelve healthy: eight at a time, different resolvers different combinations, and
        // every set in some answer.
        let snap = multivalue_snapshot(12, 0);
        let mut seen = std::collections::BTreeSet::new();
        let mut combinations = std::collections::BTreeSet::new();
        for random in 0..24 {
            let a = answered(&snap, "mv.lab.test.", random);
            assert_eq!(a.len(), 8, "{a:?}");
            combinations.insert(a.clone());
            seen.extend(a);
        }
        assert_eq!(seen.len(), 12);
        assert!(combinations.len() > 1);
    }

    #[test]
    fn client_subnets_pick_the_nearest_pool_and_carry_the_tables_scope() {
        let snap = geo_snapshot(false);
        let bos = ["192.0.2.1".to_owned()];
        let nyc = ["198.51.100.1".to_owned()];
        let q = |o: (u16, Vec<u8>)| with_options("edge.lab.test.", &[o]);
        // 127.0.0.0/10 is Boston, 127.64.0.0/10 New York in the lab table.
        let near_nyc = q(ecs(1, 24, 0, &[127, 64, 3]));
        assert_eq!(
            ask(&snap, &near_nyc, "127.0.0.1"),
            (ResponseCode::NoError, nyc.to_vec(), Some((24, 10)))
        );
        let near_bos = q(ecs(1, 24, 0, &[127, 1, 3]));
        assert_eq!(
            ask(&snap, &near_bos, "127.64.0.1"),
            (ResponseCode::NoError, bos.to_vec(), Some((24, 10)))
        );
        // Without ECS the source address places the client, and nothing is echoed.
        let plain = edns_query("edge.lab.test.", 1232);
        assert_eq!(ask(&snap, &plain, "127.64.0.1").1, nyc);
        assert_eq!(
            ask(&snap, &plain, "127.0.0.1"),
            (ResponseCode::NoError, bos.to_vec(), None)
        );
        // An unknown subnet: the first member by set identifier ("boston"), scope = source.
        let far = q(ecs(1, 20, 0, &[192, 0, 16]));
        assert_eq!(
            ask(&snap, &far, "127.64.0.1"),
            (ResponseCode::NoError, bos.to_vec(), Some((20, 20)))
        );
        // SOURCE PREFIX-LENGTH 0: nothing revealed, the place is unknown, scope 0.
        let none = q(ecs(1, 0, 0, &[]));
        assert_eq!(
            ask(&snap, &none, "127.64.0.1"),
            (ResponseCode::NoError, bos.to_vec(), Some((0, 0)))
        );
        // IPv6 ::1/128 is Boston.
        let v6 = q(ecs(
            2,
            128,
            0,
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ));
        assert_eq!(ask(&snap, &v6, "127.64.0.1").2, Some((128, 128)));
        // A weighted answer does not depend on the place: scope 0, and not the fast path.
        let www = with_options("www.lab.test.", &[ecs(1, 24, 0, &[127, 64, 3])]);
        assert_eq!(
            ask(&snap, &www, "127.0.0.1"),
            (
                ResponseCode::NoError,
                vec!["203.0.113.1".to_owned()],
                Some((24, 0))
            )
        );
        let mut out = Vec::new();
        assert!(fast::answer(&snap, &www, Transport::Udp, 0, &mut out).is_none());
        // Geoproximity names never take the fast path, with or without EDNS.
        for q in [query("edge.lab.test."), plain.clone(), near_nyc] {
            assert!(fast::answer(&snap, &q, Transport::Udp, 0, &mut out).is_none());
        }
    }

    #[test]
    fn an_emptied_pool_sends_its_clients_to_the_next_nearest() {
        let snap = geo_snapshot(true);
        let q = with_options("edge.lab.test.", &[ecs(1, 24, 0, &[127, 1, 3])]);
        assert_eq!(
            ask(&snap, &q, "127.0.0.1"),
            (
                ResponseCode::NoError,
                vec!["198.51.100.1".to_owned()],
                Some((24, 10))
            )
        );
    }

    #[test]
    fn malformed_or_repeated_client_subnets_get_formerr_without_an_echo() {
        let snap = geo_snapshot(false);
        let good = ecs(1, 24, 0, &[127, 1, 3]);
        let cases = [
            ("family 3", vec![ecs(3, 24, 0, &[127, 1, 3])]),
            ("source 33", vec![ecs(1, 33, 0, &[127, 1, 3, 4, 5])]),
            ("address too long", vec![ecs(1, 16, 0, &[127, 1, 3])]),
            ("address too short", vec![ecs(1, 24, 0, &[127, 1])]),
            ("host bits", vec![ecs(1, 23, 0, &[127, 1, 3])]),
            ("scope in a query", vec![ecs(1, 24, 8, &[127, 1, 3])]),
            ("two options", vec![good.clone(), good.clone()]),
            ("shorter than its fixed part", vec![(8, vec![0, 1, 24])]),
        ];
        for (what, options) in cases {
            let q = with_options("edge.lab.test.", &options);
            for (_, out) in formerr_both_ways(&snap, &q, what) {
                assert!(out.len() <= q.len() + OPT_LEN, "{what}: no amplification");
                if let Ok(m) = Message::from_vec(&out) {
                    assert!(m.answers.is_empty(), "{what}");
                    assert!(
                        m.edns
                            .as_ref()
                            .is_none_or(|e| e.options().options.is_empty()),
                        "{what}: nothing echoed"
                    );
                }
            }
        }
        // The good option alone is answered.
        let q = with_options("edge.lab.test.", &[good, (10, vec![7; 8])]);
        assert_eq!(ask(&snap, &q, "127.0.0.1").0, ResponseCode::NoError);
    }
}

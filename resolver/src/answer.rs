//! Answering one DNS query from a [`Snapshot`]: pure, with the randomness passed in.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::snapshot::{Rrset, Snapshot, WeightedSet, ZoneView};

/// The largest UDP payload this server advertises and sends (RFC 9715's 1232-byte advice).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// How many CNAMEs are followed inside a zone.
const MAX_CNAME_CHAIN: usize = 8;

/// How the query arrived, which bounds the response size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: 512 bytes, or the client's EDNS buffer size up to [`MAX_UDP_PAYLOAD`].
    Udp,
    /// TCP: 65535 bytes.
    Tcp,
}

/// A response, with what the metrics need to know about it.
#[derive(Debug, Clone)]
pub struct Response<'s> {
    /// The wire bytes.
    pub bytes: Vec<u8>,
    /// Its RCODE.
    pub rcode: ResponseCode,
    /// The question's type (`None` when there was no usable question).
    pub qtype: Option<RecordType>,
    /// The weighted set answered.
    pub picked: Option<&'s WeightedSet>,
    /// True when the answer did not fit and TC was set.
    pub truncated: bool,
}

/// Answers `packet`. Returns `None` for input that must be ignored: fewer than 12 bytes (no
/// header to answer to) or a message that is itself a response.
pub fn respond<'s>(
    snapshot: &'s Snapshot,
    packet: &[u8],
    transport: Transport,
    random: u64,
) -> Option<Response<'s>> {
    if packet.len() < 12 {
        return None;
    }
    let request = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(_) => return Some(format_error(packet)),
    };
    if request.metadata.message_type == MessageType::Response {
        return None;
    }
    let mut resp = Message::response(request.metadata.id, request.metadata.op_code);
    resp.metadata.recursion_desired = request.metadata.recursion_desired;
    resp.metadata.checking_disabled = request.metadata.checking_disabled;
    resp.queries = request.queries.clone();
    let max_size = match (transport, &request.edns) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, Some(e)) => usize::from(e.max_payload().clamp(512, MAX_UDP_PAYLOAD)),
        (Transport::Udp, None) => 512,
    };
    if let Some(req_edns) = &request.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        edns.set_version(0);
        resp.edns = Some(edns);
        if req_edns.version() != 0 {
            // BADVERS (16): the high bits travel in the OPT record.
            set_rcode(&mut resp, ResponseCode::BADVERS);
            return Some(finish(resp, None, None, max_size));
        }
    }
    if request.metadata.op_code != OpCode::Query {
        set_rcode(&mut resp, ResponseCode::NotImp);
        return Some(finish(resp, None, None, max_size));
    }
    let [query] = request.queries.as_slice() else {
        set_rcode(&mut resp, ResponseCode::FormErr);
        return Some(finish(resp, None, None, max_size));
    };
    let qtype = query.query_type;
    let qname = query.name.to_lowercase().to_ascii();
    let qname = if qname.ends_with('.') {
        qname
    } else {
        qname + "."
    };
    let Some(zone) = snapshot.zone_for(&qname) else {
        set_rcode(&mut resp, ResponseCode::Refused);
        return Some(finish(resp, Some(qtype), None, max_size));
    };
    resp.metadata.authoritative = true;
    let picked = answer_in_zone(zone, &qname, query.name.clone(), qtype, random, &mut resp);
    Some(finish(resp, Some(qtype), picked, max_size))
}

fn answer_in_zone<'s>(
    zone: &'s ZoneView,
    qname: &str,
    original: hickory_proto::rr::Name,
    qtype: RecordType,
    random: u64,
    resp: &mut Message,
) -> Option<&'s WeightedSet> {
    let mut name = qname.to_owned();
    let mut owner = original;
    let mut picked = None;
    for _ in 0..MAX_CNAME_CHAIN {
        let Some(node) = zone.nodes.get(&name) else {
            if resp.answers.is_empty() {
                if !zone.interior.contains(&name) {
                    set_rcode(resp, ResponseCode::NXDomain);
                }
                resp.authorities.push(negative_soa(zone));
            }
            return picked;
        };
        if qtype == RecordType::ANY {
            // RFC 8482: a minimal answer instead of everything at the name.
            let ttl = node_ttl(node);
            resp.answers.push(Record::from_rdata(
                owner,
                ttl,
                RData::HINFO(HINFO::new("RFC8482".into(), String::new())),
            ));
            return picked;
        }
        let rrset = node.rrsets.get(&qtype).or_else(|| {
            (qtype != RecordType::CNAME)
                .then(|| node.rrsets.get(&RecordType::CNAME))
                .flatten()
        });
        let Some(rrset) = rrset else {
            if resp.answers.is_empty() {
                resp.authorities.push(negative_soa(zone));
            }
            return picked;
        };
        let records: Vec<Record> = match rrset {
            Rrset::Simple(records) => records.clone(),
            Rrset::Weighted(group) => match group.pick(random) {
                Some(set) => {
                    picked = Some(set);
                    set.records.clone()
                }
                None => Vec::new(),
            },
        };
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
            return picked;
        };
        let target_key = target.to_lowercase().to_ascii();
        if zone.nodes.contains_key(&target_key) || zone.interior.contains(&target_key) {
            name = target_key;
            owner = target;
        } else {
            return picked;
        }
    }
    picked
}

fn node_ttl(node: &crate::snapshot::Node) -> u32 {
    node.rrsets
        .values()
        .filter_map(|r| match r {
            Rrset::Simple(records) => records.first().map(|r| r.ttl),
            Rrset::Weighted(g) => g
                .sets
                .first()
                .and_then(|s| s.records.first())
                .map(|r| r.ttl),
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

/// Encodes, truncating (TC=1, empty sections) when the response does not fit.
fn finish(
    mut resp: Message,
    qtype: Option<RecordType>,
    picked: Option<&WeightedSet>,
    max_size: usize,
) -> Response<'_> {
    let rcode = resp.metadata.response_code;
    let mut truncated = false;
    let mut bytes = resp.to_vec().unwrap_or_default();
    if bytes.len() > max_size || bytes.is_empty() {
        resp.answers.clear();
        resp.authorities.clear();
        resp.additionals.clear();
        resp.metadata.truncation = true;
        truncated = true;
        bytes = resp.to_vec().unwrap_or_default();
    }
    Response {
        bytes,
        rcode,
        qtype,
        picked: if truncated { None } else { picked },
        truncated,
    }
}

/// FORMERR for a message with a header that does not parse: same id and opcode, no sections.
fn format_error(packet: &[u8]) -> Response<'static> {
    let mut bytes = vec![0u8; 12];
    bytes[0] = packet[0];
    bytes[1] = packet[1];
    // QR=1, the request's opcode, RD echoed; RCODE=FORMERR (1).
    bytes[2] = 0x80 | (packet[2] & 0x79);
    bytes[3] = ResponseCode::FormErr.low();
    Response {
        bytes,
        rcode: ResponseCode::FormErr,
        qtype: None,
        picked: None,
        truncated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use prometheus_client::metrics::family::Family;
    use registry::model::{Change, RecordSet};
    use registry::name::Fqdn;

    fn store() -> Store {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let set = |id: &str, w: i64, ip: &str| RecordSet {
            name: Fqdn::parse("www.lab.test").unwrap(),
            rtype: "A".into(),
            set_identifier: Some(id.into()),
            weight: Some(w),
            ttl: Some(30),
            values: vec![ip.into()],
            opaque: None,
        };
        s.change(
            &zone.id,
            &[
                Change::create(set("a", 1, "192.0.2.1")),
                Change::create(set("b", 3, "192.0.2.2")),
            ],
            None,
            1,
        )
        .unwrap();
        s
    }

    fn query(name: &str) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 0x4242;
        m.queries
            .push(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        m.to_vec().unwrap()
    }

    #[test]
    fn the_random_number_picks_by_cumulative_weight() {
        let snap = Snapshot::of_store(&store(), &Family::default());
        let pick = |r| {
            respond(&snap, &query("www.lab.test."), Transport::Udp, r)
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
        let snap = Snapshot::of_store(&store(), &Family::default());
        assert!(respond(&snap, &[1, 2, 3], Transport::Udp, 0).is_none());
        let mut resp = query("www.lab.test.");
        resp[2] |= 0x80;
        assert!(respond(&snap, &resp, Transport::Udp, 0).is_none());
        let mut bad = query("www.lab.test.")[..14].to_vec();
        bad[0] = 0x99;
        let r = respond(&snap, &bad, Transport::Udp, 0).unwrap();
        assert_eq!(r.rcode, ResponseCode::FormErr);
        assert_eq!(&r.bytes[..2], &[0x99, 0x42]);
    }
}

//! The pure parts: DNS wire format for queries and replies, the query file, percentiles.

use std::net::Ipv4Addr;

/// Record types accepted by name in a query file (`TYPE123` works for any other).
const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("NAPTR", 35),
    ("DS", 43),
    ("DNSKEY", 48),
    ("HTTPS", 65),
    ("ANY", 255),
    ("CAA", 257),
];

/// The record type named `s` (case-insensitive), or `TYPEn`.
pub(crate) fn parse_type(s: &str) -> Option<u16> {
    let upper = s.to_ascii_uppercase();
    if let Some(&(_, t)) = TYPES.iter().find(|(n, _)| *n == upper) {
        return Some(t);
    }
    upper.strip_prefix("TYPE")?.parse().ok()
}

/// One query in wire format: id 0 (the sender patches bytes 0..2), RD set as dnsperf does, one
/// question of class IN, no EDNS.
pub(crate) fn encode_query(name: &str, qtype: u16) -> Result<Vec<u8>, String> {
    let mut q = vec![0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(format!("bad name {name:?}: labels are 1 to 63 bytes"));
            }
            q.push(label.len() as u8); // ≤ 63, checked above
            q.extend_from_slice(label.as_bytes());
        }
    }
    q.push(0);
    if q.len() - 12 > 255 {
        return Err(format!("bad name {name:?}: longer than 255 bytes"));
    }
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

/// The queries of a file in dnsperf's format: `name [TYPE]` per line (type A when absent), blank
/// lines and `;` comments skipped. Errors name the line.
pub(crate) fn parse_queries(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (name, ty) = (fields.next().unwrap_or(""), fields.next().unwrap_or("A"));
        let qtype =
            parse_type(ty).ok_or_else(|| format!("line {}: unknown record type {ty:?}", i + 1))?;
        out.push(encode_query(name, qtype).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    if out.is_empty() {
        return Err("no queries in the file".into());
    }
    Ok(out)
}

/// What the load generator needs from one reply.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The DNS id, to match the query.
    pub id: u16,
    /// The response code (the header's 4 bits).
    pub rcode: u8,
    /// The first A record's address in the answer section, if any.
    pub first_a: Option<Ipv4Addr>,
}

/// Parses a reply; `None` when it is shorter than a header or not a response (QR clear). A
/// malformed body still yields the id and rcode, with no address.
pub(crate) fn parse_reply(buf: &[u8]) -> Option<Reply> {
    if buf.len() < 12 || buf[2] & 0x80 == 0 {
        return None;
    }
    let id = u16::from_be_bytes([buf[0], buf[1]]);
    Some(Reply {
        id,
        rcode: buf[3] & 0x0f,
        first_a: first_a(buf),
    })
}

fn first_a(buf: &[u8]) -> Option<Ipv4Addr> {
    let count = |at: usize| u16::from_be_bytes([buf[at], buf[at + 1]]);
    let mut pos = 12;
    for _ in 0..count(4) {
        pos = skip_name(buf, pos)? + 4;
    }
    for _ in 0..count(6) {
        pos = skip_name(buf, pos)?;
        let fixed = buf.get(pos..pos + 10)?;
        let (rtype, rdlen) = (
            u16::from_be_bytes([fixed[0], fixed[1]]),
            usize::from(u16::from_be_bytes([fixed[8], fixed[9]])),
        );
        let rdata = buf.get(pos + 10..pos + 10 + rdlen)?;
        if rtype == 1 && rdlen == 4 {
            return Some(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        pos += 10 + rdlen;
    }
    None
}

/// The offset just past the (possibly compressed) name at `pos`.
fn skip_name(buf: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *buf.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + usize::from(len),
            0xc0 => return Some(pos + 2),
            _ => return None,
        }
    }
}

/// The nearest-rank `p`-th percentile of sorted values (`None` when empty).
pub(crate) fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    let n = sorted.len();
    let rank = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n.max(1));
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_query() {
        let q = encode_query("www.lab.test.", 1).unwrap();
        let mut want = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x03www\x03lab\x04test\x00\x00\x01\x00\x01");
        assert_eq!(q, want);
        assert_eq!(encode_query(".", 2).unwrap()[12..], [0, 0, 2, 0, 1]);
        assert!(encode_query("a..b", 1).is_err());
        assert!(encode_query(&"x".repeat(64), 1).is_err());
    }

    #[test]
    fn reads_a_query_file() {
        let qs = parse_queries("; comment\nwww.lab.test A\n\nnx.lab.test aaaa\nbare\n").unwrap();
        assert_eq!(qs.len(), 3);
        assert_eq!(qs[1][qs[1].len() - 4..], [0, 28, 0, 1]);
        assert_eq!(qs[2][qs[2].len() - 4..], [0, 1, 0, 1]);
        assert_eq!(parse_type("type99"), Some(99));
        assert!(
            parse_queries("x.test BOGUS\n")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(parse_queries("; nothing\n").is_err());
    }

    #[test]
    fn parses_replies() {
        // A reply to www.lab.test A: a CNAME-free answer with two A records, the name compressed.
        let mut r = encode_query("www.lab.test", 1).unwrap();
        r[0..4].copy_from_slice(&[0x12, 0x34, 0x85, 0x00]);
        r[7] = 2;
        for last in [12u8, 13] {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, last]);
        }
        let want = Reply {
            id: 0x1234,
            rcode: 0,
            first_a: Some(Ipv4Addr::new(127, 0, 0, 12)),
        };
        assert_eq!(parse_reply(&r), Some(want));
        // NXDOMAIN, no answers; a truncated body keeps id and rcode; a query is no reply.
        let mut nx = encode_query("nx.lab.test", 1).unwrap();
        nx[2..4].copy_from_slice(&[0x85, 0x03]);
        assert_eq!(
            parse_reply(&nx).map(|r| (r.rcode, r.first_a)),
            Some((3, None))
        );
        assert_eq!(
            parse_reply(&r[..r.len() - 20]).map(|r| r.first_a),
            Some(None)
        );
        assert_eq!(parse_reply(&encode_query("a.test", 1).unwrap()), None);
    }

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}

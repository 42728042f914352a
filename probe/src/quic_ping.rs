//! `quic-ping`: is a QUIC stack listening? No TLS, no connection state on the server.
//!
//! We send a datagram shaped like a client Initial (long header, 1200 bytes, padded) but with
//! a reserved version of the form `0x?a?a?a?a` (RFC 9000 §15), which no server supports. A QUIC
//! server answers with a Version Negotiation packet (RFC 9000 §17.2.1): long header, version
//! 0, our source connection id as its destination and our destination id as its source, and
//! the list of versions it supports.

use std::net::SocketAddr;

use super::udp::exchange;
use super::{Failure, Outcome, Resend};

/// Clients must pad Initial packets to at least 1200 bytes (RFC 9000 §14.1); servers drop
/// smaller ones.
const DATAGRAM_LEN: usize = 1200;
const CID_LEN: usize = 8;

pub(crate) async fn run(target: SocketAddr, resend: Resend) -> Outcome {
    let dcid: [u8; CID_LEN] = rand::random();
    let scid: [u8; CID_LEN] = rand::random();
    let version = reserved_version(rand::random());
    let reply = exchange(target, &initial(version, &dcid, &scid), resend).await?;
    let detail = parse_version_negotiation(&reply.bytes, version, &dcid, &scid)
        .map_err(|e| Failure::bad_reply(e.to_string()))?;
    Ok(reply.success(detail))
}

/// A version of the reserved form `0x?a?a?a?a` from random bits.
pub fn reserved_version(random: u32) -> u32 {
    (random & 0xF0F0_F0F0) | 0x0A0A_0A0A
}

/// The Initial-shaped probe datagram.
pub fn initial(version: u32, dcid: &[u8], scid: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(DATAGRAM_LEN);
    p.push(0xC0); // long header, fixed bit, type Initial, packet number length 1
    p.extend_from_slice(&version.to_be_bytes());
    p.push(dcid.len() as u8);
    p.extend_from_slice(dcid);
    p.push(scid.len() as u8);
    p.extend_from_slice(scid);
    p.push(0); // token length (varint 0)
    // Length (2-byte varint) of packet number + payload: the rest of the datagram.
    let rest = DATAGRAM_LEN - p.len() - 2;
    p.extend_from_slice(&(0x4000 | rest as u16).to_be_bytes());
    p.resize(DATAGRAM_LEN, 0); // packet number 0 and PADDING frames
    p
}

/// Why a reply is not a Version Negotiation for our packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionNegotiationError {
    /// Too short for a long header (this many bytes).
    #[error("{0} byte reply is too short for a QUIC long header")]
    Short(usize),
    /// A short-header packet (its first byte).
    #[error("a QUIC short-header packet (first byte 0x{0:02x}), not a version negotiation")]
    ShortHeader(u8),
    /// A long header of another version.
    #[error("a long-header packet of version 0x{0:08x}, not a version negotiation (0)")]
    Version(u32),
    /// No connection id length.
    #[error("truncated connection id")]
    TruncatedCid,
    /// A connection id longer than the packet.
    #[error("connection id overruns the packet")]
    CidOverrun,
    /// The connection ids are not ours, swapped.
    #[error("version negotiation does not echo our connection ids")]
    NotOurs,
    /// The version list's length (bytes).
    #[error("version list of {0} bytes is not a non-empty multiple of 4")]
    List(usize),
    /// The list offers our reserved version.
    #[error("version negotiation lists our reserved version 0x{0:08x}")]
    ListsOurs(u32),
}

/// Checks that `reply` is a Version Negotiation for our packet; returns the versions offered.
pub fn parse_version_negotiation(
    reply: &[u8],
    our_version: u32,
    dcid: &[u8],
    scid: &[u8],
) -> Result<String, VersionNegotiationError> {
    if reply.len() < 7 {
        return Err(VersionNegotiationError::Short(reply.len()));
    }
    if reply[0] & 0x80 == 0 {
        return Err(VersionNegotiationError::ShortHeader(reply[0]));
    }
    let version = u32::from_be_bytes([reply[1], reply[2], reply[3], reply[4]]);
    if version != 0 {
        return Err(VersionNegotiationError::Version(version));
    }
    let mut at = 5;
    let their_dcid = take_cid(reply, &mut at)?;
    let their_scid = take_cid(reply, &mut at)?;
    if their_dcid != scid || their_scid != dcid {
        return Err(VersionNegotiationError::NotOurs);
    }
    let list = &reply[at..];
    if list.is_empty() || !list.len().is_multiple_of(4) {
        return Err(VersionNegotiationError::List(list.len()));
    }
    let versions: Vec<u32> = list
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if versions.contains(&our_version) {
        return Err(VersionNegotiationError::ListsOurs(our_version));
    }
    let shown: Vec<String> = versions.iter().map(|v| format!("0x{v:08x}")).collect();
    Ok(format!("version negotiation: {}", shown.join(", ")))
}

fn take_cid<'a>(reply: &'a [u8], at: &mut usize) -> Result<&'a [u8], VersionNegotiationError> {
    let len = usize::from(
        *reply
            .get(*at)
            .ok_or(VersionNegotiationError::TruncatedCid)?,
    );
    let cid = reply
        .get(*at + 1..*at + 1 + len)
        .ok_or(VersionNegotiationError::CidOverrun)?;
    *at += 1 + len;
    Ok(cid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vn(dcid: &[u8], scid: &[u8], versions: &[u32]) -> Vec<u8> {
        let mut p = vec![0x80 | 0x2a, 0, 0, 0, 0];
        p.push(dcid.len() as u8);
        p.extend_from_slice(dcid);
        p.push(scid.len() as u8);
        p.extend_from_slice(scid);
        for v in versions {
            p.extend_from_slice(&v.to_be_bytes());
        }
        p
    }

    #[test]
    fn probe_packet_shape() {
        let v = reserved_version(0xFFFF_FFFF);
        assert_eq!(v, 0xFAFA_FAFA);
        assert_eq!(reserved_version(0) & 0x0F0F_0F0F, 0x0A0A_0A0A);
        let p = initial(v, &[1; 8], &[2; 8]);
        assert_eq!(p.len(), 1200);
        assert_eq!(p[0], 0xC0);
        assert_eq!(&p[1..5], &v.to_be_bytes());
        assert_eq!(p[5], 8);
        assert_eq!(p[14], 8);
        // Length field covers exactly the rest of the datagram.
        let len = u16::from_be_bytes([p[24], p[25]]) & 0x3FFF;
        assert_eq!(usize::from(len), 1200 - 26);
    }

    #[test]
    fn accepts_only_a_matching_version_negotiation() {
        let (d, s) = ([1u8; 8], [2u8; 8]);
        let ok = vn(&s, &d, &[1, 0x6b33_43cf]);
        assert_eq!(
            parse_version_negotiation(&ok, 0x1a2a_3a4a, &d, &s).unwrap(),
            "version negotiation: 0x00000001, 0x6b3343cf"
        );
        assert!(parse_version_negotiation(&vn(&d, &s, &[1]), 0x1a2a_3a4a, &d, &s).is_err());
        assert!(parse_version_negotiation(&vn(&s, &d, &[]), 0x1a2a_3a4a, &d, &s).is_err());
        assert!(
            parse_version_negotiation(&vn(&s, &d, &[0x1a2a_3a4a]), 0x1a2a_3a4a, &d, &s).is_err()
        );
        let mut not_vn = ok.clone();
        not_vn[4] = 1;
        assert!(parse_version_negotiation(&not_vn, 0x1a2a_3a4a, &d, &s).is_err());
        assert!(parse_version_negotiation(&ok[..10], 0x1a2a_3a4a, &d, &s).is_err());
        assert!(parse_version_negotiation(b"hello", 0x1a2a_3a4a, &d, &s).is_err());
    }
}

//! `stun`: a Binding Request (RFC 8489, compatible with RFC 5389) and a defensive parse of the
//! response.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::udp::exchange;
use super::{Failure, Outcome, Resend};

const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;
const HEADER_LEN: usize = 20;
const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;

pub(crate) async fn run(target: SocketAddr, resend: Resend) -> Outcome {
    // Every send carries the same transaction id, as RFC 8489 section 6.2.1 retransmits.
    let txid: [u8; 12] = rand::random();
    let reply = exchange(target, &request(&txid), resend).await?;
    let detail =
        parse_response(&reply.bytes, &txid).map_err(|e| Failure::bad_reply(e.to_string()))?;
    Ok(reply.success(detail))
}

/// A Binding Request with no attributes.
pub fn request(txid: &[u8; 12]) -> [u8; HEADER_LEN] {
    let mut msg = [0u8; HEADER_LEN];
    msg[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
    // Message length 0: no attributes.
    msg[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    msg[8..20].copy_from_slice(txid);
    msg
}

/// Why a reply is not a Binding Success Response to our request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// Shorter than the 20-byte header (this many bytes).
    #[error("{0} byte reply is shorter than a STUN header")]
    Short(usize),
    /// The top two bits of the type are set.
    #[error("not a STUN message (type 0x{0:04x})")]
    NotStun(u16),
    /// Not RFC 5389's magic cookie.
    #[error("wrong magic cookie 0x{0:08x}")]
    Cookie(u32),
    /// The header's length does not fit the datagram.
    #[error("message length {length} does not fit the {datagram} byte datagram")]
    Length {
        /// The header's message length.
        length: usize,
        /// The datagram's size.
        datagram: usize,
    },
    /// Another request's transaction id.
    #[error("transaction id does not match the request")]
    Transaction,
    /// Fewer than 4 bytes left for an attribute header.
    #[error("truncated attribute header")]
    AttributeHeader,
    /// An attribute longer than what is left.
    #[error("attribute 0x{0:04x} overruns the message")]
    Overrun(u16),
    /// A Binding Error Response, with its ERROR-CODE as the server wrote it (escaped).
    #[error("binding error response {0}")]
    ErrorResponse(String),
    /// Another message type.
    #[error("unexpected STUN message type 0x{0:04x} (want a binding success 0x0101)")]
    Unexpected(u16),
}

/// Checks that `reply` is a Binding Success Response to `txid`; returns a detail such as
/// `mapped 198.51.100.7:40000`, or why it is not.
pub fn parse_response(reply: &[u8], txid: &[u8; 12]) -> Result<String, StunError> {
    if reply.len() < HEADER_LEN {
        return Err(StunError::Short(reply.len()));
    }
    let msg_type = u16::from_be_bytes([reply[0], reply[1]]);
    if msg_type & 0xC000 != 0 {
        return Err(StunError::NotStun(msg_type));
    }
    let length = usize::from(u16::from_be_bytes([reply[2], reply[3]]));
    let cookie = u32::from_be_bytes([reply[4], reply[5], reply[6], reply[7]]);
    if cookie != MAGIC_COOKIE {
        return Err(StunError::Cookie(cookie));
    }
    if !length.is_multiple_of(4) || HEADER_LEN + length != reply.len() {
        return Err(StunError::Length {
            length,
            datagram: reply.len(),
        });
    }
    if reply[8..20] != txid[..] {
        return Err(StunError::Transaction);
    }
    let attrs = attributes(&reply[HEADER_LEN..])?;
    match msg_type {
        BINDING_SUCCESS => {
            let mapped = attrs
                .iter()
                .find(|(t, _)| *t == ATTR_XOR_MAPPED_ADDRESS)
                .and_then(|(_, v)| address(v, Some(txid)))
                .or_else(|| {
                    attrs
                        .iter()
                        .find(|(t, _)| *t == ATTR_MAPPED_ADDRESS)
                        .and_then(|(_, v)| address(v, None))
                });
            Ok(match mapped {
                Some(addr) => format!("binding success, mapped {addr}"),
                None => "binding success".to_owned(),
            })
        }
        BINDING_ERROR => {
            let error = attrs
                .iter()
                .find(|(t, _)| *t == ATTR_ERROR_CODE)
                .map(|(_, v)| error_code(v))
                .unwrap_or_else(|| "without an ERROR-CODE".to_owned());
            Err(StunError::ErrorResponse(error))
        }
        other => Err(StunError::Unexpected(other)),
    }
}

/// Splits the attribute section into (type, value) pairs, checking every length.
fn attributes(mut rest: &[u8]) -> Result<Vec<(u16, &[u8])>, StunError> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(StunError::AttributeHeader);
        }
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let padded = len.div_ceil(4) * 4;
        if rest.len() < 4 + padded {
            return Err(StunError::Overrun(kind));
        }
        out.push((kind, &rest[4..4 + len]));
        rest = &rest[4 + padded..];
    }
    Ok(out)
}

/// Decodes a (XOR-)MAPPED-ADDRESS value; `txid` given means XOR-encoded.
fn address(value: &[u8], txid: Option<&[u8; 12]>) -> Option<SocketAddr> {
    if value.len() < 4 {
        return None;
    }
    let family = value[1];
    let mut port = u16::from_be_bytes([value[2], value[3]]);
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mut mask = [0u8; 16];
    if let Some(txid) = txid {
        port ^= (MAGIC_COOKIE >> 16) as u16;
        mask[..4].copy_from_slice(&cookie);
        mask[4..].copy_from_slice(txid);
    }
    let ip = match (family, value.len()) {
        (0x01, 8) => {
            let mut b = [0u8; 4];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = value[4 + i] ^ mask[i];
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        (0x02, 20) => {
            let mut b = [0u8; 16];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = value[4 + i] ^ mask[i];
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Renders an ERROR-CODE value as e.g. `420 Unknown Attribute`.
fn error_code(value: &[u8]) -> String {
    if value.len() < 4 {
        return "with a malformed ERROR-CODE".to_owned();
    }
    let code = u16::from(value[2] & 0x07) * 100 + u16::from(value[3]);
    let phrase = String::from_utf8_lossy(&value[4..]);
    let phrase = phrase.trim();
    if phrase.is_empty() {
        code.to_string()
    } else {
        format!("{code} {}", phrase.escape_debug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(msg_type: u16, txid: &[u8; 12], attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(v.len() as u16).to_be_bytes());
            body.extend_from_slice(v);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
        }
        let mut msg = Vec::new();
        msg.extend_from_slice(&msg_type.to_be_bytes());
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        msg.extend_from_slice(txid);
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn request_layout() {
        let txid = [7u8; 12];
        let r = request(&txid);
        assert_eq!(&r[..8], &[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
        assert_eq!(&r[8..], &txid);
    }

    #[test]
    fn success_with_xor_mapped_address() {
        let txid = [1u8; 12];
        // 192.0.2.1:32853 XOR-encoded (RFC 5769 style).
        let port = 32853u16 ^ 0x2112;
        let ip = [192 ^ 0x21, 0x12, 2 ^ 0xa4, 1 ^ 0x42]; // 192.0.2.1 XOR the cookie
        let mut v = vec![0, 1];
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&ip);
        let msg = response(BINDING_SUCCESS, &txid, &[(ATTR_XOR_MAPPED_ADDRESS, &v)]);
        assert_eq!(
            parse_response(&msg, &txid).unwrap(),
            "binding success, mapped 192.0.2.1:32853"
        );
    }

    #[test]
    fn error_response_reports_the_code() {
        let txid = [2u8; 12];
        let msg = response(
            BINDING_ERROR,
            &txid,
            &[(ATTR_ERROR_CODE, b"\0\0\x04\x14Unknown Attribute")],
        );
        let err = parse_response(&msg, &txid).unwrap_err().to_string();
        assert!(err.contains("420 Unknown Attribute"), "{err}");
    }

    #[test]
    fn defensive_parsing() {
        let txid = [3u8; 12];
        let ok = response(BINDING_SUCCESS, &txid, &[]);
        assert!(parse_response(&ok, &txid).is_ok());
        assert!(parse_response(&ok[..19], &txid).is_err(), "short");
        assert!(parse_response(&ok, &[4u8; 12]).is_err(), "other txid");
        let mut bad_len = ok.clone();
        bad_len[3] = 8;
        assert!(parse_response(&bad_len, &txid).is_err(), "length overruns");
        let overrun = response(BINDING_SUCCESS, &txid, &[(0x8022, b"abcd")]);
        assert!(parse_response(&overrun, &txid).is_ok());
        let mut attr_overrun = overrun;
        attr_overrun[HEADER_LEN + 3] = 200; // attribute length past the end
        assert!(parse_response(&attr_overrun, &txid).is_err());
        let mut not_stun = ok;
        not_stun[0] = 0x80;
        assert!(parse_response(&not_stun, &txid).is_err());
    }
}

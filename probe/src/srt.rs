//! `srt`: the first step of an SRT caller-listener handshake (draft-sharabayko-srt §4.3.1.1).
//!
//! The caller sends an INDUCTION handshake in HSv4 form (version 4, extension field 2 = the UDT
//! socket type DGRAM, SYN cookie 0); an SRT listener answers with its own INDUCTION handshake
//! carrying version 5, the SRT magic 0x4A17 in the extension field, our socket id as the
//! destination, and a SYN cookie. The probe stops there: no connection is made, and the
//! listener keeps no state for it (that is what the cookie is for).

use std::net::{IpAddr, SocketAddr};

use super::udp::exchange;
use super::{Failure, Outcome, Resend};

/// Header (16 bytes) + handshake CIF (48 bytes), without extensions.
const HANDSHAKE_LEN: usize = 64;
const CONTROL_HANDSHAKE: u32 = 0x8000_0000;
const HS_VERSION_UDT4: u32 = 4;
const HS_VERSION_SRT1: u32 = 5;
const UDT_DGRAM: u16 = 2;
const SRT_MAGIC: u16 = 0x4A17;
const HS_INDUCTION: u32 = 1;
/// Handshake types from 1000 on are rejections (1000 + reason code).
const HS_REJECT_BASE: u32 = 1000;
const MTU: u32 = 1500;
const FLOW_WINDOW: u32 = 8192;

pub(crate) async fn run(target: SocketAddr, resend: Resend) -> Outcome {
    // libsrt's socket ids are below 2^30; stay in that range and away from 0 ("no socket").
    let socket_id = rand::random_range(1..0x3FFF_FFFF_u32);
    let isn = rand::random_range(0..0x7FFF_FFFF_u32);
    let reply = exchange(target, &induction(socket_id, isn, target.ip()), resend).await?;
    let detail = parse_induction_response(&reply.bytes, socket_id)
        .map_err(|e| Failure::bad_reply(e.to_string()))?;
    Ok(reply.success(detail))
}

/// The caller's INDUCTION handshake packet.
pub fn induction(socket_id: u32, isn: u32, peer: IpAddr) -> [u8; HANDSHAKE_LEN] {
    let mut p = [0u8; HANDSHAKE_LEN];
    let mut put = |at: usize, v: u32| p[at..at + 4].copy_from_slice(&v.to_be_bytes());
    put(0, CONTROL_HANDSHAKE); // F=1, control type 0 (HANDSHAKE), subtype 0
    put(4, 0); // type-specific information
    put(8, 0); // timestamp
    put(12, 0); // destination socket id: 0 for the first packet
    put(16, HS_VERSION_UDT4);
    put(20, u32::from(UDT_DGRAM)); // encryption field 0, extension field 2
    put(24, isn);
    put(28, MTU);
    put(32, FLOW_WINDOW);
    put(36, HS_INDUCTION);
    put(40, socket_id);
    put(44, 0); // SYN cookie
    // Peer IP: the address we send to. libsrt writes each 32-bit word of the address in host
    // (little-endian) order; do the same so a listener that logs it shows the right address.
    let ip: [u8; 16] = match peer {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    };
    for (i, word) in ip.chunks_exact(4).enumerate() {
        let at = 48 + 4 * i;
        p[at..at + 4].copy_from_slice(&[word[3], word[2], word[1], word[0]]);
    }
    p
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Why a reply is not the listener's answer to our INDUCTION.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrtError {
    /// Shorter than a handshake (this many bytes).
    #[error("{0} byte reply is shorter than an SRT handshake ({HANDSHAKE_LEN})")]
    Short(usize),
    /// A data packet.
    #[error("an SRT data packet, not a handshake")]
    Data,
    /// Another control packet type.
    #[error("SRT control packet type 0x{0:04x}, not a handshake")]
    Control(u32),
    /// A handshake for another socket.
    #[error("handshake for socket id {theirs:#x}, not ours ({ours:#x})")]
    Socket {
        /// The destination socket id in the reply.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
    /// The listener rejected us (the handshake type; the reason is it minus 1000).
    #[error("the listener rejected the handshake (code {0}, reason {reason})", reason = .0 - HS_REJECT_BASE)]
    Rejected(u32),
    /// Another handshake type.
    #[error("handshake type {0:#x}, not INDUCTION (1)")]
    HandshakeType(u32),
    /// Not HSv5 with the SRT magic.
    #[error(
        "handshake version {version} extension 0x{extension:04x}, want version 5 with the SRT magic 0x4a17"
    )]
    Version {
        /// The handshake version.
        version: u32,
        /// The extension field.
        extension: u16,
    },
    /// No SYN cookie.
    #[error("induction response without a SYN cookie")]
    NoCookie,
}

/// Checks the listener's answer to our INDUCTION; returns a detail, or why it is wrong.
pub fn parse_induction_response(reply: &[u8], socket_id: u32) -> Result<String, SrtError> {
    if reply.len() < HANDSHAKE_LEN {
        return Err(SrtError::Short(reply.len()));
    }
    let first = be32(reply, 0);
    if first & 0x8000_0000 == 0 {
        return Err(SrtError::Data);
    }
    let control_type = (first >> 16) & 0x7FFF;
    if control_type != 0 {
        return Err(SrtError::Control(control_type));
    }
    let dest = be32(reply, 12);
    if dest != socket_id {
        return Err(SrtError::Socket {
            theirs: dest,
            ours: socket_id,
        });
    }
    let hs_type = be32(reply, 36);
    if hs_type >= HS_REJECT_BASE {
        return Err(SrtError::Rejected(hs_type));
    }
    if hs_type != HS_INDUCTION {
        return Err(SrtError::HandshakeType(hs_type));
    }
    let version = be32(reply, 16);
    let extension = u16::from_be_bytes([reply[22], reply[23]]);
    if version != HS_VERSION_SRT1 || extension != SRT_MAGIC {
        return Err(SrtError::Version { version, extension });
    }
    let cookie = be32(reply, 44);
    if cookie == 0 {
        return Err(SrtError::NoCookie);
    }
    Ok(format!(
        "srt listener, handshake v{version}, socket id {:#x}",
        be32(reply, 40)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener_reply(dest: u32, version: u32, ext: u16, hs_type: u32, cookie: u32) -> Vec<u8> {
        let mut r = induction(0x1234, 7, "127.0.0.1".parse().unwrap()).to_vec();
        r[12..16].copy_from_slice(&dest.to_be_bytes());
        r[16..20].copy_from_slice(&version.to_be_bytes());
        r[22..24].copy_from_slice(&ext.to_be_bytes());
        r[36..40].copy_from_slice(&hs_type.to_be_bytes());
        r[44..48].copy_from_slice(&cookie.to_be_bytes());
        r
    }

    #[test]
    fn induction_layout() {
        let p = induction(0x0102_0304, 5, "127.0.0.1".parse().unwrap());
        assert_eq!(&p[0..4], &[0x80, 0, 0, 0]);
        assert_eq!(be32(&p, 16), 4);
        assert_eq!(&p[20..24], &[0, 0, 0, 2]);
        assert_eq!(be32(&p, 36), 1);
        assert_eq!(be32(&p, 40), 0x0102_0304);
        assert_eq!(be32(&p, 44), 0);
        assert_eq!(&p[48..52], &[1, 0, 0, 127]);
    }

    #[test]
    fn accepts_only_a_v5_induction_for_our_socket() {
        assert!(
            parse_induction_response(&listener_reply(9, 5, 0x4A17, 1, 42), 9)
                .unwrap()
                .contains("srt listener")
        );
        assert!(parse_induction_response(&listener_reply(8, 5, 0x4A17, 1, 42), 9).is_err());
        assert!(parse_induction_response(&listener_reply(9, 4, 2, 1, 42), 9).is_err());
        assert!(parse_induction_response(&listener_reply(9, 5, 0x4A17, 1, 0), 9).is_err());
        let rejected = parse_induction_response(&listener_reply(9, 5, 0x4A17, 1003, 42), 9);
        assert!(rejected.unwrap_err().to_string().contains("rejected"));
        assert!(parse_induction_response(&[0x80; 20], 9).is_err());
    }
}

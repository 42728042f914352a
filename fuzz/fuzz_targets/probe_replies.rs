//! Every probe's reply parser (`probe::{stun, srt, quic_ping, dns, udp}`).
//!
//! Input: 1 selector byte (modulo 5: stun, srt, quic-ping, dns, udp), then the reply datagram.
//! The probe's side (transaction id, socket id, connection ids, query id) is fixed; the corpus
//! holds real replies to it.
//!
//! Asserts that no parser panics, and that a reply judged healthy has the shape the protocol
//! requires: a STUN Binding Success for our transaction; an SRT v5 induction for our socket;
//! a QUIC Version Negotiation echoing our connection ids; a NOERROR DNS response to our query
//! id; a UDP reply that starts with the expected prefix (and, conversely, every such reply is
//! healthy).
#![no_main]

use std::sync::LazyLock;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use libfuzzer_sys::fuzz_target;
use probe::dns::DnsProbe;
use probe::udp::UdpProbe;
use probe::{ProbeConfig, ProbeKind, quic_ping, srt, stun};

const TXID: [u8; 12] = *b"wavelb-fuzz!";
const SOCKET_ID: u32 = 0x1234_5678;
const VERSION: u32 = 0x1a2a_3a4a;
const DCID: [u8; 8] = [0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7];
const SCID: [u8; 8] = [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57];
const DNS_ID: u16 = 0x4242;
const PREFIX: &[u8] = b"PONG";

/// `dns` probes for `svc.lab.test` A: any NOERROR, an exact address, a regex.
static DNS: LazyLock<Vec<DnsProbe>> = LazyLock::new(|| {
    let probe = |expect: Option<&str>, regex: Option<&str>| {
        let mut cfg = ProbeConfig::new(ProbeKind::Dns);
        cfg.name = Some("svc.lab.test".into());
        cfg.expect = expect.map(str::to_owned);
        cfg.expect_regex = regex.map(str::to_owned);
        DnsProbe::new(&cfg).expect("a valid fixed probe")
    };
    vec![
        probe(None, None),
        probe(Some("192.0.2.1"), None),
        probe(None, Some("^192\\.0\\.2\\.[0-9]+$")),
    ]
});

/// A `udp` probe that sends `PING` and expects a reply starting with `PONG`.
static UDP: LazyLock<UdpProbe> = LazyLock::new(|| {
    let mut cfg = ProbeConfig::new(ProbeKind::Udp);
    cfg.send = Some("PING".into());
    cfg.expect_prefix = Some("PONG".into());
    UdpProbe::new(&cfg).expect("a valid fixed probe")
});

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn stun_reply(reply: &[u8]) {
    if stun::parse_response(reply, &TXID).is_ok() {
        assert!(
            reply.len() >= 20,
            "a healthy STUN reply shorter than a header"
        );
        assert_eq!(reply[..2], [0x01, 0x01], "not a Binding Success Response");
        assert_eq!(be32(reply, 4), 0x2112_A442, "not the magic cookie");
        assert_eq!(reply[8..20], TXID, "not our transaction");
    }
    assert!(stun::parse_response(&stun::request(&TXID), &TXID).is_err());
}

fn srt_reply(reply: &[u8]) {
    if srt::parse_induction_response(reply, SOCKET_ID).is_ok() {
        assert!(
            reply.len() >= 64,
            "a healthy SRT reply shorter than a handshake"
        );
        assert_eq!(be32(reply, 0) & 0xFFFF_0000, 0x8000_0000, "not a handshake");
        assert_eq!(be32(reply, 12), SOCKET_ID, "not for our socket");
        assert_eq!(be32(reply, 16), 5, "not handshake version 5");
        assert_eq!(reply[22..24], [0x4a, 0x17], "not the SRT magic");
    }
}

fn quic_ping_reply(reply: &[u8]) {
    if quic_ping::parse_version_negotiation(reply, VERSION, &DCID, &SCID).is_ok() {
        assert_eq!(be32(reply, 1), 0, "not a Version Negotiation");
        let dcid_len = usize::from(reply[5]);
        assert_eq!(reply[6..6 + dcid_len], SCID, "does not echo our source id");
        let scid_len = usize::from(reply[6 + dcid_len]);
        let scid = &reply[7 + dcid_len..7 + dcid_len + scid_len];
        assert_eq!(scid, DCID, "does not echo our destination id");
        let versions = &reply[7 + dcid_len + scid_len..];
        assert!(!versions.is_empty() && versions.len().is_multiple_of(4));
    }
    let ours = quic_ping::initial(VERSION, &DCID, &SCID);
    assert!(quic_ping::parse_version_negotiation(&ours, VERSION, &DCID, &SCID).is_err());
}

fn dns_reply(reply: &[u8]) {
    for probe in DNS.iter() {
        if probe.judge(DNS_ID, reply).is_ok() {
            let msg = Message::from_vec(reply).expect("a healthy DNS reply parses");
            assert_eq!(msg.metadata.message_type, MessageType::Response);
            assert_eq!(msg.metadata.id, DNS_ID, "not our query id");
            assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
        }
    }
}

fn udp_reply(reply: &[u8]) {
    assert_eq!(
        UDP.judge(reply).is_ok(),
        reply.starts_with(PREFIX),
        "the prefix matcher disagrees with starts_with"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, reply)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => stun_reply(reply),
        1 => srt_reply(reply),
        2 => quic_ping_reply(reply),
        3 => dns_reply(reply),
        _ => udp_reply(reply),
    }
});

//! Probes against real implementations started by the tests on free loopback ports: aioquic
//! (`quic` in every TLS mode, `quic-ping`), coturn (`stun`), and srt-live-transmit (`srt`).
//! Nothing is skipped: a missing binary or venv fails the test with instructions.

use crate::common::{assert_healthy, assert_unhealthy, probe};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use probe::{ProbeConfig, ProbeKind, Prober, Reason};
use testkit::process::Service;
use testkit::servers::{closed_udp_port, quic_server, srt_listener, turnserver};

struct Quic {
    service: Service,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Quic {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let service = quic_server(&testkit::repo_root(), dir.path(), &["h3"]);
        let port = service.ready["port"].as_u64().expect("port") as u16;
        Self {
            service,
            addr: ([127, 0, 0, 1], port).into(),
            _dir: dir,
        }
    }

    fn cert(&self) -> PathBuf {
        self.service.field("cert").into()
    }

    fn pin(&self) -> String {
        self.service.field("spki_sha256")
    }
}

fn quic(alpn: &str) -> ProbeConfig {
    let mut c = ProbeConfig::new(ProbeKind::Quic);
    c.alpn = vec![alpn.to_owned()];
    c.timeout = Duration::from_secs(3);
    c
}

#[tokio::test]
async fn quic_insecure_handshake_negotiates_h3() {
    let server = Quic::start();
    let mut c = quic("h3");
    c.insecure = true;
    let r = probe(&c, server.addr).await;
    assert_healthy(&r);
    assert!(r.detail.contains("alpn h3"), "{r:?}");
    assert!(r.latency > Duration::ZERO && r.latency < Duration::from_secs(3));
}

#[tokio::test]
async fn quic_offering_one_supported_alpn_among_others_is_healthy() {
    let server = Quic::start();
    let mut c = quic("hq-interop");
    c.alpn.push("h3".into());
    c.insecure = true;
    let r = probe(&c, server.addr).await;
    assert_healthy(&r);
    assert!(r.detail.contains("alpn h3"), "{r:?}");
}

#[tokio::test]
async fn quic_wrong_alpn_is_a_handshake_failure() {
    let server = Quic::start();
    let mut c = quic("not-h3");
    c.insecure = true;
    let r = probe(&c, server.addr).await;
    assert_unhealthy(&r, Reason::Handshake);
}

#[tokio::test]
async fn quic_verify_rejects_a_self_signed_certificate() {
    let server = Quic::start();
    let r = probe(&quic("h3"), server.addr).await;
    assert_unhealthy(&r, Reason::Tls);
    assert!(r.detail.to_lowercase().contains("certificate"), "{r:?}");
}

#[tokio::test]
async fn quic_verify_with_the_ca_file_is_healthy_and_checks_the_name() {
    let server = Quic::start();
    let mut c = quic("h3");
    c.ca = Some(server.cert());
    let r = probe(&c, server.addr).await;
    assert_healthy(&r);
    assert!(r.detail.contains("cert verified"), "{r:?}");

    // The same CA, but a name the certificate is not valid for.
    c.sni = Some("other.example".into());
    let r = probe(&c, server.addr).await;
    assert_unhealthy(&r, Reason::Tls);
}

#[tokio::test]
async fn quic_pin_right_is_healthy_wrong_is_tls() {
    let server = Quic::start();
    let mut c = quic("h3");
    c.pin = Some(server.pin());
    let r = probe(&c, server.addr).await;
    assert_healthy(&r);
    assert!(r.detail.contains("cert pinned"), "{r:?}");

    // The same pin as base64 with the sha256/ prefix.
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&server.pin()[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    c.pin = Some(format!("sha256/{}", base64_encode(&bytes)));
    assert_healthy(&probe(&c, server.addr).await);

    c.pin = Some("ab".repeat(32));
    let r = probe(&c, server.addr).await;
    assert_unhealthy(&r, Reason::Tls);
    assert!(r.detail.contains("does not match the pin abab"), "{r:?}");
}

#[tokio::test]
async fn one_quic_prober_probes_two_servers_repeatedly() {
    let a = Quic::start();
    let b = Quic::start();
    let mut c = quic("h3");
    c.insecure = true;
    let prober = Prober::new(&c).unwrap();
    for _ in 0..3 {
        assert_healthy(&prober.probe(a.addr).await);
        assert_healthy(&prober.probe(b.addr).await);
    }
    prober.shutdown().await;
}

#[tokio::test]
async fn quic_closed_port_is_refused_before_the_timeout() {
    // quinn's client endpoint is not a connected socket and never sees the ICMP port
    // unreachable; the probe's quic-ping from a connected socket does.
    let mut c = quic("h3");
    c.insecure = true;
    c.timeout = Duration::from_secs(10);
    let r = probe(&c, closed_udp_port()).await;
    assert_unhealthy(&r, Reason::Refused);
    assert!(r.detail.contains("ICMP port unreachable"), "{r:?}");
    assert!(r.latency < Duration::from_secs(5), "{r:?}");
}

#[tokio::test]
async fn quic_ping_gets_version_negotiation_from_aioquic() {
    let server = Quic::start();
    let r = probe(&ProbeConfig::new(ProbeKind::QuicPing), server.addr).await;
    assert_healthy(&r);
    // aioquic supports QUIC v1 (0x00000001).
    assert!(r.detail.contains("0x00000001"), "{r:?}");
}

#[tokio::test]
async fn stun_binding_against_coturn() {
    let dir = tempfile::tempdir().unwrap();
    let server = turnserver(dir.path());
    let r = probe(&ProbeConfig::new(ProbeKind::Stun), server.addr).await;
    assert!(r.healthy, "{r:?}\ncoturn log:\n{}", server.log_text());
    // coturn reports our own address back.
    assert!(r.detail.contains("mapped 127.0.0.1:"), "{r:?}");
}

#[tokio::test]
async fn srt_induction_against_srt_live_transmit() {
    let dir = tempfile::tempdir().unwrap();
    let server = srt_listener(dir.path());
    let prober = Prober::new(&ProbeConfig::new(ProbeKind::Srt)).unwrap();
    // The listener keeps no state for an induction: probing again works the same.
    for _ in 0..3 {
        let r = prober.probe(server.addr).await;
        assert!(
            r.healthy,
            "{r:?}\nsrt-live-transmit log:\n{}",
            server.log_text()
        );
        assert!(r.detail.contains("srt listener"), "{r:?}");
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

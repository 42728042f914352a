//! Every probe kind against the project's own small servers on loopback: a UDP echo, a TCP
//! listener, a DNS responder, and the failure modes — a closed port (`refused` via ICMP on a
//! connected socket, RST for TCP), a socket that never answers (`timeout`), and a server that
//! answers garbage (`bad_reply`).

use crate::common::{assert_healthy, assert_unhealthy, probe};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};
use probe::{ProbeConfig, ProbeKind, ProbeResult, Prober, Reason};
use testkit::echo::Echo;
use testkit::servers::{UdpReplier, closed_tcp_port, closed_udp_port, silent_udp};

const SHORT: Duration = Duration::from_millis(400);

fn cfg(kind: ProbeKind) -> ProbeConfig {
    let mut c = ProbeConfig::new(kind);
    c.timeout = SHORT;
    c
}

fn udp(send: &str) -> ProbeConfig {
    let mut c = cfg(ProbeKind::Udp);
    c.send = Some(send.to_owned());
    c
}

fn dns(name: &str) -> ProbeConfig {
    let mut c = cfg(ProbeKind::Dns);
    c.name = Some(name.to_owned());
    c
}

/// A refusal is known at once, long before the timeout.
#[track_caller]
fn assert_refused_fast(r: &ProbeResult) {
    assert_unhealthy(r, Reason::Refused);
    assert!(r.latency < SHORT / 2, "refused only after {:?}", r.latency);
}

/// A timeout takes the whole timeout, and not much more.
#[track_caller]
fn assert_timed_out(r: &ProbeResult) {
    assert_unhealthy(r, Reason::Timeout);
    assert!(
        r.latency >= SHORT && r.latency < SHORT + Duration::from_secs(1),
        "timeout after {:?}",
        r.latency
    );
    assert!(r.detail.contains("400ms"), "{r:?}");
}

const UDP_KINDS: [ProbeKind; 4] = [
    ProbeKind::QuicPing,
    ProbeKind::Stun,
    ProbeKind::Srt,
    ProbeKind::Dns,
];

fn config_for(kind: ProbeKind) -> ProbeConfig {
    match kind {
        ProbeKind::Udp => udp("ping"),
        ProbeKind::Dns => dns("svc.example"),
        _ => cfg(kind),
    }
}

#[tokio::test]
async fn udp_echo_matches_text_hex_prefix_and_regex() {
    let echo = Echo::start("127.0.0.1:0".parse().unwrap());
    let mut c = udp("ping 42");
    assert_healthy(&probe(&c, echo.addr).await);

    c.expect = Some("ping 42".into());
    let r = probe(&c, echo.addr).await;
    assert_healthy(&r);
    assert!(r.latency < SHORT, "{r:?}");

    c.expect = None;
    c.expect_regex = Some(r"^ping \d+$".into());
    assert_healthy(&probe(&c, echo.addr).await);

    c.expect_regex = None;
    c.expect_prefix = Some("ping".into());
    assert_healthy(&probe(&c, echo.addr).await);

    let mut h = cfg(ProbeKind::Udp);
    h.send_hex = Some("00 ff 10".into());
    h.expect_hex = Some("00ff10".into());
    assert_healthy(&probe(&h, echo.addr).await);

    let mut b = cfg(ProbeKind::Udp);
    b.send_base64 = Some("AAEC".into());
    b.expect_hex = Some("000102".into());
    assert_healthy(&probe(&b, echo.addr).await);
}

#[tokio::test]
async fn udp_reply_that_does_not_match_is_a_bad_reply_with_an_excerpt() {
    let echo = Echo::start("127.0.0.1:0".parse().unwrap());
    let mut c = udp("hello\n\x01");
    c.expect = Some("pong".into());
    let r = probe(&c, echo.addr).await;
    assert_unhealthy(&r, Reason::BadReply);
    assert!(r.detail.contains(r"hello\n\x01"), "escaped excerpt: {r:?}");
    assert!(r.detail.contains("pong"), "says what was expected: {r:?}");

    c.expect = None;
    c.expect_regex = Some("^pong$".into());
    assert_unhealthy(&probe(&c, echo.addr).await, Reason::BadReply);

    c.expect_regex = None;
    c.expect_prefix = Some("help".into());
    assert_unhealthy(&probe(&c, echo.addr).await, Reason::BadReply);
}

#[tokio::test]
async fn every_udp_kind_is_refused_by_a_closed_port() {
    let closed = closed_udp_port();
    assert_refused_fast(&probe(&udp("ping"), closed).await);
    for kind in UDP_KINDS {
        let r = probe(&config_for(kind), closed).await;
        assert_refused_fast(&r);
        assert!(!r.detail.is_empty(), "{kind}: {r:?}");
    }
}

#[tokio::test]
async fn every_udp_kind_times_out_on_a_silent_socket() {
    let (_socket, silent) = silent_udp();
    assert_timed_out(&probe(&udp("ping"), silent).await);
    for kind in UDP_KINDS {
        assert_timed_out(&probe(&config_for(kind), silent).await);
    }
}

#[tokio::test]
async fn every_protocol_kind_rejects_garbage_and_echoes() {
    let garbage = UdpReplier::start(|_| Some(b"\x00garbage\xff".to_vec()));
    let echo = Echo::start("127.0.0.1:0".parse().unwrap());
    for kind in UDP_KINDS {
        let r = probe(&config_for(kind), garbage.addr).await;
        assert_unhealthy(&r, Reason::BadReply);
        // An echo of our own request is not an answer either (a reflector is not a server).
        let r = probe(&config_for(kind), echo.addr).await;
        assert_unhealthy(&r, Reason::BadReply);
    }
    let mut c = udp("ping");
    c.expect = Some("pong".into());
    let r = probe(&c, garbage.addr).await;
    assert_unhealthy(&r, Reason::BadReply);
    assert!(r.detail.contains(r"\x00garbage\xff"), "{r:?}");
}

#[tokio::test]
async fn stun_error_response_reports_its_code() {
    // Answer every Binding Request with a 400 Bad Request error response.
    let server = UdpReplier::start(|req| {
        let mut attr = vec![0u8, 0, 4, 0];
        attr.extend_from_slice(b"Bad Request");
        while attr.len() % 4 != 0 {
            attr.push(0);
        }
        let mut msg = vec![0x01, 0x11];
        msg.extend_from_slice(&((attr.len() + 4) as u16).to_be_bytes());
        msg.extend_from_slice(&req[4..20]);
        msg.extend_from_slice(&[0x00, 0x09]);
        msg.extend_from_slice(&(15u16).to_be_bytes());
        msg.extend_from_slice(&attr);
        Some(msg)
    });
    let r = probe(&cfg(ProbeKind::Stun), server.addr).await;
    assert_unhealthy(&r, Reason::BadReply);
    assert!(r.detail.contains("400 Bad Request"), "{r:?}");
}

/// A tiny authoritative server for `svc.example`: A 192.0.2.10 and 192.0.2.11; REFUSED for
/// other names.
fn dns_server() -> UdpReplier {
    UdpReplier::start(|req| {
        let query = Message::from_vec(req).ok()?;
        let q = query.queries.first()?.clone();
        let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
        resp.metadata.authoritative = true;
        if q.name().to_ascii().eq_ignore_ascii_case("svc.example.") {
            for last in [10, 11] {
                resp.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::A(A::new(192, 0, 2, last)),
                ));
            }
        } else {
            resp.metadata.response_code = hickory_proto::op::ResponseCode::Refused;
        }
        resp.add_query(q);
        resp.to_vec().ok()
    })
}

#[tokio::test]
async fn dns_noerror_expect_and_refused() {
    let server = dns_server();
    let r = probe(&dns("svc.example"), server.addr).await;
    assert_healthy(&r);
    assert!(r.detail.contains("192.0.2.10"), "{r:?}");

    let mut c = dns("SVC.example.");
    c.expect = Some("192.0.2.11".into());
    assert_healthy(&probe(&c, server.addr).await);

    c.expect = Some("192.0.2.12".into());
    let r = probe(&c, server.addr).await;
    assert_unhealthy(&r, Reason::BadReply);
    assert!(r.detail.contains("192.0.2.10, 192.0.2.11"), "{r:?}");

    c.expect = None;
    c.expect_regex = Some(r"^192\.0\.2\.1[01]$".into());
    assert_healthy(&probe(&c, server.addr).await);

    let r = probe(&dns("other.example"), server.addr).await;
    assert_unhealthy(&r, Reason::BadReply);
    assert!(r.detail.contains("REFUSED"), "{r:?}");
}

#[tokio::test]
async fn tcp_connects_and_is_refused_by_a_closed_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let r = probe(&cfg(ProbeKind::Tcp), addr).await;
    assert_healthy(&r);
    assert_eq!(r.detail, "connected");

    assert_refused_fast(&probe(&cfg(ProbeKind::Tcp), closed_tcp_port()).await);
}

#[tokio::test]
async fn probes_are_reusable_and_concurrent() {
    let echo = Echo::start("127.0.0.1:0".parse().unwrap());
    let mut c = udp("x");
    c.expect = Some("x".into());
    let prober = std::sync::Arc::new(Prober::new(&c).unwrap());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let p = prober.clone();
        let target = echo.addr;
        tasks.push(tokio::spawn(async move { p.probe(target).await }));
    }
    for t in tasks {
        assert_healthy(&t.await.unwrap());
    }
}

/// A listener whose accept queue is full drops new SYNs: the connect never completes, and the
/// probe fails with `timeout` once its bound passes.
#[tokio::test]
async fn tcp_times_out_when_nothing_completes_the_handshake() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(0).unwrap();
    // Fill the accept queue (never accepted) until a further connect stalls.
    let mut held = Vec::new();
    loop {
        match tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => panic!("connect failed instead of stalling: {e}"),
            Err(_) => break,
        }
        assert!(held.len() < 64, "the accept queue never filled");
    }
    let r = probe(&cfg(ProbeKind::Tcp), addr).await;
    assert_unhealthy(&r, Reason::Timeout);
    drop(listener);
}

/// A UDP echo that loses the first `lost` datagrams it receives.
fn lossy_echo(lost: u32) -> UdpReplier {
    let seen = std::sync::atomic::AtomicU32::new(0);
    UdpReplier::start(move |req| {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (n >= lost).then(|| req.to_vec())
    })
}

#[tokio::test]
async fn a_lost_request_is_sent_again_within_the_timeout() {
    // The default sends three times more, a quarter of the timeout apart: three lost requests
    // still pass.
    let server = lossy_echo(3);
    let r = probe(&udp("ping"), server.addr).await;
    assert_healthy(&r);
    assert_eq!(r.resent, 3, "{r:?}");
    assert!(
        r.latency >= SHORT * 3 / 4 && r.latency < SHORT,
        "the round trip counts from the first send: {r:?}"
    );

    // Four lost are one too many.
    let server = lossy_echo(4);
    assert_timed_out(&probe(&udp("ping"), server.addr).await);

    // Without resends one lost datagram fails the probe, as before.
    let server = lossy_echo(1);
    let mut c = udp("ping");
    c.retransmit = Some(0);
    assert_timed_out(&probe(&c, server.addr).await);

    // A reply that comes at once needs no resend.
    let server = lossy_echo(0);
    let r = probe(&udp("ping"), server.addr).await;
    assert_healthy(&r);
    assert_eq!(r.resent, 0);
}

#[test]
fn retransmit_is_bounded_and_not_for_tcp() {
    let mut c = udp("ping");
    c.retransmit = Some(11);
    let e = Prober::new(&c).unwrap_err().to_string();
    assert!(e.contains("retransmit") && e.contains("0 to 10"), "{e}");
    let mut c = cfg(ProbeKind::Tcp);
    c.retransmit = Some(1);
    let e = Prober::new(&c).unwrap_err().to_string();
    assert!(e.contains("retransmit") && e.contains("tcp"), "{e}");
}

//! `udp`: send a payload on a connected socket and match the reply.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::payload::{Expect, excerpt, send_payload};
use super::{Failure, Outcome, ProbeConfig, ProbeConfigError, Resend, Success};

/// The largest reply read (a UDP datagram cannot be longer).
const MAX_REPLY: usize = 65_535;

/// A UDP socket connected to `target`, so that an ICMP port unreachable surfaces as
/// `ECONNREFUSED` on the next send or receive.
pub(crate) async fn connected(target: SocketAddr) -> Result<UdpSocket, Failure> {
    let local: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| Failure::io("cannot bind a UDP socket", &e))?;
    socket
        .connect(target)
        .await
        .map_err(|e| Failure::io("cannot connect the UDP socket", &e))?;
    Ok(socket)
}

/// The first datagram that came back.
pub(crate) struct Reply {
    /// The datagram.
    pub bytes: Vec<u8>,
    /// From the first send to its arrival (so a lost request shows as a longer round trip).
    pub latency: Duration,
    /// How many times the request was sent again before it arrived.
    pub resent: u32,
}

impl Reply {
    /// A success with `detail` and this reply's timing.
    pub(crate) fn success(&self, detail: String) -> Success {
        Success {
            detail,
            latency: self.latency,
            resent: self.resent,
        }
    }
}

/// Sends `request`, and sends it again every `resend.every` while no reply has come, at most
/// `resend.extra` more times (the way QUIC and STUN retransmit: one lost datagram, either way,
/// does not fail the probe). Returns the first datagram that comes back, whichever send it
/// answers; the caller's timeout bounds the whole exchange.
pub(crate) async fn exchange(
    target: SocketAddr,
    request: &[u8],
    resend: Resend,
) -> Result<Reply, Failure> {
    let socket = connected(target).await?;
    let start = Instant::now();
    // Room for any datagram, but not zeroed: at thousands of probes a second, clearing 64 KiB
    // per probe would cost more than the probe itself.
    let mut buf = Vec::with_capacity(MAX_REPLY);
    let mut resent = 0;
    loop {
        socket
            .send(request)
            .await
            .map_err(|e| Failure::io("send failed", &e))?;
        let received = if resent < resend.extra {
            // `recv_buf` is cancel safe: a datagram is either read whole or left queued.
            tokio::time::timeout(resend.every, socket.recv_buf(&mut buf)).await
        } else {
            Ok(socket.recv_buf(&mut buf).await)
        };
        match received {
            Ok(result) => {
                result.map_err(|e| Failure::io("no reply", &e))?;
                return Ok(Reply {
                    bytes: buf,
                    latency: start.elapsed(),
                    resent,
                });
            }
            Err(_) => resent += 1,
        }
    }
}

/// A validated `udp` probe.
#[derive(Debug)]
pub struct UdpProbe {
    payload: Vec<u8>,
    expect: Expect,
}

impl UdpProbe {
    /// Validates the `udp` keys of `cfg` (exactly one payload, at most one matcher).
    ///
    /// # Errors
    ///
    /// The key that is missing or invalid, and why.
    pub fn new(cfg: &ProbeConfig) -> Result<Self, ProbeConfigError> {
        Ok(Self {
            payload: send_payload(
                cfg.send.as_deref(),
                cfg.send_hex.as_deref(),
                cfg.send_base64.as_deref(),
            )?,
            expect: Expect::from_keys(
                cfg.expect.as_deref(),
                cfg.expect_hex.as_deref(),
                cfg.expect_prefix.as_deref(),
                cfg.expect_regex.as_deref(),
            )?,
        })
    }

    pub(crate) async fn run(&self, target: SocketAddr, resend: Resend) -> Outcome {
        let reply = exchange(target, &self.payload, resend).await?;
        let detail = self
            .judge(&reply.bytes)
            .map_err(|e| Failure::bad_reply(e.to_string()))?;
        Ok(reply.success(detail))
    }

    /// Checks a reply against the matcher; returns a detail or why it does not match.
    ///
    /// # Errors
    ///
    /// What arrived (an escaped excerpt) and what was expected.
    pub fn judge(&self, reply: &[u8]) -> Result<String, Mismatch> {
        if self.expect.matches(reply) {
            Ok(format!("{} byte reply", reply.len()))
        } else {
            Err(Mismatch {
                excerpt: excerpt(reply),
                len: reply.len(),
                expected: self.expect.describe(),
            })
        }
    }
}

/// A UDP reply that does not match what the probe expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("got \"{excerpt}\" ({len} bytes), expected {expected}")]
pub struct Mismatch {
    /// An escaped excerpt of the reply.
    pub excerpt: String,
    /// The reply's length in bytes.
    pub len: usize,
    /// What was expected, described (`"PONG"`, `/^ok/`, …).
    pub expected: String,
}

//! Health probes that speak the protocol a target really serves, and the per-target hysteresis
//! ([`state`]) that turns their verdicts into healthy or unhealthy. Used by the health controller
//! (`[health.probe]`), the agent's self-check (`[agent.self_check]`) and `wavelb probe`.
//!
//! A [`ProbeConfig`] (the `[health.probe]` and `[agent.self_check]` tables of the configuration
//! file, or the flags of `wavelb probe`) is validated once by [`Prober::new`]; the [`Prober`] is
//! then reused for every probe of every target (it is `Send + Sync`; share it with an `Arc`).
//! [`Prober::probe`] never panics and never returns an error: the outcome is a [`ProbeResult`],
//! and the whole probe is bounded by the configured `timeout`.
//!
//! | kind | sends | healthy when |
//! | --- | --- | --- |
//! | `udp` | `send`, `send_hex` or `send_base64` (exactly one) on a connected UDP socket | a reply arrives that matches `expect`, `expect_hex`, `expect_prefix` or `expect_regex` (at most one; none: any reply) |
//! | `quic` | a QUIC handshake (TLS 1.3) with the `alpn` list (at least one) and `sni` (default `localhost`) | the handshake completes with a negotiated ALPN; `latency` is the handshake time |
//! | `quic-ping` | a 1200-byte Initial-shaped packet with a reserved version (`0x?a?a?a?a`), no TLS | the reply is a Version Negotiation packet echoing our connection ids |
//! | `stun` | a STUN Binding Request (RFC 8489) | a Binding Success Response with our transaction id |
//! | `srt` | an SRT caller's induction handshake (HSv4 induction) | the listener's induction response (version 5, SRT magic `0x4A17`) |
//! | `dns` | a query for `name` (required), type `qtype` (default `A`) | the response code is NOERROR and, with `expect` or `expect_regex`, an answer of that type matches |
//! | `tcp` | a TCP connect | the connection is established |
//!
//! QUIC certificate checks (at most one of `insecure`, `ca`, `pin`):
//! - default (`verify`): the chain must lead to a system root (rustls-native-certs, or the
//!   bundled Mozilla roots when the system has none) and the certificate must be valid for the
//!   SNI name; targets are IP addresses, so set `sni` to the certificate's name (the default
//!   SNI is `localhost`, since an IP string is not a valid SNI name).
//! - `ca = "FILE"`: as above, but trusting only the PEM certificates in `FILE`.
//! - `pin = "SHA256"`: the leaf certificate's SubjectPublicKeyInfo must hash (SHA-256) to the
//!   pin, given as 64 hex digits or base64 (an optional `sha256/` prefix is allowed); the chain
//!   and name are not checked. The handshake signature is still verified.
//! - `insecure = true`: any certificate; the handshake signature is still verified.
//!
//! Which keys a kind uses is checked ([`key`], the one table of keys and flags): a key that the
//! kind ignores is a configuration error, so a typo or a copy-pasted table cannot silently probe
//! something else than intended.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The reply parsers of `dns`, `quic_ping`, `srt`, `stun` and `udp` are public for the fuzz
// targets (fuzz/fuzz_targets/probe_replies.rs); everything that does I/O stays crate-private.
pub mod dns;
pub mod key;
mod payload;
mod quic;
pub mod quic_ping;
pub mod srt;
pub mod state;
pub mod stun;
mod tcp;
mod tls;
pub mod udp;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use key::Message;
pub use key::{Key, Naming, ProbeConfigError};
pub use tls::unverified_client_config;

/// The default probe timeout (the `timeout` key).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

/// How often a UDP probe's request is sent again within the timeout by default (the
/// `retransmit` key).
pub const DEFAULT_RETRANSMIT: u32 = 3;
/// The most resends a probe may make (the `retransmit` key's bound).
pub const MAX_RETRANSMIT: u32 = 10;

/// When a request is sent again: `extra` more times at most, one `every` after the previous
/// send while no reply has come (`every` = timeout ÷ (`extra` + 1), so the sends spread over
/// the timeout and the last one still has a share of it for its round trip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resend {
    pub extra: u32,
    pub every: Duration,
}

impl Resend {
    fn new(timeout: Duration, extra: u32) -> Self {
        Self {
            extra,
            every: timeout / (extra + 1),
        }
    }
}

/// How to probe a target: the keys of `[health.probe]` and `[agent.self_check]`.
///
/// Build a [`Prober`] from it with [`Prober::new`], which checks the combination of keys.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The protocol to probe with.
    pub kind: ProbeKind,
    /// The port to probe when the target address has none.
    pub port: Option<u16>,
    /// The bound on one whole probe (default 1s).
    #[serde(
        default = "default_timeout",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub timeout: Duration,
    /// `udp`: the payload as text (sent as its UTF-8 bytes).
    pub send: Option<String>,
    /// `udp`: the payload as hex digits (whitespace and `:` between bytes are ignored).
    pub send_hex: Option<String>,
    /// `udp`: the payload as base64 (standard alphabet, padding optional).
    pub send_base64: Option<String>,
    /// `udp`: the reply must be exactly this text; `dns`: an answer's text form must equal it.
    pub expect: Option<String>,
    /// `udp`: the reply must be exactly these bytes (hex).
    pub expect_hex: Option<String>,
    /// `udp`: the reply must start with this text.
    pub expect_prefix: Option<String>,
    /// `udp`: a regular expression that must match somewhere in the reply's bytes (anchor it with
    /// `^…$` to match the whole reply); `dns`: that must match an answer's text form.
    pub expect_regex: Option<String>,
    /// `quic`: the ALPN protocols to offer, e.g. `["h3"]` (at least one).
    #[serde(default)]
    pub alpn: Vec<String>,
    /// `quic`: the TLS server name (default `localhost`).
    pub sni: Option<String>,
    /// `quic`: accept any certificate (the handshake signature is still verified).
    #[serde(default)]
    pub insecure: bool,
    /// `quic`: trust only the PEM CA certificates in this file.
    pub ca: Option<PathBuf>,
    /// `quic`: the SHA-256 of the certificate's SubjectPublicKeyInfo, hex or base64.
    pub pin: Option<String>,
    /// `dns`: the name to query (required).
    pub name: Option<String>,
    /// `dns`: the query type, e.g. `A`, `AAAA`, `SOA`, `TXT` (default `A`).
    pub qtype: Option<String>,
    /// Every kind but `tcp`: how many times the request is sent again within `timeout` while no
    /// reply has come (default [`DEFAULT_RETRANSMIT`], at most [`MAX_RETRANSMIT`]; `quic`: the
    /// handshake's first retransmission comes as early). Makes a probe robust to a lost datagram
    /// without making detection slower: a dead target still fails after `timeout`.
    pub retransmit: Option<u32>,
}

impl ProbeConfig {
    /// A configuration of `kind` with every other key at its default (not necessarily valid:
    /// e.g. `udp` still needs a payload).
    pub fn new(kind: ProbeKind) -> Self {
        Self {
            kind,
            port: None,
            timeout: DEFAULT_TIMEOUT,
            send: None,
            send_hex: None,
            send_base64: None,
            expect: None,
            expect_hex: None,
            expect_prefix: None,
            expect_regex: None,
            alpn: Vec::new(),
            sni: None,
            insecure: false,
            ca: None,
            pin: None,
            name: None,
            qtype: None,
            retransmit: None,
        }
    }
}

/// The protocol a probe speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    /// A UDP request/response exchange with a configured payload.
    Udp,
    /// A full QUIC handshake with TLS and ALPN.
    Quic,
    /// A QUIC version negotiation exchange, without TLS.
    QuicPing,
    /// A STUN Binding request.
    Stun,
    /// An SRT caller's induction handshake.
    Srt,
    /// A DNS query.
    Dns,
    /// A TCP connect.
    Tcp,
}

impl ProbeKind {
    /// Every kind, in documentation order.
    pub const ALL: [ProbeKind; 7] = [
        ProbeKind::Udp,
        ProbeKind::Quic,
        ProbeKind::QuicPing,
        ProbeKind::Stun,
        ProbeKind::Srt,
        ProbeKind::Dns,
        ProbeKind::Tcp,
    ];

    /// The name used in configuration and on the command line (`"quic-ping"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Udp => "udp",
            ProbeKind::Quic => "quic",
            ProbeKind::QuicPing => "quic-ping",
            ProbeKind::Stun => "stun",
            ProbeKind::Srt => "srt",
            ProbeKind::Dns => "dns",
            ProbeKind::Tcp => "tcp",
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a probe kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown probe kind {0:?}; one of udp, quic, quic-ping, stun, srt, dns, tcp")]
pub struct UnknownKind(pub String);

impl FromStr for ProbeKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProbeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// Why a probe failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No (complete) answer within the timeout.
    Timeout,
    /// The target refused: TCP RST, or ICMP port unreachable on a connected UDP socket.
    Refused,
    /// An answer arrived, but not the expected one.
    BadReply,
    /// TLS failed: certificate rejected (chain, name or pin), or a TLS alert.
    Tls,
    /// The QUIC handshake failed otherwise: no common ALPN, protocol errors, no common version.
    Handshake,
    /// The peer closed or reset the connection before the probe completed.
    Closed,
    /// A local I/O error (cannot bind, network unreachable, …).
    Io,
}

impl Reason {
    /// The label used in logs, metrics and JSON (`"bad_reply"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Refused => "refused",
            Reason::BadReply => "bad_reply",
            Reason::Tls => "tls",
            Reason::Handshake => "handshake",
            Reason::Closed => "closed",
            Reason::Io => "io",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// Whether the target answered as expected.
    pub healthy: bool,
    /// Healthy: the round trip (for `quic`, the handshake time). Unhealthy: the time until the
    /// failure was known (the timeout for [`Reason::Timeout`]).
    pub latency: Duration,
    /// Why the probe failed; `None` exactly when `healthy`.
    pub reason: Option<Reason>,
    /// Human text: what was wrong, or what was seen (e.g. `alpn h3`).
    pub detail: String,
    /// Healthy: how many times the request was sent again before the answer came (for `quic`,
    /// the handshake packets quinn declared lost). 0 for failures and for `tcp`.
    pub resent: u32,
}

/// A validated probe, reused for every target and every round.
pub struct Prober {
    kind: ProbeKind,
    port: Option<u16>,
    timeout: Duration,
    resend: Resend,
    spec: Spec,
}

enum Spec {
    Udp(udp::UdpProbe),
    Quic(Box<quic::QuicProbe>),
    QuicPing,
    Stun,
    Srt,
    Dns(dns::DnsProbe),
    Tcp,
}

impl fmt::Debug for Prober {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prober")
            .field("kind", &self.kind)
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What a probe saw when it succeeded.
pub(crate) struct Success {
    pub detail: String,
    pub latency: Duration,
    pub resent: u32,
}

/// Why a probe failed (latency is measured by [`Prober::probe`]).
#[derive(Debug)]
pub(crate) struct Failure {
    pub reason: Reason,
    pub detail: String,
}

impl Failure {
    pub(crate) fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }

    pub(crate) fn bad_reply(detail: impl Into<String>) -> Self {
        Self::new(Reason::BadReply, detail)
    }

    /// Classifies a socket error: refused (RST or ICMP port unreachable) or local I/O.
    pub(crate) fn io(what: &str, err: &std::io::Error) -> Self {
        let reason = if err.kind() == std::io::ErrorKind::ConnectionRefused {
            Reason::Refused
        } else {
            Reason::Io
        };
        Self::new(reason, format!("{what}: {err}"))
    }
}

pub(crate) type Outcome = Result<Success, Failure>;

/// The key of `cfg` that its kind does not use, if any.
fn unused_key(cfg: &ProbeConfig) -> Option<Key> {
    Key::ALL
        .into_iter()
        .find(|k| k.is_set(cfg) && !k.used_by(cfg.kind))
}

/// The kinds that use `key`, as `udp and dns`.
fn users_of(key: Key) -> String {
    let users: Vec<&str> = key.spec().kinds.iter().map(|k| k.as_str()).collect();
    users.join(" and ")
}

/// Checks that at most one of `keys` is set (the one set, if any, is returned).
pub(crate) fn at_most_one(set: &[(Key, bool)]) -> Result<Option<Key>, ProbeConfigError> {
    let given: Vec<Key> = set.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect();
    if given.len() > 1 {
        let all: Vec<Key> = set.iter().map(|(k, _)| *k).collect();
        return Err(ProbeConfigError::new(
            given[1],
            Message::text("conflicts with ")
                .key(given[0])
                .then("; give at most one of ")
                .keys(&all, "or"),
        ));
    }
    Ok(given.first().copied())
}

/// What probes a target: [`Prober`] in production; in-process tests (the health controller's,
/// the agent's self-check) script the answers.
pub trait Probe: Send + Sync + 'static {
    /// The probe kind, for metrics and logs.
    fn kind(&self) -> ProbeKind;
    /// The port a target is probed at unless its `probe=` address names one.
    fn port(&self) -> Option<u16>;
    /// Probes `addr` once. Never fails: a failure is an unhealthy [`ProbeResult`].
    fn probe(&self, addr: SocketAddr) -> impl Future<Output = ProbeResult> + Send;
}

impl Probe for Prober {
    fn kind(&self) -> ProbeKind {
        Prober::kind(self)
    }
    fn port(&self) -> Option<u16> {
        Prober::port(self)
    }
    fn probe(&self, addr: SocketAddr) -> impl Future<Output = ProbeResult> + Send {
        Prober::probe(self, addr)
    }
}

impl Prober {
    /// Validates `cfg` and prepares everything a probe needs (payloads, regexes, TLS config,
    /// trust roots), so that probing does no parsing and cannot fail on configuration.
    pub fn new(cfg: &ProbeConfig) -> Result<Prober, ProbeConfigError> {
        if cfg.timeout.is_zero() {
            return Err(ProbeConfigError::new(
                Key::Timeout,
                Message::text("must be more than 0, e.g. ").example(Key::Timeout, "500ms"),
            ));
        }
        if cfg.port == Some(0) {
            return Err(ProbeConfigError::new(Key::Port, "must be 1-65535"));
        }
        let extra = cfg.retransmit.unwrap_or(DEFAULT_RETRANSMIT);
        if extra > MAX_RETRANSMIT {
            return Err(ProbeConfigError::new(
                Key::Retransmit,
                format!("must be 0 to {MAX_RETRANSMIT}, not {extra}"),
            ));
        }
        let resend = Resend::new(cfg.timeout, extra);
        if let Some(key) = unused_key(cfg) {
            return Err(ProbeConfigError::new(
                key,
                Message::text(format!(
                    "is not used by kind {} (only by {}); remove it or change ",
                    cfg.kind,
                    users_of(key)
                ))
                .key(Key::Kind),
            ));
        }
        let spec = match cfg.kind {
            ProbeKind::Udp => Spec::Udp(udp::UdpProbe::new(cfg)?),
            ProbeKind::Quic => Spec::Quic(Box::new(quic::QuicProbe::new(cfg, resend)?)),
            ProbeKind::QuicPing => Spec::QuicPing,
            ProbeKind::Stun => Spec::Stun,
            ProbeKind::Srt => Spec::Srt,
            ProbeKind::Dns => Spec::Dns(dns::DnsProbe::new(cfg)?),
            ProbeKind::Tcp => Spec::Tcp,
        };
        Ok(Prober {
            kind: cfg.kind,
            port: cfg.port,
            timeout: cfg.timeout,
            resend,
            spec,
        })
    }

    /// The protocol this prober speaks.
    pub fn kind(&self) -> ProbeKind {
        self.kind
    }

    /// The port to probe when the target address has none (the `port` key).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The bound on one probe (the `timeout` key).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Probes `target` once. Never panics and never fails: the outcome, including every error,
    /// is in the [`ProbeResult`], and it arrives within the timeout (plus scheduling delay).
    pub async fn probe(&self, target: SocketAddr) -> ProbeResult {
        let start = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, self.run(target)).await;
        let result = match outcome {
            Ok(Ok(success)) => ProbeResult {
                healthy: true,
                latency: success.latency,
                reason: None,
                detail: success.detail,
                resent: success.resent,
            },
            Ok(Err(failure)) => ProbeResult {
                healthy: false,
                latency: start.elapsed(),
                reason: Some(failure.reason),
                detail: failure.detail,
                resent: 0,
            },
            Err(_) => ProbeResult {
                healthy: false,
                latency: start.elapsed(),
                reason: Some(Reason::Timeout),
                detail: format!(
                    "{} within {}",
                    self.timeout_what(),
                    humantime::format_duration(self.timeout)
                ),
                resent: 0,
            },
        };
        tracing::debug!(
            kind = self.kind.as_str(),
            %target,
            healthy = result.healthy,
            latency_ms = result.latency.as_secs_f64() * 1000.0,
            reason = result.reason.map(Reason::as_str),
            detail = %result.detail,
            "probe"
        );
        result
    }

    /// Waits briefly (at most 250 ms) until the QUIC connections this prober opened have sent
    /// their CONNECTION_CLOSE. Call it before the process exits; probing afterwards still works.
    pub async fn shutdown(&self) {
        if let Spec::Quic(q) = &self.spec {
            q.wait_idle(Duration::from_millis(250)).await;
        }
    }

    fn timeout_what(&self) -> &'static str {
        match self.kind {
            ProbeKind::Quic => "the QUIC handshake did not complete",
            ProbeKind::Tcp => "the TCP connection was not established",
            _ => "no reply",
        }
    }

    async fn run(&self, target: SocketAddr) -> Outcome {
        match &self.spec {
            Spec::Udp(p) => p.run(target, self.resend).await,
            Spec::Quic(p) => p.run(target).await,
            Spec::QuicPing => quic_ping::run(target, self.resend).await,
            Spec::Stun => stun::run(target, self.resend).await,
            Spec::Srt => srt::run(target, self.resend).await,
            Spec::Dns(p) => p.run(target, self.resend).await,
            Spec::Tcp => tcp::run(target).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_reasons_have_stable_names() {
        for kind in ProbeKind::ALL {
            assert_eq!(kind.as_str().parse::<ProbeKind>().unwrap(), kind);
        }
        assert_eq!(ProbeKind::QuicPing.as_str(), "quic-ping");
        assert!("ping".parse::<ProbeKind>().is_err());
        let names: Vec<&str> = [
            Reason::Timeout,
            Reason::Refused,
            Reason::BadReply,
            Reason::Tls,
            Reason::Handshake,
            Reason::Closed,
            Reason::Io,
        ]
        .into_iter()
        .map(Reason::as_str)
        .collect();
        assert_eq!(
            names,
            [
                "timeout",
                "refused",
                "bad_reply",
                "tls",
                "handshake",
                "closed",
                "io"
            ]
        );
    }

    #[test]
    fn prober_is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Prober>();
    }
}

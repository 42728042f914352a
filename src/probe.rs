//! `wavelb probe`: run one health probe against a target and print the verdict.
//!
//! The flags build the same [`ProbeConfig`] as a `[health.probe]` table and go through the same
//! validation ([`Prober::new`]); a rejected flag is bad usage (exit 2) and the message names the
//! flag. Exit codes: 0 healthy, 1 unhealthy (or the host name does not resolve), 2 bad usage.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ::probe::{ProbeConfig, ProbeConfigError, ProbeKind, ProbeResult, Prober};
use clap::Args;

use crate::exit::UsageError;

/// `wavelb probe <kind> <host:port> [options]`.
///
/// Exit codes: 0 healthy, 1 unhealthy, 2 bad usage.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Probe kind: udp, quic, quic-ping, stun, srt, dns or tcp.
    #[arg(value_name = "KIND", value_parser = parse_kind)]
    pub kind: ProbeKind,
    /// The target: IP:PORT, [IPv6]:PORT or HOSTNAME:PORT (the first address it resolves to).
    #[arg(value_name = "HOST:PORT")]
    pub target: String,
    /// The bound on the whole probe, e.g. 500ms or 2s.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = crate::cli::parse_duration)]
    pub timeout: Duration,
    /// udp: the payload as text.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub send: Option<String>,
    /// udp: the payload as hex digits.
    #[arg(long, value_name = "HEX")]
    pub send_hex: Option<String>,
    /// udp: the payload as base64.
    #[arg(long, value_name = "BASE64")]
    pub send_base64: Option<String>,
    /// udp: the reply must be exactly this text; dns: an answer must be exactly this.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub expect: Option<String>,
    /// udp: the reply must be exactly these bytes (hex).
    #[arg(long, value_name = "HEX")]
    pub expect_hex: Option<String>,
    /// udp: the reply must start with this text.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub expect_prefix: Option<String>,
    /// udp: a regular expression the reply must match; dns: that an answer must match.
    #[arg(long, value_name = "RE", allow_hyphen_values = true)]
    pub expect_regex: Option<String>,
    /// quic: an ALPN protocol to offer (repeatable; at least one), e.g. h3.
    #[arg(long = "alpn", value_name = "PROTOCOL")]
    pub alpn: Vec<String>,
    /// quic: the TLS server name [default: localhost].
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// quic: accept any certificate (the handshake signature is still checked).
    #[arg(long)]
    pub insecure: bool,
    /// quic: trust only the PEM CA certificates in FILE.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// quic: the SHA-256 of the certificate's SubjectPublicKeyInfo (64 hex digits or base64).
    #[arg(long, value_name = "SHA256")]
    pub pin: Option<String>,
    /// dns: the name to query.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// dns: the query type [default: A].
    #[arg(long, value_name = "TYPE")]
    pub qtype: Option<String>,
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_kind(text: &str) -> Result<ProbeKind, String> {
    text.parse()
        .map_err(|e: ::probe::UnknownKind| e.to_string())
}

impl ProbeArgs {
    fn config(&self) -> ProbeConfig {
        let mut cfg = ProbeConfig::new(self.kind);
        cfg.timeout = self.timeout;
        cfg.send = self.send.clone();
        cfg.send_hex = self.send_hex.clone();
        cfg.send_base64 = self.send_base64.clone();
        cfg.expect = self.expect.clone();
        cfg.expect_hex = self.expect_hex.clone();
        cfg.expect_prefix = self.expect_prefix.clone();
        cfg.expect_regex = self.expect_regex.clone();
        cfg.alpn = self.alpn.clone();
        cfg.sni = self.sni.clone();
        cfg.insecure = self.insecure;
        cfg.ca = self.ca.clone();
        cfg.pin = self.pin.clone();
        cfg.name = self.name.clone();
        cfg.qtype = self.qtype.clone();
        cfg
    }
}

/// The flag form of a configuration key (`send_hex` → `--send-hex`).
fn flag(key: &str) -> String {
    match key {
        "kind" => "<KIND>".to_owned(),
        "port" => "<HOST:PORT>".to_owned(),
        _ => format!("--{}", key.replace('_', "-")),
    }
}

/// A configuration error in terms of flags: the key and every `` `key` `` in the message.
fn usage_error(err: &ProbeConfigError) -> UsageError {
    let mut message = String::new();
    let mut rest = err.message.as_str();
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        message.push_str(&rest[..open]);
        message.push_str(&flag(&rest[open + 1..open + 1 + len]));
        rest = &rest[open + 1 + len + 1..];
    }
    message.push_str(rest);
    UsageError(format!("{}: {message}", flag(err.key)))
}

/// Splits `HOST:PORT` and resolves it. A malformed target is bad usage; a name that does not
/// resolve is a runtime failure.
async fn resolve(target: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = target.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(UsageError(format!("<HOST:PORT>: {target:?} has port 0")).into());
        }
        return Ok(addr);
    }
    let bad = |why: &str| -> anyhow::Error {
        UsageError(format!(
            "<HOST:PORT>: {target:?} {why}; write e.g. 192.0.2.1:443, [2001:db8::1]:443 or host.example:443"
        ))
        .into()
    };
    let Some((host, port)) = target.rsplit_once(':') else {
        return Err(bad("has no port"));
    };
    if host.is_empty() || host.contains(':') || host.starts_with('[') {
        return Err(bad("is not an address or host name with a port"));
    }
    let port: u16 = match port.parse() {
        Ok(p) if p != 0 => p,
        _ => return Err(bad("has no valid port (1-65535)")),
    };
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot resolve {host}: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} resolves to no address"))
}

/// The verdict as one line of text.
fn human(kind: ProbeKind, target: SocketAddr, r: &ProbeResult) -> String {
    let ms = r.latency.as_secs_f64() * 1000.0;
    match r.reason {
        None => format!("healthy: {kind} {target} in {ms:.1} ms ({})", r.detail),
        Some(reason) => format!(
            "unhealthy: {kind} {target} after {ms:.1} ms: {reason}: {}",
            r.detail
        ),
    }
}

/// The verdict as one JSON object.
fn json(kind: ProbeKind, target: SocketAddr, r: &ProbeResult) -> serde_json::Value {
    serde_json::json!({
        "kind": kind.as_str(),
        "target": target.to_string(),
        "healthy": r.healthy,
        "latency_ms": (r.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        "reason": r.reason.map(|x| x.as_str()),
        "detail": r.detail,
    })
}

/// Runs `wavelb probe`.
pub async fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let prober = Prober::new(&args.config()).map_err(|e| usage_error(&e))?;
    let target = resolve(&args.target).await?;
    let result = prober.probe(target).await;
    prober.shutdown().await;
    if args.json {
        println!("{}", json(args.kind, target, &result));
    } else {
        println!("{}", human(args.kind, target, &result));
    }
    match result.reason {
        None => Ok(()),
        Some(reason) => Err(anyhow::anyhow!("unhealthy ({reason})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_speak_in_flags() {
        let err = ProbeConfigError {
            key: "send_hex",
            message: "conflicts with `send`; give at most one of `send`, `send_hex`".into(),
        };
        assert_eq!(
            usage_error(&err).0,
            "--send-hex: conflicts with --send; give at most one of --send, --send-hex"
        );
    }

    #[tokio::test]
    async fn targets() {
        assert_eq!(
            resolve("127.0.0.1:53").await.unwrap(),
            "127.0.0.1:53".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(resolve("[::1]:443").await.unwrap().port(), 443);
        assert_eq!(resolve("localhost:8443").await.unwrap().port(), 8443);
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "host:",
            ":53",
            "::1:53",
            "h:99999",
        ] {
            let err = resolve(bad).await.unwrap_err();
            assert!(err.downcast_ref::<UsageError>().is_some(), "{bad}: {err}");
        }
    }
}

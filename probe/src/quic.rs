//! `quic`: a full QUIC handshake (quinn, TLS 1.3 over rustls with aws-lc-rs), healthy when it
//! completes with a negotiated ALPN. The connection is then closed with application code 0.
//!
//! One quinn client endpoint per address family is opened lazily, on the first probe of that
//! family, and reused by every later probe of this prober (its driver task lives on the tokio
//! runtime of that first probe).
//!
//! Failures: the certificate rejected, or any other TLS alert → `tls`; no common ALPN
//! (`no_application_protocol`), no common QUIC version, or a transport error → `handshake`;
//! no answer → `timeout`; nothing listening → `refused`. The shared client endpoint is not a
//! connected socket and never sees an ICMP port unreachable, so each probe also sends one
//! `quic-ping` datagram from a connected socket: a closed port fails the probe as soon as the
//! ICMP error arrives, instead of at the timeout. A live server answers that datagram with a
//! stateless Version Negotiation packet, which is ignored.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::crypto::rustls::{HandshakeData, QuicClientConfig};
use quinn::{ConnectionError, Endpoint, TransportErrorCode, VarInt};
use tokio::sync::OnceCell;

use super::tls::{self, Trust};
use super::{
    Failure, Key, Message, Outcome, ProbeConfig, ProbeConfigError, Reason, Resend, Success,
};

/// The default SNI: targets are IP addresses, which are not valid SNI names.
pub(crate) const DEFAULT_SNI: &str = "localhost";

/// TLS alert `no_application_protocol` (RFC 7301).
const ALERT_NO_APPLICATION_PROTOCOL: u64 = 120;

/// A validated `quic` probe.
pub(crate) struct QuicProbe {
    client: quinn::ClientConfig,
    /// The resend schedule of the side probe that notices a closed port.
    resend: Resend,
    sni: String,
    trust: &'static str,
    v4: OnceCell<Endpoint>,
    v6: OnceCell<Endpoint>,
}

impl QuicProbe {
    pub(crate) fn new(cfg: &ProbeConfig, resend: Resend) -> Result<Self, ProbeConfigError> {
        if cfg.alpn.is_empty() {
            return Err(ProbeConfigError::new(
                Key::Alpn,
                Message::text("kind quic needs at least one ALPN protocol, e.g. ")
                    .example(Key::Alpn, "h3"),
            ));
        }
        for p in &cfg.alpn {
            if p.is_empty() || p.len() > 255 {
                return Err(ProbeConfigError::new(
                    Key::Alpn,
                    format!("{p:?} is not an ALPN protocol id (1-255 bytes)"),
                ));
            }
        }
        let sni = cfg.sni.clone().unwrap_or_else(|| DEFAULT_SNI.to_owned());
        if rustls::pki_types::ServerName::try_from(sni.as_str()).is_err() {
            return Err(ProbeConfigError::new(
                Key::Sni,
                format!("{sni:?} is not a DNS name or IP address"),
            ));
        }
        super::at_most_one(&[
            (Key::Insecure, cfg.insecure),
            (Key::Ca, cfg.ca.is_some()),
            (Key::Pin, cfg.pin.is_some()),
        ])?;
        let trust = if cfg.insecure {
            Trust::Insecure
        } else if let Some(pin) = &cfg.pin {
            Trust::Pin(tls::parse_pin(pin)?)
        } else if let Some(ca) = &cfg.ca {
            Trust::Verify(tls::load_ca(ca)?)
        } else {
            Trust::Verify(tls::system_roots())
        };
        let tls_config = tls::client_config(&trust, &cfg.alpn)?;
        let quic_tls = QuicClientConfig::try_from(tls_config).map_err(|e| {
            ProbeConfigError::new(Key::Kind, format!("cannot build a QUIC TLS config: {e}"))
        })?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic_tls));
        let mut transport = quinn::TransportConfig::default();
        // The probe's own timeout bounds the handshake; keep quinn's idle timer out of the way
        // (it has a floor of about 3 s anyway) and never keep a connection alive.
        transport.max_idle_timeout(Some(VarInt::from_u32(30_000).into()));
        transport.keep_alive_interval(None);
        // Every datagram stays at QUIC's minimum of 1200 bytes (1228 with the IPv4 and UDP
        // headers), within the 1300-byte MTU between a Wavelength Zone and its Region: no path
        // MTU probing past it.
        transport.initial_mtu(1200);
        transport.mtu_discovery_config(None);
        // QUIC retransmits a lost Initial after its probe timeout, three initial RTTs before the
        // first RTT sample (RFC 9002 section 6.2.2). quinn's default initial RTT (333 ms) puts
        // that beyond a 1 s timeout; this puts the first retransmission where the other UDP
        // kinds send their first resend.
        transport.initial_rtt((resend.every / 3).max(Duration::from_millis(1)));
        client.transport_config(Arc::new(transport));
        Ok(Self {
            client,
            resend,
            sni,
            trust: trust.describe(),
            v4: OnceCell::new(),
            v6: OnceCell::new(),
        })
    }

    async fn endpoint(&self, target: SocketAddr) -> Result<&Endpoint, Failure> {
        let (cell, local): (&OnceCell<Endpoint>, SocketAddr) = if target.is_ipv4() {
            (&self.v4, (Ipv4Addr::UNSPECIFIED, 0).into())
        } else {
            (&self.v6, (Ipv6Addr::UNSPECIFIED, 0).into())
        };
        cell.get_or_try_init(|| async move {
            let endpoint = Endpoint::client(local)
                .map_err(|e| Failure::io("cannot open a QUIC client endpoint", &e))?;
            tracing::debug!(local = ?endpoint.local_addr().ok(), "QUIC probe endpoint opened");
            Ok(endpoint)
        })
        .await
    }

    pub(crate) async fn run(&self, target: SocketAddr) -> Outcome {
        tokio::select! {
            outcome = self.handshake(target) => outcome,
            refused = refused(target, self.resend) => Err(refused),
        }
    }

    async fn handshake(&self, target: SocketAddr) -> Outcome {
        let endpoint = self.endpoint(target).await?;
        let start = Instant::now();
        let connecting = endpoint
            .connect_with(self.client.clone(), target, &self.sni)
            .map_err(|e| Failure::new(Reason::Io, format!("cannot start a handshake: {e}")))?;
        let conn = connecting.await.map_err(classify)?;
        let latency = start.elapsed();
        // Packets quinn declared lost (and so sent again) during the handshake.
        let lost = conn.stats().path.lost_packets;
        let alpn = conn
            .handshake_data()
            .and_then(|d| d.downcast::<HandshakeData>().ok())
            .and_then(|d| d.protocol);
        conn.close(VarInt::from_u32(0), b"wavelb probe done");
        match alpn {
            Some(p) => Ok(Success {
                detail: format!("alpn {}, {}", String::from_utf8_lossy(&p), self.trust),
                latency,
                resent: u32::try_from(lost).unwrap_or(u32::MAX),
            }),
            None => Err(Failure::new(
                Reason::Handshake,
                "handshake completed without a negotiated ALPN protocol",
            )),
        }
    }

    /// Waits until closed connections have sent their CONNECTION_CLOSE, at most `bound`.
    pub(crate) async fn wait_idle(&self, bound: Duration) {
        let wait = async {
            for cell in [&self.v4, &self.v6] {
                if let Some(endpoint) = cell.get() {
                    endpoint.wait_idle().await;
                }
            }
        };
        let _ = tokio::time::timeout(bound, wait).await;
    }
}

/// Resolves only when `target`'s port is closed (a `quic-ping` from a connected socket gets an
/// ICMP port unreachable); stays pending on any other outcome, leaving the verdict to the
/// handshake.
async fn refused(target: SocketAddr, resend: Resend) -> Failure {
    match super::quic_ping::run(target, resend).await {
        Err(f) if f.reason == Reason::Refused => Failure::new(
            Reason::Refused,
            format!(
                "nothing listens on the port (ICMP port unreachable): {}",
                f.detail
            ),
        ),
        _ => std::future::pending().await,
    }
}

/// Maps a failed handshake to a reason.
fn classify(err: ConnectionError) -> Failure {
    match &err {
        ConnectionError::TransportError(te) => {
            Failure::new(by_code(te.code), format!("handshake failed: {err}"))
        }
        ConnectionError::ConnectionClosed(close) => Failure::new(
            by_code(close.error_code),
            format!("the server aborted the handshake: {close}"),
        ),
        ConnectionError::VersionMismatch => Failure::new(
            Reason::Handshake,
            "the server supports no QUIC version we speak",
        ),
        ConnectionError::TimedOut => Failure::new(Reason::Timeout, "the handshake timed out"),
        ConnectionError::ApplicationClosed(_) | ConnectionError::Reset => {
            Failure::new(Reason::Closed, format!("connection closed: {err}"))
        }
        ConnectionError::LocallyClosed | ConnectionError::CidsExhausted => {
            Failure::new(Reason::Io, format!("connection failed: {err}"))
        }
    }
}

/// TLS alerts (QUIC CRYPTO_ERROR 0x100-0x1ff) are `tls`, except no common ALPN; every other
/// transport error during the handshake is `handshake`.
fn by_code(code: TransportErrorCode) -> Reason {
    let raw = u64::from(code);
    if (0x100..0x200).contains(&raw) {
        if raw - 0x100 == ALERT_NO_APPLICATION_PROTOCOL {
            Reason::Handshake
        } else {
            Reason::Tls
        }
    } else {
        Reason::Handshake
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_map_to_reasons() {
        assert_eq!(by_code(TransportErrorCode::crypto(120)), Reason::Handshake);
        assert_eq!(by_code(TransportErrorCode::crypto(48)), Reason::Tls); // unknown_ca
        assert_eq!(by_code(TransportErrorCode::crypto(42)), Reason::Tls); // bad_certificate
        assert_eq!(
            by_code(TransportErrorCode::PROTOCOL_VIOLATION),
            Reason::Handshake
        );
    }
}

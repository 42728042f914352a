//! Connection admission shared by DNS over TCP and the API: a cap on open connections in total
//! and per source address (each listener has its own pool, so a flood of one never starves the
//! other), and the accept loop that applies it, backs off when the process runs out of file
//! descriptors and logs accept errors at most once a second.
//!
//! The caps must stay below the process's file-descriptor limit (`LimitNOFILE=` in the systemd
//! unit): a connection over a cap is closed at once, before it can hold a descriptor.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::ConnectionLabels;

/// The caps of one listener's connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Open connections at most, from all sources together.
    pub total: usize,
    /// Open connections at most from one source address.
    pub per_source: usize,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds [`Caps::total`] connections.
    Total,
    /// The source address holds [`Caps::per_source`] connections.
    PerSource,
}

impl Refusal {
    /// The `reason` label of `wavelb_connections_refused_total`: `total` or `per_source`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::PerSource => "per_source",
        }
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// Counts a listener's open connections and admits new ones within its [`Caps`]. Pure: no I/O.
#[derive(Debug)]
pub struct Limiter {
    caps: Caps,
    open: Mutex<Open>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
    source: IpAddr,
}

impl Limiter {
    /// A limiter with no connection open.
    pub fn new(caps: Caps) -> Arc<Self> {
        Arc::new(Self {
            caps,
            open: Mutex::new(Open::default()),
        })
    }

    /// Admits a connection from `source`, or says which cap it would exceed.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Result<Permit, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.caps.total {
            return Err(Refusal::Total);
        }
        let from_source = open.by_source.entry(source).or_insert(0);
        if *from_source >= self.caps.per_source {
            return Err(Refusal::PerSource);
        }
        *from_source += 1;
        open.total += 1;
        Ok(Permit {
            limiter: self.clone(),
            source,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_source.remove(&self.source);
            }
        }
    }
}

/// Decides which accept errors are logged: the first, then at most one a second, each saying
/// how many were suppressed since the last line. Pure: the caller passes the time.
#[derive(Debug, Default)]
pub struct ErrorLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    /// How long at least between two logged lines.
    pub const INTERVAL: Duration = Duration::from_secs(1);

    /// An error happened at `now`: `Some(suppressed)` when it is to be logged, with the number of
    /// errors left unlogged since the previous line.
    pub fn record(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < Self::INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// How long the accept loop pauses after `error`: out of file descriptors or memory, long enough
/// for connections to end (accepting again at once would spin); otherwise not at all (a
/// connection reset before it was accepted concerns that connection only).
pub fn backoff(error: &std::io::Error) -> Duration {
    match error.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            Duration::from_millis(100)
        }
        _ => Duration::ZERO,
    }
}

/// What an accept loop counts.
#[derive(Debug, Clone)]
pub struct Counters {
    /// The listener's name in metrics and logs (`dns-tcp`, `api`).
    pub listener: &'static str,
    /// Connections refused, by listener and cap.
    pub refused: Family<ConnectionLabels, Counter>,
}

/// Accepts connections on `listener` for ever: each admitted one is served by `serve` in its own
/// task, holding its [`Permit`] until it ends; one over a cap is closed at once and counted.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    limiter: Arc<Limiter>,
    counters: Counters,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Every cap's series exists at 0 from the start, so a rate over it exists before a refusal.
    for refusal in [Refusal::Total, Refusal::PerSource] {
        drop(counters.refused.get_or_create(&ConnectionLabels {
            listener: counters.listener,
            reason: refusal.label(),
        }));
    }
    let mut errors = ErrorLog::default();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => match limiter.admit(peer.ip()) {
                Ok(permit) => {
                    let task = serve(stream, peer);
                    tokio::spawn(async move {
                        task.await;
                        drop(permit);
                    });
                }
                Err(refusal) => {
                    drop(stream);
                    counters
                        .refused
                        .get_or_create(&ConnectionLabels {
                            listener: counters.listener,
                            reason: refusal.label(),
                        })
                        .inc();
                }
            },
            Err(e) => {
                if let Some(suppressed) = errors.record(Instant::now()) {
                    tracing::warn!(
                        listener = counters.listener,
                        error = %e,
                        suppressed,
                        "cannot accept a connection (suppressed: similar errors since the last line)"
                    );
                }
                let pause = backoff(&e);
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_apply_in_total_and_per_source_and_free_on_drop() {
        let l = Limiter::new(Caps {
            total: 3,
            per_source: 2,
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let c: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refusal::PerSource);
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(c).unwrap_err(), Refusal::Total);
        drop(a1);
        let c1 = l.admit(c).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refusal::Total);
        drop(c1);
        // A's place freed by a1 was taken by c; c's is free again, and a may take it.
        let _a3 = l.admit(a).unwrap();
    }

    #[test]
    fn error_log_says_one_line_a_second_with_the_suppressed_count() {
        let mut log = ErrorLog::default();
        let t0 = Instant::now();
        assert_eq!(log.record(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(log.record(t0 + Duration::from_millis(i * 100)), None);
        }
        assert_eq!(log.record(t0 + Duration::from_millis(1000)), Some(5));
        assert_eq!(log.record(t0 + Duration::from_millis(1500)), None);
        assert_eq!(log.record(t0 + Duration::from_millis(2500)), Some(1));
    }

    #[test]
    fn running_out_of_descriptors_pauses_and_a_reset_does_not() {
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert!(backoff(&emfile) >= Duration::from_millis(50));
        let aborted = std::io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(backoff(&aborted), Duration::ZERO);
    }
}

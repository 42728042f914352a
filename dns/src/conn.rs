//! Connection admission shared by DNS over TCP and the API: a cap on open connections in total
//! and per source network (a /24 or a /56: [`Prefix`]; each listener has its own pool, so a
//! flood of one never starves the other), eviction of the least recently active connection when
//! a listener that allows it is full (the decision is [`crate::slots`]'s), and the accept loop
//! that applies them, backs off when the process runs out of file descriptors and logs accept
//! errors at most once a second.
//!
//! The caps must stay below the process's file-descriptor limit (`LimitNOFILE=` in the systemd
//! unit): a connection over a cap is closed at once, before it can hold a descriptor.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::metrics::{ConnectionLabels, Listener};
pub use crate::slots::{Caps, Prefix, Refusal};
use crate::slots::{Id, Table};

/// A listener's open connections ([`Table`], the decisions) behind a lock, with a way to close
/// each: the connection's task waits on its [`Slot::evicted`].
#[derive(Debug)]
pub struct Limiter {
    table: Mutex<Table<Arc<Notify>>>,
}

/// One admitted connection: its task marks it active ([`Slot::touch`]) and ends when
/// [`Slot::evicted`] resolves; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<Limiter>,
    id: Id,
    evicted: Arc<Notify>,
}

impl Limiter {
    /// A limiter with no connection open. With `evict`, a full listener closes its least
    /// recently active connection of the network holding the most for a newcomer
    /// ([`Table::admit`]); without, it refuses the newcomer.
    pub fn new(caps: Caps, evict: bool) -> Arc<Self> {
        Arc::new(Self {
            table: Mutex::new(Table::new(caps, evict)),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table<Arc<Notify>>> {
        // A panic while holding the lock leaves the table consistent: every method of it
        // changes its maps together, so a poisoned lock is used as is.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `source` at `now`, or says which cap it would exceed. When it
    /// takes an evicted connection's place, that connection's task is told to end.
    pub fn admit(self: &Arc<Self>, source: IpAddr, now: Instant) -> Result<Slot, Refusal> {
        let evicted = Arc::new(Notify::new());
        let admitted = self.table().admit(source, now, evicted.clone())?;
        if let Some((_, victim)) = admitted.evicted {
            // notify_one keeps the wake-up if the task is not waiting yet.
            victim.notify_one();
        }
        Ok(Slot {
            limiter: self.clone(),
            id: admitted.id,
            evicted,
        })
    }
}

impl Slot {
    /// The connection was active now (a whole query read, an answer written).
    pub fn touch(&self) {
        self.limiter.table().touch(self.id, Instant::now());
    }

    /// Resolves once a newcomer has taken this connection's place: its task must close it.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Nothing to free when the connection was evicted: its place was handed on then.
        drop(self.limiter.table().release(self.id));
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
    /// The listener, in metrics and logs.
    pub listener: Listener,
    /// Connections refused, by listener and cap.
    pub refused: Family<ConnectionLabels, Counter>,
}

/// Accepts connections on `listener` for ever: each admitted one is served by `serve` in its own
/// task, which holds its [`Slot`] until it ends; one over a cap is closed at once and counted.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    limiter: Arc<Limiter>,
    counters: Counters,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, Slot) -> Fut,
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
            Ok((stream, peer)) => match limiter.admit(peer.ip(), Instant::now()) {
                Ok(slot) => {
                    tokio::spawn(serve(stream, peer, slot));
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
                        listener = %counters.listener,
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
    fn caps_apply_in_total_and_per_network_and_free_on_drop() {
        let l = Limiter::new(
            Caps {
                total: 3,
                per_source: 2,
            },
            false,
        );
        let a: IpAddr = "127.0.1.1".parse().unwrap();
        let a_too: IpAddr = "127.0.1.2".parse().unwrap();
        let b: IpAddr = "127.0.2.1".parse().unwrap();
        let c: IpAddr = "127.0.3.1".parse().unwrap();
        let t = Instant::now();
        let a1 = l.admit(a, t).unwrap();
        let _a2 = l.admit(a_too, t).unwrap();
        assert_eq!(l.admit(a, t).unwrap_err(), Refusal::PerSource);
        let _b1 = l.admit(b, t).unwrap();
        assert_eq!(l.admit(c, t).unwrap_err(), Refusal::Total);
        drop(a1);
        let c1 = l.admit(c, t).unwrap();
        assert_eq!(l.admit(a, t).unwrap_err(), Refusal::Total);
        drop(c1);
        // A's place freed by a1 was taken by c; c's is free again, and a may take it.
        let _a3 = l.admit(a, t).unwrap();
    }

    #[tokio::test]
    async fn an_evicted_slot_is_told_and_freed_once() {
        let l = Limiter::new(
            Caps {
                total: 2,
                per_source: 2,
            },
            true,
        );
        let t = Instant::now();
        let holder = "127.0.1.1".parse().unwrap();
        let old = l.admit(holder, t).unwrap();
        let busy = l.admit(holder, t).unwrap();
        busy.touch();
        let newcomer = l.admit("127.0.2.1".parse().unwrap(), t).unwrap();
        // The wake-up was kept for a task that waits only now.
        tokio::time::timeout(Duration::from_secs(5), old.evicted())
            .await
            .expect("the least recently active slot is told to close");
        assert!(
            tokio::time::timeout(Duration::ZERO, busy.evicted())
                .await
                .is_err(),
            "the other keeps its place"
        );
        assert_eq!(l.table().len(), 2);
        drop(old);
        assert_eq!(l.table().len(), 2, "an evicted slot is not freed twice");
        drop(busy);
        drop(newcomer);
        assert!(l.table().is_empty());
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

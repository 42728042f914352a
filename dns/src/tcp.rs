//! DNS over TCP (RFC 7766): length-prefixed queries answered in order on one connection, within
//! bounds: the connection caps of [`crate::conn`] (per source network, and a full listener
//! closes its least recently active connection of the network holding the most for a
//! newcomer), an idle timeout between queries, a timeout to read one query and to write one
//! answer (a client that pipelines queries and never reads is cut), a number of queries per
//! connection, and a lifetime. A connection is active when a whole query has been read and when
//! an answer has been written: trickling bytes never makes it look active, and the lifetime
//! ends it however it behaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::conn::{self, Caps, Counters, Limiter, Slot};
use crate::metrics::{ConnectionLabels, Listener};
use crate::shared::Shared;
use crate::transport::Transport;

/// The bounds on DNS-over-TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Open connections at most, in total and per source network; past the total the least
    /// recently active connection of the network holding the most is closed for the newcomer.
    pub caps: Caps,
    /// How long a connection may wait for its next query, take to send one, or leave one answer
    /// unread before it is closed.
    pub timeout: Duration,
    /// Queries answered on one connection before it is closed (the client reconnects).
    pub max_queries: usize,
    /// How long a connection may stay open, however active; then it is closed (a query it has
    /// sent and not had answered is lost: RFC 7766 clients send it again on a new connection).
    pub lifetime: Duration,
}

impl Default for TcpLimits {
    /// 512 connections (64 from one /24 or /56), 10 s, 1000 queries, 2 minutes: with the API's
    /// 256, below the common 1024 file-descriptor limit, and far below the unit's
    /// `LimitNOFILE=4096`.
    fn default() -> Self {
        Self {
            caps: Caps {
                total: 512,
                per_source: 64,
            },
            timeout: Duration::from_secs(10),
            max_queries: 1000,
            lifetime: Duration::from_secs(120),
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The client closed it, or sent something that is not a query.
    Client,
    /// No query within the timeout.
    Idle,
    /// A query's bytes did not arrive within the timeout.
    ReadTimeout,
    /// An answer was not taken within the timeout.
    WriteTimeout,
    /// [`TcpLimits::max_queries`] were answered.
    QueryCap,
    /// [`TcpLimits::lifetime`] passed.
    Lifetime,
    /// A newcomer took its place in a full listener.
    Evicted,
}

impl Ended {
    fn label(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Idle => "idle",
            Self::ReadTimeout => "read_timeout",
            Self::WriteTimeout => "write_timeout",
            Self::QueryCap => "query_cap",
            Self::Lifetime => "lifetime",
            Self::Evicted => "evicted",
        }
    }
}

/// Serves DNS over TCP on `listener` for ever.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, limits: TcpLimits) {
    let counters = Counters {
        listener: Listener::DnsTcp,
        refused: shared.metrics.connections_refused.clone(),
    };
    let limiter = Limiter::new(limits.caps, true);
    conn::accept_loop(listener, limiter, counters, move |stream, peer, slot| {
        let shared = shared.clone();
        async move {
            // Whichever comes first; the others are dropped, and the stream with them.
            let ended = tokio::select! {
                biased;
                () = slot.evicted() => Ended::Evicted,
                () = tokio::time::sleep(limits.lifetime) => Ended::Lifetime,
                served = serve_conn(stream, peer.ip(), &shared, limits, &slot) => match served {
                    Ok(ended) => ended,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "DNS-over-TCP connection failed");
                        Ended::Client
                    }
                },
            };
            drop(slot);
            shared
                .metrics
                .connections_ended
                .get_or_create(&ConnectionLabels {
                    listener: Listener::DnsTcp,
                    reason: ended.label(),
                })
                .inc();
        }
    })
    .await;
}

async fn serve_conn(
    mut stream: TcpStream,
    peer: std::net::IpAddr,
    shared: &Shared,
    limits: TcpLimits,
    slot: &Slot,
) -> std::io::Result<Ended> {
    let mut rng = rand::rngs::SmallRng::from_rng(&mut rand::rng());
    let mut framed = Vec::new();
    let mut reply = Vec::new();
    for _ in 0..limits.max_queries {
        let mut len = [0u8; 2];
        match tokio::time::timeout(limits.timeout, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(Ended::Client);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(Ended::Idle),
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match tokio::time::timeout(limits.timeout, stream.read_exact(&mut msg)).await {
            Ok(read) => read?,
            Err(_) => return Ok(Ended::ReadTimeout),
        };
        slot.touch();
        let started = Instant::now();
        let answered = {
            let snapshot = shared.snapshot.load();
            shared.answer_query(
                &snapshot,
                &msg,
                Transport::Tcp,
                peer,
                rng.random(),
                &mut reply,
            )
        };
        if !answered {
            return Ok(Ended::Client);
        }
        // TCP answers are at most 65535 bytes (Transport::Tcp truncates beyond that).
        let n = u16::try_from(reply.len()).unwrap_or(u16::MAX);
        framed.clear();
        framed.extend_from_slice(&n.to_be_bytes());
        framed.extend_from_slice(&reply);
        match tokio::time::timeout(limits.timeout, stream.write_all(&framed)).await {
            Ok(written) => written?,
            Err(_) => return Ok(Ended::WriteTimeout),
        }
        slot.touch();
        shared.metrics.answered_in(1, started.elapsed());
    }
    Ok(Ended::QueryCap)
}

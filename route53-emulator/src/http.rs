//! The API's HTTP/1.1 server: hyper, one task per connection, within bounds: the connection caps
//! of [`dns::conn`] (a pool of its own, so a DNS-over-TCP flood never starves the API; sources
//! counted by /24 or /56), a timeout on the request head (which also closes an idle keep-alive
//! connection), a deadline on the request body, and a connection lifetime after which it is
//! closed gracefully.
//!
//! Unlike DNS over TCP, a full API listener refuses a newcomer rather than evicting a
//! connection: closing one at once could cut a change batch in the middle, and closing it
//! gracefully keeps its descriptor open until its request ends (up to the body timeout), so
//! eviction under a flood of connections could outgrow the descriptor budget. The head timeout
//! and the lifetime bound how long a connection holds its place.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::shared::Shared;
use dns::conn::{self, Caps, Counters, Limiter};
use dns::metrics::{ConnectionLabels, Listener};

/// The bounds on API connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Open connections at most, in total and per source network (/24, /56).
    pub caps: Caps,
    /// How long a client may take to send a request's head, and how long a keep-alive
    /// connection may wait for the next request.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body, from the end of its head; past it
    /// the request is refused (400).
    pub body_timeout: Duration,
    /// How long a connection is used before it is closed after its current request.
    pub lifetime: Duration,
}

impl Default for ApiLimits {
    /// 256 connections (64 from one /24 or /56), 10 s for a head, 30 s for a body, 5 minutes a
    /// connection.
    fn default() -> Self {
        Self {
            caps: Caps {
                total: 256,
                per_source: 64,
            },
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            lifetime: Duration::from_secs(300),
        }
    }
}

/// Serves `router` on `listener` for ever.
pub async fn serve(listener: TcpListener, router: Router, shared: Arc<Shared>, limits: ApiLimits) {
    let counters = Counters {
        listener: Listener::Api,
        refused: shared.dns.metrics.connections_refused.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    let builder = Arc::new(builder);
    let limiter = Limiter::new(limits.caps, false);
    conn::accept_loop(listener, limiter, counters, move |stream, peer, slot| {
        let builder = builder.clone();
        let router = router.clone();
        let shared = shared.clone();
        async move {
            let body_timeout = limits.body_timeout;
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let req = req.map(|body| Deadline::new(body, body_timeout));
                hyper::service::Service::call(&TowerToHyperService::new(router.clone()), req)
            });
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let reason = tokio::select! {
                done = connection.as_mut() => ended(done),
                () = tokio::time::sleep(limits.lifetime) => {
                    connection.as_mut().graceful_shutdown();
                    // The request under way has its head; its body and answer get one more
                    // body timeout.
                    match tokio::time::timeout(limits.body_timeout, connection.as_mut()).await {
                        Ok(done) => ended(done),
                        Err(_) => "lifetime",
                    }
                }
            };
            drop(slot);
            if reason == "error" {
                tracing::debug!(%peer, "API connection failed");
            }
            shared
                .dns
                .metrics
                .connections_ended
                .get_or_create(&ConnectionLabels {
                    listener: Listener::Api,
                    reason,
                })
                .inc();
        }
    })
    .await;
}

/// The metrics label for how a connection ended.
fn ended(result: Result<(), hyper::Error>) -> &'static str {
    match result {
        Ok(()) => "client",
        Err(e) if e.is_timeout() => "header_timeout",
        Err(_) => "error",
    }
}

/// A request body that fails once its deadline has passed, so a client sending its body byte by
/// byte cannot hold the request (and its connection) for ever.
struct Deadline {
    body: Incoming,
    timeout: Duration,
    expiry: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            expiry: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.expiry.as_mut().poll(cx).is_ready() {
            let timeout = humantime::format_duration(this.timeout);
            return Poll::Ready(Some(Err(format!(
                "the request body did not arrive within {timeout}"
            )
            .into())));
        }
        Pin::new(&mut this.body)
            .poll_frame(cx)
            .map_err(|e| Box::new(e) as Self::Error)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

//! The DNS-over-UDP listener: one OS thread per core, each blocking in the socket and answering
//! what arrives in batches (`recvmmsg`/`sendmmsg`, see [`crate::mmsg`]).
//!
//! Threads rather than tokio tasks: a socket registered with epoll pays a wake-up callback in the
//! kernel for every datagram received and every answer sent (tokio registers both directions).
//! A thread blocked in `recvmmsg` is only woken when the socket was idle.

use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::shared::Shared;
use crate::transport::{MAX_UDP_PAYLOAD, Transport};

/// How often an idle worker looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(200);

/// The workers of every UDP socket; dropping this stops them (within [`STOP_POLL`]).
#[derive(Default)]
pub(crate) struct Workers {
    stop: Arc<AtomicBool>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Workers {
    /// Starts `count` threads answering on `socket`.
    pub(crate) fn spawn(
        &self,
        socket: std::net::UdpSocket,
        count: usize,
        shared: &Arc<Shared>,
    ) -> std::io::Result<()> {
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(STOP_POLL))?;
        let ipv6 = socket.local_addr()?.is_ipv6();
        if let Err(e) = crate::mmsg::omit_path_mtu(socket.as_fd(), ipv6) {
            tracing::warn!(error = %e, "cannot turn path-MTU discovery off on the DNS socket; answers keep the don't-fragment bit");
        }
        for _ in 0..count {
            let socket = socket.try_clone()?;
            let shared = shared.clone();
            let stop = self.stop.clone();
            std::thread::Builder::new()
                .name("wavelb-dns-udp".into())
                .spawn(move || serve(&socket, &shared, &stop))?;
        }
        Ok(())
    }
}

/// Answers in batches: one `recvmmsg` for what is queued (waiting for the first), one
/// `sendmmsg` for the answers.
fn serve(socket: &std::net::UdpSocket, shared: &Shared, stop: &AtomicBool) {
    let mut rng = rand::rngs::SmallRng::from_rng(&mut rand::rng());
    let mut batch = crate::mmsg::Batch::new(usize::from(MAX_UDP_PAYLOAD));
    let fd = socket.as_fd();
    while !stop.load(Ordering::Relaxed) {
        match batch.recv(fd) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "UDP receive failed");
                continue;
            }
        }
        let received = Instant::now();
        {
            let snapshot = shared.snapshot.load();
            batch.answer_each(|query, peer, reply| {
                let random = rng.random();
                shared.answer_query(&snapshot, query, Transport::Udp, peer, random, reply)
            });
        }
        while batch.unsent() > 0 {
            match batch.send(fd) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // One bad peer address fails its own answer: skip it, send the rest.
                    tracing::debug!(error = %e, "UDP send failed");
                    shared.metrics.dropped_series.send_failed.inc();
                    batch.skip();
                }
            }
        }
        shared
            .metrics
            .answered_in(batch.answered(), received.elapsed());
    }
}

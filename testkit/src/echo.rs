//! A UDP echo server on a chosen loopback address that tests can stop and start again.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// An echo server running on a thread; `stop` closes its socket.
pub struct Echo {
    /// Where it listens.
    pub addr: SocketAddr,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Echo {
    /// Starts echoing on `addr` (port 0 picks one).
    pub fn start(addr: SocketAddr) -> Self {
        let mut e = Self {
            addr,
            running: None,
        };
        e.resume();
        e
    }

    /// Starts again on the same address after [`Echo::stop`].
    pub fn resume(&mut self) {
        if self.running.is_some() {
            return;
        }
        let socket =
            UdpSocket::bind(self.addr).unwrap_or_else(|e| panic!("cannot bind {}: {e}", self.addr));
        self.addr = socket.local_addr().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let alive = Arc::new(AtomicBool::new(true));
        let flag = alive.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while flag.load(Ordering::Relaxed) {
                if let Ok((n, peer)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..n], peer);
                }
            }
        });
        self.running = Some((alive, thread));
    }

    /// Stops and closes the socket (the port then answers ICMP port-unreachable).
    pub fn stop(&mut self) {
        if let Some((alive, thread)) = self.running.take() {
            alive.store(false, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop();
    }
}

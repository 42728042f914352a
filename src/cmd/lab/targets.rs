//! The lab's demo targets: UDP echo servers on loopback addresses that can be killed (their
//! socket closed, so probes get ICMP port-unreachable) and revived.

use std::net::SocketAddr;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// One demo target.
pub(super) struct EchoTarget {
    /// Where it listens.
    pub addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl EchoTarget {
    /// Binds `addr` and starts echoing.
    pub(super) async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let mut t = Self { addr, task: None };
        t.revive().await?;
        Ok(t)
    }

    /// True while the echo server runs.
    pub(super) fn alive(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the echo server and closes its socket.
    pub(super) fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Starts the echo server again (no-op when it runs).
    pub(super) async fn revive(&mut self) -> std::io::Result<()> {
        if self.alive() {
            return Ok(());
        }
        let socket = UdpSocket::bind(self.addr).await?;
        self.addr = socket.local_addr()?;
        self.task = Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                match socket.recv_from(&mut buf).await {
                    Ok((n, peer)) => {
                        let _ = socket.send_to(&buf[..n], peer).await;
                    }
                    Err(e) => tracing::debug!(error = %e, "echo target receive failed"),
                }
            }
        }));
        Ok(())
    }
}

impl Drop for EchoTarget {
    fn drop(&mut self) {
        self.kill();
    }
}

//! Starting the DNS listeners on a [`Shared`] state: UDP and TCP bound on the same address (and
//! port) for each DNS address, the batched UDP threads (`udp`) and a DNS-over-TCP task
//! ([`crate::tcp`]) on each. Nothing here runs after start.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};

use crate::shared::Shared;
use crate::tcp::TcpLimits;

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A socket could not be bound. The OS error is part of the message, not a `source`, so an
    /// error chain (`{:#}`) says it once.
    #[error("cannot listen on {addr} ({what}): {error}; pick another address or port")]
    Bind {
        /// The address as configured (port 0 when any free port was asked for).
        addr: SocketAddr,
        /// Which listener: `DNS UDP`, `DNS TCP`, or another a caller names (`API`).
        what: &'static str,
        /// The OS error (address in use, permission denied for a port below 1024, …).
        error: std::io::Error,
    },
    /// The threads answering DNS over UDP could not start.
    #[error(
        "cannot start the DNS-over-UDP threads on {addr}: {error}; check the process's thread \
         limit (systemd TasksMax=, ulimit -u)"
    )]
    UdpWorkers {
        /// The bound DNS address whose threads did not start.
        addr: SocketAddr,
        /// The OS error from cloning the socket or spawning a thread (in the message, not a
        /// `source`: said once).
        error: std::io::Error,
    },
}

/// Started DNS listeners: the addresses bound, and the UDP threads.
pub struct Listening {
    /// DNS addresses actually bound (UDP and TCP share each).
    pub addrs: Vec<SocketAddr>,
    /// The UDP threads; they stop when this is dropped.
    _udp: crate::udp::Workers,
}

/// Binds UDP and TCP on every address of `addrs` and serves DNS on them from `shared`: the UDP
/// threads start at once, the DNS-over-TCP tasks (bounded by `tcp`) are spawned on `tasks`.
///
/// # Errors
///
/// [`ListenError`] naming the address that could not be bound or served.
pub async fn listen(
    addrs: &[SocketAddr],
    shared: &Arc<Shared>,
    tcp: TcpLimits,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<Listening, ListenError> {
    let udp_workers = crate::udp::Workers::default();
    let mut bound_addrs = Vec::new();
    for addr in addrs {
        let (udp, listener) = bind_dns(*addr).await?;
        let bound = udp.local_addr().map_err(|source| ListenError::Bind {
            addr: *addr,
            what: "DNS UDP",
            error: source,
        })?;
        bound_addrs.push(bound);
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        udp.into_std()
            .and_then(|udp| udp_workers.spawn(udp, workers, shared))
            .map_err(|source| ListenError::UdpWorkers {
                addr: bound,
                error: source,
            })?;
        tasks.spawn(crate::tcp::serve(listener, shared.clone(), tcp));
    }
    Ok(Listening {
        addrs: bound_addrs,
        _udp: udp_workers,
    })
}

/// Binds UDP and TCP on the same address; with port 0 both get the same free port.
async fn bind_dns(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), ListenError> {
    let mut last = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| ListenError::Bind {
                addr,
                what: "DNS UDP",
                error: source,
            })?;
        let port = udp
            .local_addr()
            .map_err(|source| ListenError::Bind {
                addr,
                what: "DNS UDP",
                error: source,
            })?
            .port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(source) if addr.port() == 0 => last = Some(source),
            Err(source) => {
                return Err(ListenError::Bind {
                    addr,
                    what: "DNS TCP",
                    error: source,
                });
            }
        }
    }
    Err(ListenError::Bind {
        addr,
        what: "DNS TCP",
        error: last.unwrap_or_else(|| std::io::Error::other("no free port for both UDP and TCP")),
    })
}

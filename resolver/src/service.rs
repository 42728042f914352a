//! Starting the resolver: loads the state file, creates the `--zone` zones, builds the
//! [`Shared`] state and binds the listeners on it: DNS over UDP ([`crate::udp`]), DNS over TCP
//! ([`crate::tcp`]), the API ([`crate::http`] serving [`crate::api`]) and the health checks
//! ([`crate::checker`]). Nothing here runs after start; no listener depends on this module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use prometheus_client::registry::Registry;
use registry::limiter::TokenBucket;
use sha2::Digest;
use tokio::net::{TcpListener, UdpSocket};

use crate::config::ApiKeys;
use crate::db::{Batch, DbError, StateDb};
use crate::geotable::GeoTable;
use crate::http::ApiLimits;
use crate::metrics::ResolverMetrics;
use crate::shared::Shared;
use crate::sigv4::Payload;
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::tcp::TcpLimits;

/// What the resolver needs to start (from flags and `[resolver]`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// DNS listen addresses (UDP and TCP on each).
    pub dns_listen: Vec<SocketAddr>,
    /// The API listen address; anything but loopback needs credentials or `api_insecure`.
    pub api_listen: SocketAddr,
    /// Zones created at start when missing.
    pub zones: Vec<String>,
    /// Where the state database lives; `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    /// The bound on the whole state (`--max-record-sets`, `--max-state-mib`).
    pub state_limits: crate::store::StateLimits,
    /// How long changes stay PENDING before GetChange reports them INSYNC.
    pub propagation_delay: Duration,
    /// API requests per second before `Throttling`.
    pub api_rate_limit: Option<f64>,
    /// SigV4 credentials the API accepts, with their IAM policies; `None` accepts unsigned
    /// requests (and evaluates no policy).
    pub api_credentials: Option<ApiKeys>,
    /// Allow an unauthenticated API on a non-loopback address.
    pub api_insecure: bool,
    /// Accept SigV4 requests whose body is not signed (`x-amz-content-sha256: UNSIGNED-PAYLOAD`).
    pub api_allow_unsigned_payload: bool,
    /// Bounds on DNS-over-TCP connections.
    pub dns_tcp: TcpLimits,
    /// Bounds on API connections.
    pub api_limits: ApiLimits,
    /// Where clients are, for geoproximity answers (`--geo-table`; [`GeoTable::lab`] without).
    pub geo_table: Arc<GeoTable>,
}

/// Why the resolver could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A socket could not be bound. The OS error is part of the message, not a `source`, so an
    /// error chain (`{:#}`) says it once.
    #[error("cannot listen on {addr} ({what}): {error}; pick another address or port")]
    Bind {
        /// The address as configured (port 0 when any free port was asked for).
        addr: SocketAddr,
        /// Which listener: `DNS UDP`, `DNS TCP` or `API`.
        what: &'static str,
        /// The OS error (address in use, permission denied for a port below 1024, …).
        error: std::io::Error,
    },
    /// The API would be open to the network without authentication.
    #[error(
        "refusing to serve the API on {0} without authentication: bind it to loopback, pass \
         --api-credentials FILE, or pass --api-insecure"
    )]
    Insecure(SocketAddr),
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
    /// The state file is unusable.
    #[error(transparent)]
    State(#[from] DbError),
    /// A `--zone` name is invalid.
    #[error("--zone {name:?}: {why}")]
    Zone {
        /// The name as given to `--zone` (or `zones` in `[resolver]`).
        name: String,
        /// Why it was refused: not a valid domain name, or a zone the store refuses.
        why: String,
    },
}

/// A started resolver: its bound addresses and its shared state.
pub struct Running {
    /// DNS addresses actually bound (UDP and TCP share each).
    pub dns: Vec<SocketAddr>,
    /// The API address actually bound.
    pub api: SocketAddr,
    /// The state the listeners share (the lab reads its metrics).
    pub shared: Arc<Shared>,
    tasks: tokio::task::JoinSet<()>,
    /// The UDP threads; they stop when this is dropped.
    _udp: crate::udp::Workers,
}

impl Running {
    /// Waits until a TCP or API listener task ends (they run until the process stops).
    pub async fn join(mut self) {
        self.tasks.join_next().await;
    }
}

/// Loads the state, binds every socket, and starts serving.
pub async fn start(settings: &Settings, registry: &mut Registry) -> Result<Running, StartError> {
    if settings.api_credentials.is_none()
        && !settings.api_insecure
        && !settings.api_listen.ip().is_loopback()
    {
        return Err(StartError::Insecure(settings.api_listen));
    }
    let (mut state_db, mut store) = match settings.state_dir.as_deref() {
        Some(dir) => {
            let (db, store) = StateDb::open(dir)?;
            (Some(db), store)
        }
        None => (None, Store::default()),
    };
    store.set_limits(settings.state_limits);
    let mut created = false;
    for name in &settings.zones {
        let fqdn = registry::name::Fqdn::parse(name).map_err(|e| StartError::Zone {
            name: name.clone(),
            why: e.to_string(),
        })?;
        if !store.zones().any(|z| z.name == fqdn) {
            let now = registry::clock::unix_now_ms();
            store
                .create_zone(name, &startup_reference(&fqdn), None, now)
                .map_err(|e| StartError::Zone {
                    name: name.clone(),
                    why: e.to_string(),
                })?;
            created = true;
        }
    }
    let touched = store.take_touched();
    if created && let Some(db) = &mut state_db {
        db.write(&Batch::of(&store, &touched).map_err(DbError::from)?)?;
    }
    let shared = Arc::new(Shared {
        store: tokio::sync::Mutex::new(Store::default()),
        snapshot: ArcSwap::from_pointee(Snapshot::default()),
        state_db: state_db.map(|db| Arc::new(std::sync::Mutex::new(db))),
        propagation_delay: settings.propagation_delay,
        rate_limit: settings
            .api_rate_limit
            .map(|r| std::sync::Mutex::new(TokenBucket::new(r, r.max(1.0), Instant::now()))),
        credentials: settings.api_credentials.clone(),
        unsigned_payload: if settings.api_allow_unsigned_payload {
            Payload::MayBeUnsigned
        } else {
            Payload::MustBeSigned
        },
        api_insecure: settings.api_insecure,
        metrics: ResolverMetrics::register(registry),
        geo_table: settings.geo_table.clone(),
    });
    shared.publish(&store);
    *shared.store.lock().await = store;

    let mut tasks = tokio::task::JoinSet::new();
    let udp_workers = crate::udp::Workers::default();
    let mut dns = Vec::new();
    for addr in &settings.dns_listen {
        let (udp, tcp) = bind_dns(*addr).await?;
        let bound = udp.local_addr().map_err(|source| StartError::Bind {
            addr: *addr,
            what: "DNS UDP",
            error: source,
        })?;
        dns.push(bound);
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        udp.into_std()
            .and_then(|udp| udp_workers.spawn(udp, workers, &shared))
            .map_err(|source| StartError::UdpWorkers {
                addr: bound,
                error: source,
            })?;
        tasks.spawn(crate::tcp::serve(tcp, shared.clone(), settings.dns_tcp));
    }
    let api_listener = TcpListener::bind(settings.api_listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: settings.api_listen,
            what: "API",
            error: source,
        })?;
    let api = api_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: settings.api_listen,
            what: "API",
            error: source,
        })?;
    tasks.spawn(crate::checker::run(shared.clone()));
    let router = crate::api::router(shared.clone());
    tasks.spawn(crate::http::serve(
        api_listener,
        router,
        shared.clone(),
        settings.api_limits,
    ));
    Ok(Running {
        dns,
        api,
        shared,
        tasks,
        _udp: udp_workers,
    })
}

/// The caller reference of a zone created by `--zone`: `wavelb-resolver:` and its name, or a
/// digest of a name too long for Route 53's 128 characters.
fn startup_reference(name: &registry::name::Fqdn) -> String {
    let plain = format!("wavelb-resolver:{name}");
    if plain.chars().count() <= crate::store::MAX_CALLER_REFERENCE_CHARS {
        return plain;
    }
    let digest = sha2::Sha256::digest(name.as_str().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("wavelb-resolver:sha256:{hex}")
}

/// Binds UDP and TCP on the same address; with port 0 both get the same free port.
async fn bind_dns(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), StartError> {
    let mut last = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| StartError::Bind {
                addr,
                what: "DNS UDP",
                error: source,
            })?;
        let port = udp
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr,
                what: "DNS UDP",
                error: source,
            })?
            .port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(source) if addr.port() == 0 => last = Some(source),
            Err(source) => {
                return Err(StartError::Bind {
                    addr,
                    what: "DNS TCP",
                    error: source,
                });
            }
        }
    }
    Err(StartError::Bind {
        addr,
        what: "DNS TCP",
        error: last.unwrap_or_else(|| std::io::Error::other("no free port for both UDP and TCP")),
    })
}

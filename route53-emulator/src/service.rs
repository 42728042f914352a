//! Starting the resolver: loads the state file, creates the `--zone` zones, builds the
//! [`Shared`] state (and the DNS server's, which it publishes to) and starts the listeners: DNS
//! over UDP and TCP (`dns::listen`), the API ([`crate::http`] serving [`crate::api`]) and the
//! health checks ([`crate::health_checks::checker`]). Nothing here runs after start; no listener
//! depends on this module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_auth::sigv4::Payload;
use dns::geotable::GeoTable;
use dns::listen::{ListenError, Listening};
use dns::metrics::DnsMetrics;
use dns::tcp::TcpLimits;
use prometheus_client::registry::Registry;
use registry::limiter::TokenBucket;
use sha2::Digest;
use tokio::net::TcpListener;

use crate::config::ApiKeys;
use crate::db::{Batch, DbError, StateDb};
use crate::http::ApiLimits;
use crate::metrics::ApiMetrics;
use crate::shared::Shared;
use crate::store::Store;

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
    /// A DNS or API socket could not be bound, or the DNS-over-UDP threads did not start.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The API would be open to the network without authentication.
    #[error(
        "refusing to serve the API on {0} without authentication: bind it to loopback, pass \
         --api-credentials FILE, or pass --api-insecure"
    )]
    Insecure(SocketAddr),
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
    /// The DNS listeners; the UDP threads stop when this is dropped.
    _dns: Listening,
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
    let dns = Arc::new(dns::shared::Shared::new(
        DnsMetrics::register(registry),
        settings.geo_table.clone(),
    ));
    let shared = Arc::new(Shared {
        store: tokio::sync::Mutex::new(Store::default()),
        dns: dns.clone(),
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
        metrics: ApiMetrics::register(registry),
    });
    shared.publish(&store);
    *shared.store.lock().await = store;

    let mut tasks = tokio::task::JoinSet::new();
    let listening =
        dns::listen::listen(&settings.dns_listen, &dns, settings.dns_tcp, &mut tasks).await?;
    let api_listener = TcpListener::bind(settings.api_listen)
        .await
        .map_err(|source| ListenError::Bind {
            addr: settings.api_listen,
            what: "API",
            error: source,
        })?;
    let api = api_listener
        .local_addr()
        .map_err(|source| ListenError::Bind {
            addr: settings.api_listen,
            what: "API",
            error: source,
        })?;
    tasks.spawn(crate::health_checks::checker::run(shared.clone()));
    let router = crate::api::router(shared.clone());
    tasks.spawn(crate::http::serve(
        api_listener,
        router,
        shared.clone(),
        settings.api_limits,
    ));
    Ok(Running {
        dns: listening.addrs.clone(),
        api,
        shared,
        tasks,
        _dns: listening,
    })
}

/// The caller reference of a zone created by `--zone`: `wavelb-resolver:` and its name, or a
/// digest of a name too long for Route 53's 128 characters.
fn startup_reference(name: &registry::name::Fqdn) -> String {
    let plain = format!("wavelb-resolver:{name}");
    if plain.chars().count() <= crate::zones::MAX_CALLER_REFERENCE_CHARS {
        return plain;
    }
    let digest = sha2::Sha256::digest(name.as_str().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("wavelb-resolver:sha256:{hex}")
}

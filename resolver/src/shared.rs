//! The state every listener shares: the zones ([`Store`]), the DNS view built from them
//! ([`Snapshot`]), the metrics, the API's settings, and the two paths through them: the write
//! path ([`Shared::mutate`]: change an O(1) copy, write the rows it touched to the database,
//! publish it, rebuilding only the names it touched) and the read path of a
//! DNS query ([`Shared::answer_query`]). The listeners ([`crate::udp`], [`crate::tcp`],
//! [`crate::http`] and [`crate::api`]) depend on this module; [`crate::service`] builds it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use registry::clock::unix_now_ms;

use arc_swap::ArcSwap;
use registry::limiter::TokenBucket;

use crate::answer::{self, Replied};
use crate::config::ApiKeys;
use crate::db::{Batch, DbError, StateDb};
use crate::geotable::GeoTable;
use crate::metrics::{QueryLabels, ResolverMetrics};
use crate::sigv4::Payload;
use crate::snapshot::Snapshot;
use crate::store::{ChangeRecord, Store, StoreError, Touched};
use crate::transport::Transport;
use registry::rcode::rcode_name;

/// State shared by the DNS listeners and the API.
pub struct Shared {
    /// The zones; writers hold this lock while they persist, readers of the API briefly.
    pub store: tokio::sync::Mutex<Store>,
    /// What DNS queries are answered from; swapped atomically after every change.
    pub snapshot: ArcSwap<Snapshot>,
    /// Where changes are made durable before they are acknowledged; `None` keeps them in memory
    /// only. Only writers holding the `store` lock use it.
    pub state_db: Option<Arc<std::sync::Mutex<StateDb>>>,
    /// How long a change stays PENDING before [`Shared::insync`] reports it INSYNC.
    pub propagation_delay: Duration,
    /// The API's request budget (`--api-rate-limit`); a request past it gets `Throttling`.
    pub rate_limit: Option<std::sync::Mutex<TokenBucket>>,
    /// The SigV4 keys the API accepts, with the IAM policy each may carry; `None` serves
    /// unauthenticated requests from local programs only.
    pub credentials: Option<ApiKeys>,
    /// Whether signed requests may leave their body unsigned (`UNSIGNED-PAYLOAD`).
    pub unsigned_payload: Payload,
    /// `--api-insecure`: an unauthenticated API also answers requests for non-loopback IP hosts.
    pub api_insecure: bool,
    /// The resolver's metrics, registered once at start.
    pub metrics: ResolverMetrics,
    /// Where clients are (`--geo-table`), for geoproximity answers; every snapshot uses it.
    pub geo_table: Arc<GeoTable>,
}

/// Why a change to the store was not applied (nothing was published).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The change breaks Route 53's rules or names something that does not exist.
    #[error(transparent)]
    Refused(#[from] StoreError),
    /// The change could not be committed to the state database.
    #[error("the change was not applied: {0}")]
    NotDurable(DbError),
    /// The task writing the state database did not finish (it panicked or was cancelled).
    #[error("the state writer failed: {0}")]
    Writer(tokio::task::JoinError),
}

impl Shared {
    /// Rebuilds the whole DNS snapshot from `store` and swaps it in (at start, and when health
    /// statuses change).
    pub fn publish(&self, store: &Store) {
        let snapshot =
            Snapshot::of_store(store, &self.metrics.answers).with_geo_table(self.geo_table.clone());
        self.snapshot.store(Arc::new(snapshot));
    }

    /// Swaps in a snapshot of `store` that differs from the current one by what `touched`
    /// names: only those names are rebuilt ([`Snapshot::updated`]).
    pub fn publish_touched(&self, store: &Store, touched: &Touched) {
        let current = self.snapshot.load_full();
        let snapshot = current.updated(store, touched, &self.metrics.answers);
        self.snapshot.store(Arc::new(snapshot));
    }

    /// True once the change's propagation delay has passed.
    pub fn insync(&self, change: &ChangeRecord) -> bool {
        let delay = u64::try_from(self.propagation_delay.as_millis()).unwrap_or(u64::MAX);
        unix_now_ms() >= change.submitted_at_ms.saturating_add(delay)
    }

    /// Applies `op` to a copy of the store (with the current time in milliseconds), commits the
    /// rows it touched to the state database, then publishes the copy (store and DNS snapshot).
    /// Nothing is published, and the caller gets the error, if `op` refuses or the commit
    /// fails. The copy is O(1) (the store's maps are persistent), so a change costs what it
    /// touches, not the size of the state.
    ///
    /// # Errors
    ///
    /// [`WriteError::Refused`] with `op`'s error; [`WriteError::NotDurable`] or
    /// [`WriteError::Writer`] when the change could not be committed.
    pub async fn mutate<T>(
        &self,
        op: impl FnOnce(&mut Store, u64) -> Result<T, StoreError>,
    ) -> Result<T, WriteError> {
        let mut store = self.store.lock().await;
        let mut next = store.clone();
        let out = op(&mut next, unix_now_ms())?;
        let touched = next.take_touched();
        if let Some(db) = &self.state_db {
            let not_durable = |e: DbError| {
                tracing::error!(error = %e, "cannot persist a change; it was not applied");
                WriteError::NotDurable(e)
            };
            let batch = Batch::of(&next, &touched).map_err(|e| not_durable(e.into()))?;
            let db = db.clone();
            tokio::task::spawn_blocking(move || {
                // A writer that panicked mid-transaction left nothing committed (SQLite rolls
                // an unfinished transaction back), so the connection is still usable.
                let mut db = db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                db.write(&batch)
            })
            .await
            .map_err(WriteError::Writer)?
            .map_err(not_durable)?;
        }
        *store = next;
        self.publish_touched(&store, &touched);
        Ok(out)
    }

    /// Answers `packet`, from `source`, from `snapshot` into `out` ([`answer::reply`]: the fast
    /// path for the common query, the general path otherwise) and counts it. False when the packet must be
    /// ignored (no header, or itself a response). The caller observes the time to answer, once
    /// the answer is sent ([`ResolverMetrics::answered_in`]).
    pub(crate) fn answer_query(
        &self,
        snapshot: &Snapshot,
        packet: &[u8],
        transport: Transport,
        source: std::net::IpAddr,
        random: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let metrics = &self.metrics;
        match answer::reply(snapshot, packet, transport, source, random, out) {
            None => {
                metrics.dropped_series.not_a_query.inc();
                return false;
            }
            Some(Replied::Fast(hit)) => {
                match hit.qtype {
                    1 => metrics.noerror.a.inc(),
                    _ => metrics.noerror.aaaa.inc(),
                };
                hit.set.served.inc();
            }
            Some(Replied::General {
                rcode,
                qtype,
                picked,
            }) => {
                metrics
                    .queries
                    .get_or_create(&QueryLabels {
                        qtype: qtype.map_or(Cow::Borrowed("none"), |t| Cow::Borrowed(t.into())),
                        rcode: rcode_name(u16::from(rcode)),
                    })
                    .inc();
                if let Some(set) = picked {
                    set.served.inc();
                }
            }
        }
        true
    }
}

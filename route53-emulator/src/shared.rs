//! The state the API and the health checker share: the zones ([`Store`]), the DNS server's state
//! they are published to (`dns::shared::Shared`), the API's settings and metrics, and the write
//! path ([`Shared::mutate`]: change an O(1) copy, write the rows it touched to the database,
//! publish it, rebuilding only the names it touched). [`crate::http`], [`crate::api`] and the
//! checker depend on this module; [`crate::service`] builds it.

use std::sync::Arc;
use std::time::Duration;

use registry::clock::unix_now_ms;

use aws_auth::sigv4::Payload;
use registry::limiter::TokenBucket;

use crate::changes::ChangeRecord;
use crate::config::ApiKeys;
use crate::db::{Batch, DbError, StateDb};
use crate::metrics::ApiMetrics;
use crate::store::{Store, StoreError, Touched};

/// State shared by the API and the health checker.
pub struct Shared {
    /// The zones; writers hold this lock while they persist, readers of the API briefly.
    pub store: tokio::sync::Mutex<Store>,
    /// The DNS server's state: every change is published to its snapshot.
    pub dns: Arc<dns::shared::Shared>,
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
    /// The API's metrics, registered once at start.
    pub metrics: ApiMetrics,
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
        self.dns.publish(store);
    }

    /// Swaps in a snapshot of `store` that differs from the current one by what `touched`
    /// names: only those names are rebuilt (`dns::snapshot::Snapshot::updated`).
    pub fn publish_touched(&self, store: &Store, touched: &Touched) {
        self.dns.publish_changed(store, &touched.changed());
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
}

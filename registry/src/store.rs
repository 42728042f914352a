//! The seam between what wavelb decides and Route 53: [`PoolStore`], what every caller needs
//! from a hosted zone (list a pool, execute a plan, wait for INSYNC) and from the account's CIDR
//! collections (find one by name, create it, change it at a version). Two implementations: the
//! SDK writer (`writer::Writer`, the one place that talks to Route 53) and
//! `memory::MemoryStore` (feature `testing`: Route 53's strict rules in memory, with injected
//! faults, for in-process tests on tokio's paused clock).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::cidr::{CidrCollectionState, LocationChange};
use crate::listing::Walk;
use crate::model::{PoolSpec, RecordSet, SetId};
use crate::name::Fqdn;
use crate::plan::{GroupTooLarge, Plan};

/// Why a Route 53 operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A compare-and-swap lost: Route 53 rejected the batch (`InvalidChangeBatch`) because
    /// someone changed the records since they were read, or refused a ChangeCidrCollection
    /// because the collection's version is no longer the one it was read at
    /// (`CidrCollectionVersionMismatchException`). Re-read and plan again.
    #[error("Route 53 rejected the change batch (re-read and re-plan): {}", messages.join("; "))]
    Conflict {
        /// Route 53's messages.
        messages: Vec<String>,
    },
    /// Route 53 rejected the batch (`InvalidChangeBatch`) for a reason re-reading cannot fix: a
    /// limit (100 weighted sets per name, records per batch), mixing weighted and simple sets,
    /// or a bad value.
    #[error(
        "Route 53 rejected the change batch for a reason re-reading cannot fix (check the pool's \
         size against Route 53's limits and the configured values): {}",
        messages.join("; ")
    )]
    Rejected {
        /// Route 53's messages.
        messages: Vec<String>,
    },
    /// No hosted zone has the configured name.
    #[error("no hosted zone is named {name}; create it or set pool.hosted_zone_id")]
    ZoneNotFound {
        /// The zone name looked up.
        name: Fqdn,
    },
    /// Several hosted zones (e.g. a public and a private one) share the name.
    #[error("several hosted zones are named {name} ({ids}); set pool.hosted_zone_id to pick one")]
    ZoneAmbiguous {
        /// The zone name looked up.
        name: Fqdn,
        /// The ids found.
        ids: String,
    },
    /// A retryable failure kept happening.
    #[error("{operation} failed {attempts} times; last error: {last}")]
    RetriesExhausted {
        /// The API operation.
        operation: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: String,
    },
    /// A failure retrying cannot fix (access denied, no such zone, bad input).
    #[error("{operation} failed: {message}")]
    Api {
        /// The API operation.
        operation: &'static str,
        /// The error code, when the service sent one.
        code: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// The change did not reach INSYNC in time.
    #[error(
        "change {change_id} was not INSYNC after {waited:?}; check Route 53 or raise route53.insync_timeout"
    )]
    InsyncTimeout {
        /// The change id.
        change_id: String,
        /// How long was waited.
        waited: Duration,
    },
    /// A planned group does not fit in one batch.
    #[error(transparent)]
    TooLarge(#[from] GroupTooLarge),
    /// A change could not be expressed as an API request.
    #[error("cannot build the request: {0}")]
    Build(String),
}

impl From<crate::listing::ListingError> for WriteError {
    fn from(e: crate::listing::ListingError) -> Self {
        Self::Api {
            operation: "ListResourceRecordSets",
            code: None,
            message: e.to_string(),
        }
    }
}

/// A submitted change batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The change id (without the `/change/` prefix).
    pub change_id: String,
    /// The targets whose changes it carried.
    pub target_ids: Vec<SetId>,
    /// True once GetChange reported INSYNC.
    pub insync: bool,
}

/// What callers need from the hosted zone that holds a pool.
pub trait PoolStore: Send + Sync {
    /// The record sets at the pool's address, ownership and leader-lease names (one walk).
    fn list_pool(
        &self,
        pool: &PoolSpec,
    ) -> impl Future<Output = Result<Vec<RecordSet>, WriteError>> + Send {
        async move {
            let names = [pool.name.clone(), pool.ownership_name(), pool.leader_name()];
            self.list_names(&names, Walk::Follow).await
        }
    }

    /// Every record set at exactly `names`, read in one walk over the zone's listing
    /// ([`crate::listing::Span`]).
    fn list_names(
        &self,
        names: &[Fqdn],
        walk: Walk,
    ) -> impl Future<Output = Result<Vec<RecordSet>, WriteError>> + Send;

    /// Submits every batch of `plan`, in order (waiting for INSYNC after each when the store is
    /// configured to). Stops at the first failure; the batches before it stay applied.
    fn execute(
        &self,
        plan: &Plan,
    ) -> impl Future<Output = Result<Vec<Submitted>, WriteError>> + Send;

    /// Waits until the change is INSYNC, or fails once the store's INSYNC timeout has passed
    /// since `submitted_at`.
    fn wait_insync(
        &self,
        change_id: &str,
        submitted_at: Instant,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// How many requests were throttled so far. Callers that poll on their own schedule compare
    /// it before and after a round to space their rounds out under contention.
    fn throttled(&self) -> u64;

    /// The CIDR collection named `name` with every block and its location; `None` when the
    /// account has none of that name.
    ///
    /// Cost: one ListCidrCollections request per page of the account's collections (one: an
    /// account holds a handful), then one ListCidrBlocks request per page of the collection's
    /// blocks (every location). Each goes through the store's rate limit.
    fn find_cidr_collection(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<CidrCollectionState>, WriteError>> + Send;

    /// Creates the empty CIDR collection `name` (version 1). Route 53 takes the same name with
    /// the same `caller_reference` again as a retry of the same request and answers with the
    /// existing collection, which this returns as it is (with its blocks); the same name with
    /// another reference is refused (`CidrCollectionAlreadyExistsException`, a [`WriteError::Api`]).
    ///
    /// Cost: one CreateCidrCollection request (and, for a retry answered with a collection
    /// changed since, the ListCidrBlocks pages of its blocks).
    fn create_cidr_collection(
        &self,
        name: &str,
        caller_reference: &str,
    ) -> impl Future<Output = Result<CidrCollectionState, WriteError>> + Send;

    /// Applies one ChangeCidrCollection request (one of [`crate::cidr::collection_requests`]'
    /// requests, atomically: a block can move between locations in it) to collection `id`, only
    /// if its version is still `version`. Returns `version + 1`: Route 53's answer carries no
    /// version, and a request that changes a block (every one `collection_requests` plans from
    /// the listing does) makes it one more. Should a request have changed nothing, the next
    /// change made with the returned version is a conflict, and the re-read puts it right.
    ///
    /// A collection changed since it was read at `version` is a [`WriteError::Conflict`]:
    /// re-read it and plan again (so is a retry of a request that was applied but whose answer
    /// was lost). A block in two locations (`CidrBlockInUseException`), a quota
    /// (`LimitsExceeded`) or a bad value (`InvalidInput`) is a [`WriteError::Api`] with Route
    /// 53's code and message.
    ///
    /// Cost: one ChangeCidrCollection request.
    fn change_cidr_collection(
        &self,
        id: &str,
        version: i64,
        changes: &[LocationChange],
    ) -> impl Future<Output = Result<i64, WriteError>> + Send;
}

/// A shared store is a store: the agent owns what it connects, and a test keeps a handle on the
/// same zone to look at it.
impl<S: PoolStore> PoolStore for std::sync::Arc<S> {
    fn list_pool(
        &self,
        pool: &PoolSpec,
    ) -> impl Future<Output = Result<Vec<RecordSet>, WriteError>> + Send {
        S::list_pool(self, pool)
    }

    fn list_names(
        &self,
        names: &[Fqdn],
        walk: Walk,
    ) -> impl Future<Output = Result<Vec<RecordSet>, WriteError>> + Send {
        S::list_names(self, names, walk)
    }

    fn execute(
        &self,
        plan: &Plan,
    ) -> impl Future<Output = Result<Vec<Submitted>, WriteError>> + Send {
        S::execute(self, plan)
    }

    fn wait_insync(
        &self,
        change_id: &str,
        submitted_at: Instant,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        S::wait_insync(self, change_id, submitted_at)
    }

    fn throttled(&self) -> u64 {
        S::throttled(self)
    }

    fn find_cidr_collection(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<CidrCollectionState>, WriteError>> + Send {
        S::find_cidr_collection(self, name)
    }

    fn create_cidr_collection(
        &self,
        name: &str,
        caller_reference: &str,
    ) -> impl Future<Output = Result<CidrCollectionState, WriteError>> + Send {
        S::create_cidr_collection(self, name, caller_reference)
    }

    fn change_cidr_collection(
        &self,
        id: &str,
        version: i64,
        changes: &[LocationChange],
    ) -> impl Future<Output = Result<i64, WriteError>> + Send {
        S::change_cidr_collection(self, id, version, changes)
    }
}

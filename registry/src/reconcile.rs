//! The one reconcile loop every writer runs: read the pool → classify → decide → plan →
//! execute, and when Route 53 says someone changed the records since they were read (a
//! compare-and-swap conflict), read again and decide again, up to a bound.
//!
//! The agent (register, repair, drain, delete), the health controller's round, `wavelb
//! records` and the lab all write through [`reconcile`]; what differs is only the decision.

use std::collections::BTreeMap;
use std::future::Future;

use crate::model::{PoolSpec, RecordSet, SetId};
use crate::plan::{Intent, Plan};
use crate::pool::{PoolView, classify};
use crate::store::{PoolStore, Submitted, WriteError};

/// What one decision asks for: a plan (empty: nothing to write) and whatever the caller wants
/// back from the attempt that ran.
#[derive(Debug)]
pub struct Decision<T> {
    /// The changes to make.
    pub plan: Plan,
    /// The caller's own result of deciding.
    pub outcome: T,
}

/// A reconcile that ended without error.
#[derive(Debug)]
pub struct Reconciled<T> {
    /// The pool as last read.
    pub view: PoolView,
    /// The plan of the attempt that ended the loop (empty when nothing needed writing).
    pub plan: Plan,
    /// The batches Route 53 accepted (none when the plan was empty).
    pub submitted: Vec<Submitted>,
    /// The decision's outcome on that attempt.
    pub outcome: T,
    /// Attempts made (1 unless conflicts forced a re-read).
    pub attempts: u32,
}

/// Why a reconcile stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError<E> {
    /// The decision refused (e.g. an operator action on a foreign record).
    #[error(transparent)]
    Decide(E),
    /// Reading or writing failed, or the last attempt still conflicted
    /// ([`WriteError::Conflict`]).
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A decision the loop runs on every attempt. Async deciders (the health controller asks EC2
/// and writes its lease) implement it on a struct; synchronous ones use [`decide_with`].
pub trait Decide {
    /// What the caller gets back from the attempt that ran.
    type Outcome;
    /// Why deciding can refuse.
    type Error;
    /// Decides on the pool as read: the classified view and the raw record sets (the leader
    /// lease lives beside the pool).
    fn decide(
        &mut self,
        view: &PoolView,
        sets: &[RecordSet],
    ) -> impl Future<Output = Result<Decision<Self::Outcome>, Self::Error>> + Send;

    /// What each attempt reads: the pool's names ([`PoolStore::list_pool`]). A decision over
    /// several pools and a zone tier (the health service) reads them all in one walk
    /// ([`PoolStore::list_names`]).
    fn read<S: PoolStore>(
        &self,
        store: &S,
        pool: &PoolSpec,
    ) -> impl Future<Output = Result<Vec<RecordSet>, WriteError>> + Send {
        store.list_pool(pool)
    }

    /// The view `decide` gets: the pool's classification of the records read. A decision over
    /// records that are not a pool's (the zone tier classifies its own) returns an empty one,
    /// so nothing is classified, or reported as foreign, for nothing.
    fn view(&self, pool: &PoolSpec, sets: &[RecordSet]) -> PoolView {
        classify(pool, sets)
    }
}

/// A synchronous decision, as a [`Decide`].
pub struct DecideWith<F>(F);

/// Wraps a synchronous decision function for [`reconcile`].
pub fn decide_with<F, T, E>(f: F) -> DecideWith<F>
where
    F: FnMut(&PoolView, &[RecordSet]) -> Result<Decision<T>, E> + Send,
{
    DecideWith(f)
}

impl<F, T, E> Decide for DecideWith<F>
where
    F: FnMut(&PoolView, &[RecordSet]) -> Result<Decision<T>, E> + Send,
    T: Send,
    E: Send,
{
    type Outcome = T;
    type Error = E;
    fn decide(
        &mut self,
        view: &PoolView,
        sets: &[RecordSet],
    ) -> impl Future<Output = Result<Decision<T>, E>> + Send {
        std::future::ready((self.0)(view, sets))
    }
}

/// How often a write is read and decided again when another writer changed the records first:
/// the bound of every caller that has no reason for another (the agent, `wavelb records`, the
/// lab).
pub const CONFLICT_ATTEMPTS: u32 = 3;

/// The intents of a decision about one target: `intent` for set identifier `id`.
pub fn intent_for(id: &SetId, intent: Intent) -> BTreeMap<SetId, Intent> {
    BTreeMap::from([(id.clone(), intent)])
}

/// Runs the loop: up to `attempts` (at least 1) reads and decisions, re-reading only after a
/// compare-and-swap conflict.
pub async fn reconcile<S, D>(
    store: &S,
    pool: &PoolSpec,
    attempts: u32,
    decide: &mut D,
) -> Result<Reconciled<D::Outcome>, ReconcileError<D::Error>>
where
    S: PoolStore,
    D: Decide,
{
    let attempts = attempts.max(1);
    let mut attempt = 1;
    loop {
        let sets = decide.read(store, pool).await?;
        let view = decide.view(pool, &sets);
        let Decision { plan, outcome } = decide
            .decide(&view, &sets)
            .await
            .map_err(ReconcileError::Decide)?;
        if plan.is_empty() {
            return Ok(Reconciled {
                view,
                plan,
                submitted: Vec::new(),
                outcome,
                attempts: attempt,
            });
        }
        match store.execute(&plan).await {
            Ok(submitted) => {
                return Ok(Reconciled {
                    view,
                    plan,
                    submitted,
                    outcome,
                    attempts: attempt,
                });
            }
            Err(WriteError::Conflict { messages }) if attempt < attempts => {
                tracing::info!(
                    pool = %pool.name,
                    attempt,
                    ?messages,
                    "the pool changed while we wrote; reading it again"
                );
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::sid;
    use std::collections::BTreeMap;

    use super::*;
    use crate::memory::MemoryStore;
    use crate::model::{Change, Target};
    use crate::name::Fqdn;
    use crate::plan::{Intent, plan};
    use crate::testing::pool;

    fn target(weight: u8) -> Target {
        Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], weight, 1)
    }

    fn set_weight(view: &PoolView, weight: u8) -> Decision<u8> {
        let intents = BTreeMap::from([(sid("i-1"), Intent::Present(target(weight)))]);
        Decision {
            plan: plan(&pool(), view, &intents),
            outcome: weight,
        }
    }

    fn store_with(t: &Target) -> MemoryStore {
        let store = MemoryStore::new(Fqdn::parse("example.com").unwrap());
        let creates: Vec<Change> = t
            .record_sets(&pool())
            .into_iter()
            .map(Change::create)
            .collect();
        store.apply(&creates).unwrap();
        store
    }

    /// A concurrent writer changes the records between our read and our write: Route 53's
    /// exact-match DELETE refuses the batch, and the loop reads and decides again.
    #[tokio::test(start_paused = true)]
    async fn a_conflict_is_read_again_and_decided_again() {
        let store = store_with(&target(10));
        let mut decisions = 0;
        let done = reconcile(
            &store,
            &pool(),
            3,
            &mut decide_with(|view: &PoolView, _: &[RecordSet]| {
                decisions += 1;
                if decisions == 1 {
                    // Someone else moves the weight to 20 after our read.
                    let theirs = target(20);
                    let p = plan(
                        &pool(),
                        view,
                        &BTreeMap::from([(sid("i-1"), Intent::Present(theirs))]),
                    );
                    store.apply(&p.groups[0].changes).unwrap();
                }
                Ok::<_, String>(set_weight(view, 30))
            }),
        )
        .await
        .unwrap();
        assert_eq!((done.attempts, decisions, done.outcome), (2, 2, 30));
        assert_eq!(
            done.view.owned["i-1"].target.weight, 20,
            "the second read saw theirs"
        );
        let now = classify(&pool(), &store.sets());
        assert_eq!(now.owned["i-1"].target.weight, 30);
        assert_eq!(store.calls().batches, 2);
        assert_eq!(store.calls().accepted, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded_and_nothing_to_do_writes_nothing() {
        let store = store_with(&target(10));
        // Every attempt races another writer: the last conflict is returned.
        let mut flip = 10u8;
        let err = reconcile(
            &store,
            &pool(),
            3,
            &mut decide_with(|view: &PoolView, _: &[RecordSet]| {
                flip += 1;
                let p = plan(
                    &pool(),
                    view,
                    &BTreeMap::from([(sid("i-1"), Intent::Present(target(flip)))]),
                );
                store.apply(&p.groups[0].changes).unwrap();
                Ok::<_, String>(set_weight(view, 99))
            }),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ReconcileError::Write(WriteError::Conflict { .. })),
            "{err:?}"
        );
        assert_eq!(store.calls().lists, 3);

        let before = store.calls();
        let done = reconcile(
            &store,
            &pool(),
            3,
            &mut decide_with(|view: &PoolView, _: &[RecordSet]| {
                Ok::<_, String>(set_weight(view, flip))
            }),
        )
        .await
        .unwrap();
        assert!(done.plan.is_empty() && done.submitted.is_empty());
        assert_eq!(store.calls().batches, before.batches, "no write");

        let refused = reconcile(
            &store,
            &pool(),
            3,
            &mut decide_with(|_: &PoolView, _: &[RecordSet]| {
                Err::<Decision<()>, _>("no such target")
            }),
        )
        .await
        .unwrap_err();
        assert!(matches!(refused, ReconcileError::Decide("no such target")));
    }

    /// Throttled requests are counted and cost time on the (paused) clock; a slow INSYNC is
    /// waited for up to the timeout.
    #[tokio::test(start_paused = true)]
    async fn the_memory_store_throttles_and_delays_insync_on_the_paused_clock() {
        let store = store_with(&target(10));
        store.faults(|f| {
            f.throttle_next = 2;
            f.throttle_delay = std::time::Duration::from_secs(1);
            f.insync_after = std::time::Duration::from_secs(60);
            f.insync_timeout = std::time::Duration::from_secs(90);
        });
        let start = tokio::time::Instant::now();
        let done = reconcile(
            &store,
            &pool(),
            1,
            &mut decide_with(|view: &PoolView, _: &[RecordSet]| {
                Ok::<_, String>(set_weight(view, 40))
            }),
        )
        .await
        .unwrap();
        assert_eq!(store.throttled(), 2);
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(2));
        let change = &done.submitted[0];
        assert!(!change.insync);
        let submitted = tokio::time::Instant::now();
        store
            .wait_insync(&change.change_id, submitted)
            .await
            .unwrap();
        assert_eq!(submitted.elapsed(), std::time::Duration::from_secs(60));

        store.faults(|f| f.insync_timeout = std::time::Duration::from_secs(30));
        let done = reconcile(
            &store,
            &pool(),
            1,
            &mut decide_with(|view: &PoolView, _: &[RecordSet]| {
                Ok::<_, String>(set_weight(view, 50))
            }),
        )
        .await
        .unwrap();
        let submitted = tokio::time::Instant::now();
        let err = store
            .wait_insync(&done.submitted[0].change_id, submitted)
            .await
            .unwrap_err();
        assert!(matches!(err, WriteError::InsyncTimeout { .. }), "{err:?}");
        assert_eq!(submitted.elapsed(), std::time::Duration::from_secs(30));
    }
}

//! The one leader lease of a health service ([`LeaseKeeper`]): one per process and hosted zone,
//! not one per pool. The decision is [`crate::lease::step`] (pure); the keeper remembers the
//! lease as last written, so that every write of the service carries its compare-and-swap
//! ([`registry::plan::Plan::guard`]) and a deposed leader's write fails as a whole.
//!
//! Renewal costs a request only when less than half of the lease remains and nothing else is
//! being written: a write of target changes renews the lease for free, in its own batch.

use std::time::Duration;

use registry::model::{PoolSpec, RecordSet};
use registry::plan::{Guard, Plan};
use registry::store::{PoolStore, Submitted, WriteError};
use tokio::time::Instant;

use crate::lease::{self, Lease, LeaseStep};

/// What a listing says about the lease, for this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Another controller holds a live lease until `expires`: probe and decide, never write.
    Follow {
        /// The leader.
        holder: String,
        /// When its lease lapses unless renewed (unix seconds).
        expires: u64,
    },
    /// This controller leads (or may take the lease) if its writes carry `guard`. `renew`: the
    /// lease must be written this round even with nothing else to write (taken, or less than
    /// half left).
    Lead {
        /// The lease's compare-and-swap.
        guard: Box<Guard>,
        /// Write it even alone.
        renew: bool,
    },
}

/// The lease of one service: where it lives, who this controller is, and the lease as this
/// controller last wrote it.
#[derive(Debug)]
pub struct LeaseKeeper {
    /// The lease's name (`_wavelb-leader.<spec.name>`), TTL and ownership key.
    spec: PoolSpec,
    me: String,
    ttl: u64,
    /// The lease record this controller holds, and since when (on tokio's clock, a second
    /// before it was written: the record's expiry is in whole seconds); `None` when only a
    /// listing showed it ours (after a restart), which makes the next round renew it.
    held: Option<(RecordSet, Option<Instant>)>,
    /// The guard the round's first write carries (from the listing: a takeover, or the lease
    /// as listed); later writes renew from `held`.
    next: Option<Guard>,
    /// When the last guard was built (its expiry counts from then).
    built: Option<Instant>,
}

impl LeaseKeeper {
    /// A keeper for the lease at `spec.leader_name()`, known as `me`, `ttl` seconds long.
    pub fn new(spec: PoolSpec, me: String, ttl: u64) -> Self {
        Self {
            spec,
            me,
            ttl: ttl.max(1),
            held: None,
            next: None,
            built: None,
        }
    }

    /// The spec the lease's name, TTL and key come from.
    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    /// This controller's id in the lease.
    pub fn holder(&self) -> &str {
        &self.me
    }

    /// True while this controller holds the lease as far as it knows.
    pub fn leads(&self) -> bool {
        self.held.is_some()
    }

    /// When the held lease must be renewed even if no round comes first: a quarter of it left.
    /// Rounds renew it from half on (with whatever else they write), so this is a safety net.
    pub fn renew_at(&self) -> Option<Instant> {
        let (_, since) = self.held.as_ref()?;
        Some((*since)? + self.ttl_duration().mul_f64(0.75))
    }

    fn ttl_duration(&self) -> Duration {
        Duration::from_secs(self.ttl)
    }

    /// True when the held lease is past half its life (or its age is unknown).
    fn past_half(&self) -> bool {
        match &self.held {
            Some((_, Some(since))) => since.elapsed() >= self.ttl_duration() / 2,
            _ => true,
        }
    }

    /// Reads the lease from a listing at `now`. `implausible` is told about another holder's
    /// lease whose expiry lies implausibly far ahead (it is taken over).
    pub fn read(
        &mut self,
        sets: &[RecordSet],
        now: u64,
        implausible: impl FnOnce(&Lease),
    ) -> Standing {
        let current = lease::find(&self.spec, sets);
        if let Some((Ok(l), _)) = &current
            && l.holder != self.me
            && lease::implausible(l, now, self.ttl)
        {
            implausible(l);
        }
        // Ours as listed: its age is known when it is the record this controller wrote.
        let ours = match &current {
            Some((Ok(l), set)) if l.holder == self.me => {
                let since = match &self.held {
                    Some((held, since)) if held == set => *since,
                    _ => None,
                };
                Some((set.clone(), since))
            }
            _ => None,
        };
        match lease::step(&self.spec, current.clone(), &self.me, now, self.ttl) {
            LeaseStep::Follow { holder } => {
                self.next = None;
                if self.held.take().is_some() {
                    tracing::warn!(name = %self.spec.name, %holder, "lost the leader lease; following");
                }
                let expires = match current {
                    Some((Ok(l), _)) => l.expires,
                    _ => now,
                };
                Standing::Follow { holder, expires }
            }
            LeaseStep::Write(guard) => {
                // What is listed is what the next write must find: remember it as held only
                // once it is ours.
                self.held = ours;
                let renew = self.past_half();
                self.next = Some((*guard).clone());
                Standing::Lead { guard, renew }
            }
        }
    }

    /// The guard of a write at `now` between listings: the lease as last held, renewed. `None`
    /// when this controller does not hold it.
    pub fn renewal(&self, now: u64) -> Option<Guard> {
        let (held, _) = self.held.as_ref()?;
        Some(Guard {
            read: Some(held.clone()),
            write: self.renewed(now),
        })
    }

    /// The lease record renewed at `now`.
    fn renewed(&self, now: u64) -> RecordSet {
        lease::lease_record(
            &self.spec,
            &Lease {
                holder: self.me.clone(),
                expires: now.saturating_add(self.ttl),
            },
        )
    }

    /// The guard of this controller's next write at `now`: the one the listing gave, else a
    /// renewal of the lease as held. `None` when it may not write.
    pub fn guard(&mut self, now: u64) -> Option<Guard> {
        let read = match self.next.take() {
            Some(listed) => listed.read,
            None => Some(self.held.as_ref()?.0.clone()),
        };
        // The expiry written is `now + ttl`: the lease's age counts from here, not from when
        // the write (retried under throttling, say) comes back.
        self.built = Some(Instant::now());
        Some(Guard {
            read,
            write: self.renewed(now),
        })
    }

    /// Writes `plan` with the lease's compare-and-swap in every batch. A conflict forgets the
    /// lease (the next listing says who holds it); any other failure keeps it as held (a batch
    /// that went through anyway makes the next write conflict, and the listing after it heals).
    /// Without the lease, writes nothing and answers with a conflict.
    pub async fn execute<S: PoolStore>(
        &mut self,
        store: &S,
        mut plan: Plan,
        now: u64,
    ) -> Result<Vec<Submitted>, WriteError> {
        let Some(guard) = self.guard(now) else {
            return Err(WriteError::Conflict {
                messages: vec!["this controller does not hold the leader lease".into()],
            });
        };
        plan.guard = Some(guard.clone());
        let result = store.execute(&plan).await;
        self.settle(guard, result.as_ref().map(|_| ()));
        result
    }

    /// Takes the outcome of a write that carried `guard`: written, the lease is held as the
    /// guard wrote it; a conflict forgets it; any other failure keeps it as held (or, not yet
    /// held, keeps the guard for the next write).
    pub fn settle(&mut self, guard: Guard, outcome: Result<(), &WriteError>) {
        match outcome {
            Ok(()) => self.written(&guard),
            Err(WriteError::Conflict { .. }) => self.conflicted(),
            Err(_) => {
                if self.held.is_none() {
                    // Not applied (or not known to be): the next write tries the same guard.
                    self.next = Some(guard);
                }
            }
        }
    }

    /// A write carrying `guard` succeeded: this controller holds the lease as `guard` wrote it.
    pub fn written(&mut self, guard: &Guard) {
        if self.held.is_none() {
            tracing::info!(name = %self.spec.name, controller = %self.me, "took the leader lease");
        }
        // Counted from a second before the guard was built: its expiry is in whole seconds.
        let built = self.built.take().unwrap_or_else(Instant::now);
        let since = built.checked_sub(Duration::from_secs(1)).unwrap_or(built);
        self.held = Some((guard.write.clone(), Some(since)));
    }

    /// A write carrying the lease's compare-and-swap conflicted: the lease (or a target) changed
    /// since it was read. Whether this controller still leads is for the next listing to say.
    pub fn conflicted(&mut self) {
        self.held = None;
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::model::RecordType;
    use registry::name::Fqdn;
    use registry::zone::ZoneRecords;

    fn spec() -> PoolSpec {
        PoolSpec {
            name: Fqdn::parse("edge.lab.test").unwrap(),
            record_type: RecordType::A,
            ttl: 5,
            owner_id: "o".into(),
            ownership_key: None,
        }
    }

    fn sets(zone: &ZoneRecords) -> Vec<RecordSet> {
        zone.sets().cloned().collect()
    }

    fn write(zone: &mut ZoneRecords, guard: &Guard) -> bool {
        zone.apply(&guard.changes(true), &|_, _| Ok(())).is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn the_lease_is_written_when_taken_and_again_only_once_less_than_half_remains() {
        let mut zone = ZoneRecords::new(Fqdn::parse("lab.test").unwrap());
        let mut a = LeaseKeeper::new(spec(), "a".into(), 20);
        let Standing::Lead { guard, renew } = a.read(&sets(&zone), 1_000, |_| {}) else {
            panic!("a free lease is taken");
        };
        assert!(renew, "taking it is a write");
        assert!(write(&mut zone, &guard));
        a.written(&guard);
        let t0 = Instant::now();
        // The safety net: a quarter of the lease left, counted from a second before the write.
        assert_eq!(a.renew_at(), Some(t0 + Duration::from_secs(14)));
        // Rounds while more than half remains write nothing for the lease.
        for at in [1, 5, 8] {
            tokio::time::advance(Duration::from_secs(at) - t0.elapsed()).await;
            let standing = a.read(&sets(&zone), 1_000 + at, |_| {});
            assert!(
                matches!(standing, Standing::Lead { renew: false, .. }),
                "at {at} s"
            );
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        let Standing::Lead { renew: true, .. } = a.read(&sets(&zone), 1_009, |_| {}) else {
            panic!("at half the lease, a renewal is due");
        };
        // A renewal between listings is a compare-and-swap on the lease as last written.
        let renewal = a.renewal(1_009).unwrap();
        assert!(write(&mut zone, &renewal));
        a.written(&renewal);
        let standing = a.read(&sets(&zone), 1_009, |_| {});
        assert!(matches!(standing, Standing::Lead { renew: false, .. }));
        // After a restart, the lease listed as ours is of unknown age: renewed at once.
        let mut again = LeaseKeeper::new(spec(), "a".into(), 20);
        let standing = again.read(&sets(&zone), 1_009, |_| {});
        assert!(matches!(standing, Standing::Lead { renew: true, .. }));
    }

    #[test]
    fn a_follower_learns_the_holder_and_when_its_lease_lapses_then_takes_over() {
        let mut zone = ZoneRecords::new(Fqdn::parse("lab.test").unwrap());
        let mut a = LeaseKeeper::new(spec(), "a".into(), 20);
        let mut b = LeaseKeeper::new(spec(), "b".into(), 20);
        let Standing::Lead { guard, .. } = a.read(&sets(&zone), 1_000, |_| {}) else {
            panic!()
        };
        assert!(write(&mut zone, &guard));
        a.written(&guard);
        assert_eq!(
            b.read(&sets(&zone), 1_005, |_| {}),
            Standing::Follow {
                holder: "a".into(),
                expires: 1_020
            }
        );
        assert!(
            b.renewal(1_005).is_none(),
            "a follower has nothing to renew"
        );
        let Standing::Lead { guard, .. } = b.read(&sets(&zone), 1_021, |_| {}) else {
            panic!("b takes over a lapsed lease")
        };
        assert!(write(&mut zone, &guard));
        b.written(&guard);
        // a, deposed while away, renews from what it last wrote: the compare-and-swap fails.
        assert!(!write(&mut zone, &a.renewal(1_022).unwrap()));
    }
}

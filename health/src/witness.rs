//! What this controller has seen itself, as opposed to what the records claim: since when it
//! has seen each target quarantined, and which addresses it parked. Anyone with zone write
//! access can write a TXT saying `state=quarantined since=0` or `parked=…`; a deletion or a
//! re-publication is only decided on this controller's own observations.
//!
//! Kept in memory only. After a restart (or a change of leader) the clocks start again: a
//! deletion is delayed by up to `gc_after`, and a target parked before the restart stays parked
//! unless its record is authenticated (see `ownership_key_file`). Both are the safe direction.
//! Bounded by the pool: every observation drops the targets the pool no longer shows. Pure.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use registry::model::{SetId, TargetState};
use registry::plan::Intent;
use registry::pool::PoolView;

/// The controller's own observations of one pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Witness {
    /// Per target: when (unix seconds) this controller first saw it quarantined, in an unbroken
    /// run of reads.
    quarantined_since: HashMap<SetId, u64>,
    /// Per target: the addresses this controller parked (removed from DNS on purpose).
    parked: HashMap<SetId, Vec<IpAddr>>,
}

impl Witness {
    /// Follows a pool as read at `now`: starts the clock for targets newly seen quarantined,
    /// forgets targets no longer quarantined, and forgets a parked target whose record no
    /// longer holds exactly the addresses this controller parked.
    pub fn observe(&mut self, view: &PoolView, now: u64) {
        let quarantined = |id: &str| {
            view.owned
                .get(id)
                .is_some_and(|o| o.target.state == TargetState::Quarantined)
        };
        self.quarantined_since.retain(|id, _| quarantined(id));
        for id in view.owned.keys().filter(|id| quarantined(id)) {
            self.quarantined_since.entry(id.clone()).or_insert(now);
        }
        self.parked.retain(|id, addresses| {
            view.owned
                .get(id)
                .is_some_and(|o| o.target.parked && o.target.addresses == *addresses)
        });
    }

    /// Remembers the targets `intents` park, before they are written. If the write fails, the
    /// next [`Witness::observe`] forgets them again.
    pub fn parking(&mut self, intents: &BTreeMap<SetId, Intent>) {
        for (id, intent) in intents {
            if let Intent::Present(t) = intent
                && t.parked
            {
                self.parked.insert(id.clone(), t.addresses.clone());
            }
        }
    }

    /// How long (seconds, as of `now`) this controller has seen `id` quarantined, if it has.
    pub fn quarantined_for(&self, id: &str, now: u64) -> Option<u64> {
        self.quarantined_since
            .get(id)
            .map(|since| now.saturating_sub(*since))
    }

    /// True when this controller parked `id` with exactly `addresses`.
    pub fn parked(&self, id: &str, addresses: &[IpAddr]) -> bool {
        self.parked.get(id).is_some_and(|a| a == addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::model::{PoolSpec, RecordType, Target};
    use registry::name::Fqdn;
    use registry::pool::classify;
    use registry::testing::sid;

    fn view(targets: &[Target]) -> PoolView {
        let p = PoolSpec {
            name: Fqdn::parse("www.lab.test").unwrap(),
            record_type: RecordType::A,
            ttl: 5,
            owner_id: "lab".into(),
            ownership_key: None,
        };
        let sets: Vec<_> = targets.iter().flat_map(|t| t.record_sets(&p)).collect();
        classify(&p, &sets)
    }

    fn target(id: &str) -> Target {
        Target::active(sid(id), vec!["10.0.0.1".parse().unwrap()], 10, 0)
    }

    #[test]
    fn the_clock_starts_when_seen_never_at_since() {
        let mut w = Witness::default();
        // Written as quarantined since 1970: the clock starts at the first sighting.
        let q = target("a").with_state(TargetState::Quarantined, 0);
        w.observe(&view(&[q.clone(), target("b")]), 1_000);
        assert_eq!(w.quarantined_for("a", 1_000), Some(0));
        assert_eq!(w.quarantined_for("a", 1_030), Some(30));
        assert_eq!(w.quarantined_for("b", 1_030), None);
        // Seen again later: the first sighting counts.
        w.observe(&view(std::slice::from_ref(&q)), 1_020);
        assert_eq!(w.quarantined_for("a", 1_030), Some(30));
        // Restored in between: the clock starts again.
        w.observe(&view(&[target("a")]), 1_040);
        w.observe(&view(&[q]), 1_050);
        assert_eq!(w.quarantined_for("a", 1_060), Some(10));
        // Gone from the pool: forgotten.
        w.observe(&view(&[]), 1_070);
        assert_eq!(w, Witness::default());
    }

    #[test]
    fn remembers_only_what_it_parked_and_only_while_unchanged() {
        let mut w = Witness::default();
        let parked = target("a").with_state(TargetState::Quarantined, 5).parked();
        w.parking(&BTreeMap::from([
            (sid("a"), Intent::Present(parked.clone())),
            (sid("b"), Intent::Present(target("b"))),
            (sid("c"), Intent::Absent),
        ]));
        let ip: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap()];
        assert!(w.parked("a", &ip));
        assert!(!w.parked("b", &ip) && !w.parked("c", &ip));
        assert!(!w.parked("a", &["127.0.0.1".parse().unwrap()]));
        w.observe(&view(std::slice::from_ref(&parked)), 10);
        assert!(w.parked("a", &ip), "written and read back");
        // Someone rewrote the parked addresses: forgotten.
        let mut rewritten = parked;
        rewritten.addresses = vec!["127.0.0.1".parse().unwrap()];
        w.observe(&view(&[rewritten]), 11);
        assert!(!w.parked("a", &ip));
    }
}

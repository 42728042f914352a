//! The controller's decision for one round: which targets to quarantine, restore or delete,
//! under the guard that it never takes out so many targets that it causes an outage. Pure:
//! verdicts, instance liveness and the time are passed in.

use std::collections::{BTreeMap, HashMap};

use registry::model::{By, SetId, Target, TargetState};
use registry::plan::Intent;
use registry::pool::{OwnedTarget, PoolView};
use serde::Deserialize;

use crate::witness::Witness;
use probe::state::Health;

/// What to do when every target of the pool is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllDown {
    /// Keep serving: the fraction guard leaves the rest in rotation, and Route 53 answers an
    /// all-zero group uniformly, so traffic still spreads.
    FailOpen,
    /// When every target fails, the operator prefers empty answers: every address record is
    /// removed (the addresses stay in the ownership records) until a target recovers.
    FailClosed,
}

/// The knobs of the decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// At most this fraction of the pool's targets may be quarantined (0–1).
    pub max_quarantined_fraction: f64,
    /// What to do when everything is down.
    pub all_down: AllDown,
    /// A target this controller has seen quarantined this long (seconds), and still finds
    /// unhealthy, is garbage-collected when its instance is gone.
    pub gc_after: u64,
}

/// The outcome of one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Per target: quarantine, restore (`Present`) or delete (`Absent`).
    pub intents: BTreeMap<SetId, Intent>,
    /// Targets that should be quarantined but were held back by the fraction guard.
    pub withheld: Vec<SetId>,
    /// Targets deleted as dead.
    pub collected: Vec<SetId>,
    /// Quarantined targets once the decision applies.
    pub quarantined: usize,
    /// Targets counted in the pool (owned, with an address record, not draining).
    pub members: usize,
}

impl Decision {
    /// True when the guard held back a quarantine: the prober is more likely broken than the fleet.
    pub fn panic(&self) -> bool {
        !self.withheld.is_empty()
    }
}

/// How the fraction guard's panic changed from one round to the next, for the log: it is told
/// when it starts, when the number of targets it holds back changes, and when it ends, not
/// every round it lasts (the gauge `wavelb_health_panic` holds it meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicChange {
    /// The guard started holding back quarantines.
    Entered,
    /// It still does, for another number of targets.
    Changed,
    /// It holds back none any more.
    Left,
}

/// The change from a round whose guard held back `before` quarantines to one that held back
/// `now`; `None` when nothing changed.
pub fn panic_change(before: usize, now: usize) -> Option<PanicChange> {
    match (before, now) {
        (0, 0) => None,
        (0, _) => Some(PanicChange::Entered),
        (_, 0) => Some(PanicChange::Left),
        (b, n) if b != n => Some(PanicChange::Changed),
        _ => None,
    }
}

/// Decides one round.
///
/// - `verdicts`: the hysteresis verdict per set identifier (missing means unknown);
/// - `witness`: what this controller has seen itself (quarantine sightings, what it parked);
/// - `instance_gone(id)`: `Some(true)` when the target's instance is terminated or does not exist,
///   `Some(false)` when it exists, `None` when unknowable (no EC2 API: labs);
/// - `now`: unix seconds.
///
/// A parked target that this controller did not park and whose record is not authenticated is
/// not a member: its `parked=` addresses are only a claim, so it is neither counted nor ever
/// published.
pub fn decide(
    view: &PoolView,
    verdicts: &HashMap<SetId, Health>,
    policy: &Policy,
    witness: &Witness,
    instance_gone: &dyn Fn(&str) -> Option<bool>,
    now: u64,
) -> Decision {
    let vouched =
        |o: &OwnedTarget| o.authenticated || witness.parked(&o.target.id, &o.target.addresses);
    let members: Vec<&Target> = view
        .owned
        .values()
        .filter(|o| {
            (o.address_set.is_some() || (o.target.parked && vouched(o)))
                && o.target.state != TargetState::Draining
        })
        .map(|o| &o.target)
        .collect();
    let verdict = |t: &Target| verdicts.get(&t.id).copied().unwrap_or(Health::Unknown);
    let fraction = policy.max_quarantined_fraction.clamp(0.0, 1.0);
    // Truncation is the point: the limit never rounds up into an outage.
    let limit = (fraction * members.len() as f64).floor() as usize;
    let mut out = Decision {
        members: members.len(),
        ..Decision::default()
    };
    let all_down = !members.is_empty() && members.iter().all(|t| verdict(t) == Health::Unhealthy);
    let ours = |t: &Target| t.by.as_ref().is_none_or(|b| *b == By::Health);

    if all_down && policy.all_down == AllDown::FailClosed {
        // Everything failed and the operator asked for empty answers: remove every address
        // record, keeping the addresses in the ownership records for the way back.
        for t in members.iter().filter(|t| !t.parked) {
            let parked = (*t)
                .clone()
                .with_state(TargetState::Quarantined, now)
                .by(By::Health)
                .parked();
            out.intents.insert(t.id.clone(), Intent::Present(parked));
        }
        out.quarantined = members.len();
        return out;
    }

    let mut quarantined: Vec<&Target> = Vec::new();
    for t in members
        .iter()
        .filter(|t| t.state == TargetState::Quarantined)
    {
        match verdict(t) {
            Health::Healthy if ours(t) => {
                out.intents.insert(
                    t.id.clone(),
                    Intent::Present((*t).clone().with_state(TargetState::Active, now)),
                );
            }
            // Not everything is down any more: a parked target still failing gets its address
            // record back at weight 0, as an ordinary quarantine.
            Health::Unhealthy | Health::Healthy if t.parked => {
                out.intents
                    .insert(t.id.clone(), Intent::Present((*t).clone().unparked()));
                quarantined.push(t);
            }
            _ => quarantined.push(t),
        }
    }

    let candidates: Vec<&&Target> = members
        .iter()
        .filter(|t| t.state == TargetState::Active && verdict(t) == Health::Unhealthy)
        .collect();
    let room = limit.saturating_sub(quarantined.len());
    for (i, t) in candidates.iter().enumerate() {
        if i < room {
            out.intents.insert(
                t.id.clone(),
                Intent::Present(
                    (**t)
                        .clone()
                        .with_state(TargetState::Quarantined, now)
                        .by(By::Health),
                ),
            );
        } else {
            out.withheld.push(t.id.clone());
        }
    }
    out.quarantined = quarantined.len() + candidates.len().min(room);

    // Dead instances: seen quarantined by this controller long enough (never on the strength of
    // the record's `since=`), failing our own probes, and gone (or unknowable without EC2).
    let mut budget = limit;
    for t in &quarantined {
        if budget == 0 {
            break;
        }
        let old_enough = witness
            .quarantined_for(&t.id, now)
            .is_some_and(|seen| seen >= policy.gc_after);
        if old_enough && verdict(t) == Health::Unhealthy && instance_gone(&t.id) != Some(false) {
            out.intents.insert(t.id.clone(), Intent::Absent);
            out.collected.push(t.id.clone());
            out.quarantined -= 1;
            budget -= 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::model::RrType;
    use registry::testing::{pool, sid};

    #[test]
    fn a_panic_is_told_when_it_starts_changes_and_ends() {
        assert_eq!(panic_change(0, 0), None);
        assert_eq!(panic_change(0, 1), Some(PanicChange::Entered));
        assert_eq!(panic_change(1, 1), None);
        assert_eq!(panic_change(1, 2), Some(PanicChange::Changed));
        assert_eq!(panic_change(2, 1), Some(PanicChange::Changed));
        assert_eq!(panic_change(2, 0), Some(PanicChange::Left));
        // A hundred rounds of the same panic: told once.
        let rounds = [0, 2, 2, 2].into_iter().chain([2; 100]).chain([0; 10]);
        let mut before = 0;
        let mut told = Vec::new();
        for now in rounds {
            told.extend(panic_change(before, now));
            before = now;
        }
        assert_eq!(told, [PanicChange::Entered, PanicChange::Left]);
    }

    use registry::pool::classify;

    fn view(targets: &[Target]) -> PoolView {
        let p = pool();
        let sets: Vec<_> = targets
            .iter()
            .flat_map(|t| [t.address_record(&p), t.ownership_record(&p)])
            .collect();
        classify(&p, &sets)
    }

    fn fleet(n: usize) -> Vec<Target> {
        (0..n)
            .map(|i| {
                Target::active(
                    sid(&format!("t{i}")),
                    vec![format!("10.0.0.{i}").parse().unwrap()],
                    10,
                    0,
                )
            })
            .collect()
    }

    const POLICY: Policy = Policy {
        max_quarantined_fraction: 0.5,
        all_down: AllDown::FailOpen,
        gc_after: 600,
    };

    fn verdicts(pairs: &[(&str, Health)]) -> HashMap<SetId, Health> {
        pairs.iter().map(|(k, v)| (sid(k), *v)).collect()
    }

    fn no_ec2(_: &str) -> Option<bool> {
        None
    }

    /// A controller that has seen nothing yet (just started).
    fn none() -> Witness {
        Witness::default()
    }

    #[test]
    fn quarantines_the_unhealthy_and_never_the_unknown() {
        let v = view(&fleet(4));
        let d = decide(
            &v,
            &verdicts(&[("t1", Health::Unhealthy), ("t2", Health::Unknown)]),
            &POLICY,
            &none(),
            &no_ec2,
            10,
        );
        assert_eq!(d.intents.keys().collect::<Vec<_>>(), ["t1"]);
        match &d.intents["t1"] {
            Intent::Present(t) => {
                assert_eq!(
                    (t.weight, t.wanted_weight, t.state),
                    (0, 10, TargetState::Quarantined)
                );
                assert_eq!(t.by, Some(By::Health));
            }
            Intent::Absent => panic!("quarantine, not delete"),
        }
        assert!(!d.panic());
    }

    #[test]
    fn the_fraction_guard_holds_and_raises_panic() {
        let v = view(&fleet(4));
        let all_bad: Vec<(&str, Health)> = ["t0", "t1", "t2", "t3"]
            .iter()
            .map(|t| (*t, Health::Unhealthy))
            .collect();
        let d = decide(&v, &verdicts(&all_bad), &POLICY, &none(), &no_ec2, 10);
        assert_eq!(d.intents.len(), 2, "at most half of 4");
        assert_eq!(d.withheld, ["t2", "t3"]);
        assert!(d.panic());
        assert_eq!(d.quarantined, 2);
    }

    #[test]
    fn fail_closed_parks_everything_and_unparks_on_recovery() {
        let p = pool();
        let closed = Policy {
            all_down: AllDown::FailClosed,
            ..POLICY
        };
        let all_bad: Vec<(&str, Health)> = ["t0", "t1", "t2"]
            .iter()
            .map(|t| (*t, Health::Unhealthy))
            .collect();
        let mut w = Witness::default();
        let d = decide(
            &view(&fleet(3)),
            &verdicts(&all_bad),
            &closed,
            &w,
            &no_ec2,
            10,
        );
        w.parking(&d.intents);
        assert_eq!(d.intents.len(), 3);
        assert!(!d.panic());
        let parked: Vec<Target> = d
            .intents
            .values()
            .map(|i| match i {
                Intent::Present(t) => t.clone(),
                Intent::Absent => panic!("park, not delete"),
            })
            .collect();
        for t in &parked {
            assert!(t.parked && t.state == TargetState::Quarantined);
            assert_eq!(
                t.record_sets(&p).len(),
                1,
                "no address record: empty answers"
            );
        }
        // Read back: the addresses survive in the ownership records.
        let sets: Vec<_> = parked.iter().flat_map(|t| t.record_sets(&p)).collect();
        let v = classify(&p, &sets);
        w.observe(&v, 11);
        assert_eq!(
            v.owned["t1"].target.addresses,
            vec!["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        // Still all down: nothing to do. Unknown verdicts: nothing either.
        assert!(
            decide(&v, &verdicts(&all_bad), &closed, &w, &no_ec2, 11)
                .intents
                .is_empty()
        );
        assert!(
            decide(&v, &HashMap::new(), &closed, &w, &no_ec2, 11)
                .intents
                .is_empty()
        );
        // One recovers: it is restored, the others come back as ordinary weight-0 quarantines.
        let one_up = verdicts(&[
            ("t0", Health::Healthy),
            ("t1", Health::Unhealthy),
            ("t2", Health::Unhealthy),
        ]);
        // A controller that did not park them (another one, or this one after a restart) does
        // not publish addresses it only read in a record: the parked targets stay parked.
        let d = decide(&v, &one_up, &closed, &none(), &no_ec2, 12);
        assert!(d.intents.is_empty(), "{d:?}");
        assert_eq!(d.members, 0);
        let d = decide(&v, &one_up, &closed, &w, &no_ec2, 12);
        let t0 = match &d.intents["t0"] {
            Intent::Present(t) => t.clone(),
            Intent::Absent => panic!(),
        };
        assert_eq!(
            (t0.parked, t0.state, t0.weight),
            (false, TargetState::Active, 10)
        );
        let t1 = match &d.intents["t1"] {
            Intent::Present(t) => t.clone(),
            Intent::Absent => panic!(),
        };
        assert_eq!(
            (t1.parked, t1.state, t1.weight),
            (false, TargetState::Quarantined, 0)
        );
        assert_eq!(t1.record_sets(&p).len(), 2);
    }

    #[test]
    fn restores_its_own_quarantines_with_the_wanted_weight_only() {
        let mut f = fleet(3);
        f[0] = f[0]
            .clone()
            .with_state(TargetState::Quarantined, 5)
            .by(By::Health);
        f[1] = f[1]
            .clone()
            .with_state(TargetState::Quarantined, 5)
            .by(By::Operator);
        let v = view(&f);
        let d = decide(
            &v,
            &verdicts(&[("t0", Health::Healthy), ("t1", Health::Healthy)]),
            &POLICY,
            &none(),
            &no_ec2,
            10,
        );
        assert_eq!(
            d.intents.keys().collect::<Vec<_>>(),
            ["t0"],
            "an operator's quarantine stays"
        );
        match &d.intents["t0"] {
            Intent::Present(t) => assert_eq!((t.weight, t.state), (10, TargetState::Active)),
            Intent::Absent => panic!("restore, not delete"),
        }
    }

    #[test]
    fn collects_long_quarantined_dead_targets_within_the_guard() {
        let mut f = fleet(4);
        for t in f.iter_mut().take(2) {
            *t = t
                .clone()
                .with_state(TargetState::Quarantined, 0)
                .by(By::Health);
        }
        let v = view(&f);
        let bad = verdicts(&[("t0", Health::Unhealthy), ("t1", Health::Unhealthy)]);
        // The records say quarantined since 0, but this controller first sees them at 1000.
        let mut w = Witness::default();
        w.observe(&v, 1_000);
        for now in [600, 1_599] {
            assert!(
                decide(&v, &bad, &POLICY, &w, &no_ec2, now)
                    .collected
                    .is_empty(),
                "not before this controller has seen gc_after pass ({now})"
            );
        }
        assert!(
            decide(&v, &bad, &POLICY, &none(), &no_ec2, 5_000)
                .collected
                .is_empty(),
            "never without its own sighting"
        );
        let d = decide(&v, &bad, &POLICY, &w, &no_ec2, 1_600);
        assert_eq!(d.collected, ["t0", "t1"]);
        assert_eq!(d.intents["t0"], Intent::Absent);
        let t1_exists = |id: &str| Some(id != "t1");
        assert_eq!(
            decide(&v, &bad, &POLICY, &w, &t1_exists, 1_600).collected,
            ["t0"],
            "t1's instance still exists"
        );
        let t1_unknown = verdicts(&[("t0", Health::Unhealthy), ("t1", Health::Unknown)]);
        assert_eq!(
            decide(&v, &t1_unknown, &POLICY, &w, &no_ec2, 1_600).collected,
            ["t0"],
            "only what our own probes find unhealthy"
        );
        let strict = Policy {
            max_quarantined_fraction: 0.25,
            ..POLICY
        };
        assert_eq!(
            decide(&v, &bad, &strict, &w, &no_ec2, 1_600)
                .collected
                .len(),
            1,
            "deletions obey the guard"
        );
    }

    #[test]
    fn a_spoofed_parked_record_is_never_published() {
        // A TXT-only set claiming to be ours, parked at 127.0.0.1 with weight 255.
        let p = pool();
        let forged = registry::model::RecordSet {
            name: p.ownership_name(),
            rtype: RrType::Txt,
            set_identifier: Some("evil".into()),
            weight: Some(0),
            ttl: Some(p.ttl),
            values: vec![
                r#""v=1" "owner=me" "weight=255" "state=quarantined" "since=0" "parked=127.0.0.1""#
                    .into(),
            ],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        };
        let mut sets: Vec<_> = fleet(2).iter().flat_map(|t| t.record_sets(&p)).collect();
        sets.push(forged);
        let v = classify(&p, &sets);
        assert!(v.owned["evil"].target.parked, "it decodes as ours");
        let mut w = Witness::default();
        w.observe(&v, 10);
        let closed = Policy {
            all_down: AllDown::FailClosed,
            ..POLICY
        };
        for health in [Health::Healthy, Health::Unhealthy] {
            for policy in [POLICY, closed] {
                let d = decide(&v, &verdicts(&[("evil", health)]), &policy, &w, &no_ec2, 20);
                assert!(
                    !d.intents.contains_key("evil"),
                    "{health} {policy:?}: {d:?}"
                );
                assert_eq!(d.members, 2, "not counted either");
            }
        }
    }
}

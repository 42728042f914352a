//! What the console says about a pool whose dead targets stay in the answers: the health
//! controller's fraction guard holding back quarantines (the pool "panicked"), or a lab run
//! without a health controller. Pure: computed from the pool as listed and which echo servers
//! the lab runs, with the same counting as `health::decide` (members: targets with an address
//! record that are not draining; at most `floor(fraction × members)` quarantined).

use std::fmt;

use registry::model::{SetId, TargetState};
use registry::pool::PoolView;

/// A pool with dead targets in its answers.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Note {
    /// The pool's name, without the final dot.
    pub pool: String,
    /// Members whose echo server is down.
    pub down: usize,
    /// Members of the pool.
    pub members: usize,
    /// Members quarantined.
    pub quarantined: usize,
    /// The active members that are down: still answered.
    pub held: Vec<SetId>,
    /// True when every active member with a weight is down: every answer goes to a dead target.
    pub all_answers_dead: bool,
    /// The guard's fraction; `None` when the lab runs no health controller.
    pub fraction: Option<f64>,
}

/// The note for one pool, if its dead targets stay in the answers for a reason the operator
/// should read on screen: the guard is full (`fraction`), or nothing quarantines (`None`: the
/// lab runs with `--no-health`). `up(id)` tells whether the lab's target `id` runs (`None`: not
/// one of the lab's). A target just killed while the guard has room is not noted: the
/// controller quarantines it within its `fall` probes.
pub(super) fn note(
    pool: &str,
    view: &PoolView,
    up: &dyn Fn(&str) -> Option<bool>,
    fraction: Option<f64>,
) -> Option<Note> {
    let members: Vec<_> = view
        .owned
        .values()
        .filter(|o| {
            (o.address_set.is_some() || o.target.parked) && o.target.state != TargetState::Draining
        })
        .map(|o| &o.target)
        .collect();
    let down = |id: &str| up(id) == Some(false);
    let quarantined = members
        .iter()
        .filter(|t| t.state == TargetState::Quarantined)
        .count();
    let held: Vec<SetId> = members
        .iter()
        .filter(|t| t.state == TargetState::Active && down(&t.id))
        .map(|t| t.id.clone())
        .collect();
    if held.is_empty() {
        return None;
    }
    if let Some(f) = fraction {
        // Truncation is the guard's own rule (`health::decide`).
        let limit = (f.clamp(0.0, 1.0) * members.len() as f64).floor() as usize;
        if quarantined < limit {
            return None;
        }
    }
    let answering: Vec<_> = members
        .iter()
        .filter(|t| t.state == TargetState::Active && t.weight > 0)
        .collect();
    Some(Note {
        pool: pool.to_owned(),
        down: members.iter().filter(|t| down(&t.id)).count(),
        members: members.len(),
        quarantined,
        all_answers_dead: !answering.is_empty() && answering.iter().all(|t| down(&t.id)),
        held,
        fraction,
    })
}

impl Note {
    /// How many members the guard lets the controller quarantine.
    fn limit(&self, fraction: f64) -> usize {
        (fraction.clamp(0.0, 1.0) * self.members as f64).floor() as usize
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self
            .held
            .iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let verb = if self.held.len() == 1 { "is" } else { "are" };
        write!(
            f,
            "pool {}: {} of {} targets down, {} quarantined",
            self.pool, self.down, self.members, self.quarantined
        )?;
        match self.fraction {
            Some(fraction) => write!(
                f,
                " - the fraction guard (max_quarantined_fraction {fraction}: at most {} of {}) \
                 keeps {held} in the answers rather than empty the pool",
                self.limit(fraction),
                self.members
            )?,
            None => write!(
                f,
                " - {held} {verb} still answered: the lab runs without a health controller \
                 (--no-health)"
            )?,
        }
        if self.all_answers_dead {
            write!(f, "; every answer now goes to a dead target")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::lab::table::tests::{pool, view};
    use registry::model::Target;
    use registry::testing::sid;

    fn fleet(weights: &[u8]) -> Vec<Target> {
        (1..)
            .zip(weights)
            .map(|(i, w)| {
                Target::active(
                    sid(&format!("demo-{i}")),
                    vec![format!("127.0.0.{}", 10 + i).parse().unwrap()],
                    *w,
                    1,
                )
            })
            .collect()
    }

    fn quarantine(t: &mut Target) {
        *t = t.clone().with_state(TargetState::Quarantined, 2);
    }

    fn alive(dead: &'static [&'static str]) -> impl Fn(&str) -> Option<bool> {
        move |id| Some(!dead.contains(&id))
    }

    #[test]
    fn nothing_to_say_while_the_guard_has_room() {
        let p = pool("www.lab.test");
        let mut ts = fleet(&[10, 20, 30, 40]);
        assert_eq!(
            note("www.lab.test", &view(&p, &ts), &alive(&[]), Some(0.5)),
            None
        );
        // Just killed: the controller will quarantine it.
        let v = view(&p, &ts);
        assert_eq!(
            note("www.lab.test", &v, &alive(&["demo-1"]), Some(0.5)),
            None
        );
        // Two down, both quarantined: the guard is full but nothing dead is answered.
        quarantine(&mut ts[0]);
        quarantine(&mut ts[1]);
        let v = view(&p, &ts);
        assert_eq!(
            note("www.lab.test", &v, &alive(&["demo-1", "demo-2"]), Some(0.5)),
            None
        );
    }

    #[test]
    fn the_full_guard_is_explained() {
        let p = pool("www.lab.test");
        let mut ts = fleet(&[10, 20, 30, 40]);
        quarantine(&mut ts[0]);
        quarantine(&mut ts[1]);
        let v = view(&p, &ts);
        let n = note(
            "www.lab.test",
            &v,
            &alive(&["demo-1", "demo-2", "demo-3"]),
            Some(0.5),
        )
        .expect("a note");
        assert_eq!(n.held, vec![sid("demo-3")]);
        assert!(!n.all_answers_dead, "demo-4 still answers");
        assert_eq!(
            n.to_string(),
            "pool www.lab.test: 3 of 4 targets down, 2 quarantined - the fraction guard \
             (max_quarantined_fraction 0.5: at most 2 of 4) keeps demo-3 in the answers rather \
             than empty the pool"
        );
    }

    #[test]
    fn every_answer_to_a_dead_target_is_said() {
        // The case: three of four dead, the live one set to weight 0 by hand.
        let p = pool("www.lab.test");
        let mut ts = fleet(&[10, 20, 30, 0]);
        quarantine(&mut ts[0]);
        quarantine(&mut ts[1]);
        let v = view(&p, &ts);
        let n = note(
            "www.lab.test",
            &v,
            &alive(&["demo-1", "demo-2", "demo-3"]),
            Some(0.5),
        )
        .expect("a note");
        assert!(n.all_answers_dead);
        assert!(
            n.to_string()
                .ends_with("rather than empty the pool; every answer now goes to a dead target"),
            "{n}"
        );
    }

    #[test]
    fn all_down_fails_open() {
        let p = pool("www.lab.test");
        let mut ts = fleet(&[10, 20, 30, 40]);
        quarantine(&mut ts[0]);
        quarantine(&mut ts[1]);
        let v = view(&p, &ts);
        let dead = alive(&["demo-1", "demo-2", "demo-3", "demo-4"]);
        let n = note("www.lab.test", &v, &dead, Some(0.5)).expect("a note");
        assert_eq!(n.held, vec![sid("demo-3"), sid("demo-4")]);
        assert_eq!(n.down, 4);
        assert!(n.all_answers_dead);
        assert!(
            n.to_string()
                .contains("keeps demo-3, demo-4 in the answers")
        );
    }

    #[test]
    fn draining_and_foreign_targets_are_not_members() {
        let p = pool("www.lab.test");
        let mut ts = fleet(&[10, 20, 30, 40]);
        ts[3] = ts[3].clone().with_state(TargetState::Draining, 2);
        quarantine(&mut ts[0]);
        let v = view(&p, &ts);
        // Three members: the guard allows one; demo-2 down and active is held.
        let n = note("www.lab.test", &v, &alive(&["demo-1", "demo-2"]), Some(0.5)).expect("a note");
        assert_eq!((n.members, n.quarantined, n.down), (3, 1, 2));
        assert!(n.to_string().contains("at most 1 of 3"), "{n}");
        // A target the lab does not know is never counted down.
        let n = note("www.lab.test", &v, &|_| None, Some(0.5));
        assert_eq!(n, None);
    }

    #[test]
    fn without_a_health_controller_a_dead_target_is_said_at_once() {
        let p = pool("www.lab.test");
        let v = view(&p, &fleet(&[10, 20, 30, 40]));
        let n = note("www.lab.test", &v, &alive(&["demo-2"]), None).expect("a note");
        assert_eq!(
            n.to_string(),
            "pool www.lab.test: 1 of 4 targets down, 0 quarantined - demo-2 is still answered: \
             the lab runs without a health controller (--no-health)"
        );
    }
}

//! What the agent wants its own records to be: registration, drift repair, self-quarantine and
//! the drain steps. Pure: the view, the identity and the time are passed in.

use std::net::IpAddr;

use registry::model::{By, ProbeAddr, SetId, Target, TargetState};
use registry::plan::Intent;
use registry::pool::PoolView;

use crate::metrics::AgentState;

/// What this instance publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The set identifier.
    pub id: SetId,
    /// The addresses.
    pub addresses: Vec<IpAddr>,
    /// The wanted weight.
    pub weight: u8,
    /// Where health controllers should probe, if not the published address.
    pub probe: Option<ProbeAddr>,
}

impl Me {
    fn fresh(&self, now: u64) -> Target {
        let mut t = Target::active(self.id.clone(), self.addresses.clone(), self.weight, now);
        t.probe = self.probe;
        t
    }
}

/// The agent's own health verdict from its self-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfHealth {
    /// No self-check, or it has not decided either way.
    Unknown,
    /// Passing.
    Passing,
    /// Failing (for `fall` checks in a row) and self-quarantine is enabled.
    Failing,
}

/// What one reconcile found and wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconcile {
    /// Write this (the planner skips it if nothing differs).
    Write(Intent, Status),
    /// Someone else quarantined us (a health controller or an operator): leave it alone.
    QuarantinedBy(String),
    /// A foreign record set uses our set identifier: never touch it.
    Foreign(String),
}

/// The state the agent reports (metrics, `STATUS=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// In rotation.
    Active,
    /// Quarantined by its own self-check.
    SelfQuarantined,
}

impl From<Status> for AgentState {
    fn from(status: Status) -> Self {
        match status {
            Status::Active => AgentState::Active,
            Status::SelfQuarantined => AgentState::SelfQuarantined,
        }
    }
}

/// Decides how to make the records match `me`.
///
/// - Missing (never registered, or deleted behind our back): register.
/// - Quarantined by a health controller or an operator: never fight it.
/// - Otherwise: the published addresses, weight, probe address and TTL follow `me`, and the
///   self-check decides between active and self-quarantined. `since` is kept unless the state
///   changes.
pub fn reconcile(view: &PoolView, me: &Me, health: SelfHealth, now: u64) -> Reconcile {
    if let Some(f) = view
        .foreign
        .iter()
        .find(|f| f.id.as_deref() == Some(me.id.as_str()))
    {
        return Reconcile::Foreign(f.reason.to_string());
    }
    let current = view.owned.get(&me.id).map(|o| &o.target);
    if let Some(t) = current
        && t.state == TargetState::Quarantined
        && t.by != Some(By::Agent)
    {
        return Reconcile::QuarantinedBy(
            t.by.as_ref()
                .map_or_else(|| "someone else".into(), ToString::to_string),
        );
    }
    let base = match current {
        Some(t) => {
            let mut t = t.clone();
            t.addresses = me.addresses.clone();
            t.probe = me.probe;
            t.parked = false;
            t.with_wanted_weight(me.weight)
        }
        None => me.fresh(now),
    };
    if health == SelfHealth::Failing {
        let q = base.with_state(TargetState::Quarantined, now).by(By::Agent);
        return Reconcile::Write(Intent::Present(q), Status::SelfQuarantined);
    }
    let active = base.with_state(TargetState::Active, now);
    Reconcile::Write(Intent::Present(active), Status::Active)
}

/// The most the reconcile interval is stretched under throttling.
pub const MAX_STRETCH: u32 = 8;

/// The next stretch of the reconcile interval: doubled (up to [`MAX_STRETCH`]) after a reconcile
/// that Route 53 throttled, halved back towards 1 after one it did not. A fleet whose periodic
/// reads crowd the account's 5 requests/s thereby spaces itself out instead of keeping the
/// limit saturated.
pub fn next_stretch(stretch: u32, throttled: bool) -> u32 {
    if throttled {
        stretch.saturating_mul(2).min(MAX_STRETCH)
    } else {
        (stretch / 2).max(1)
    }
}

/// What the instance's Auto Scaling lifecycle state (IMDS
/// `autoscaling/target-lifecycle-state`) asks of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In service, or not in an Auto Scaling group at all: be registered.
    InService,
    /// `Standby`: out of service for now; drain, and register again when it returns.
    Standby,
    /// `Warmed:*` (a warm pool instance): never registered until it is placed in service.
    Warmed,
    /// `Terminated`: drain and stay deregistered until the instance stops.
    Terminating,
    /// A value Auto Scaling does not document: change nothing.
    Unknown,
}

impl Placement {
    /// Reads the IMDS value; `None` (no such key: the instance is in no Auto Scaling group)
    /// is in service. Amazon EC2 Auto Scaling's user guide ("Retrieve the target lifecycle
    /// state through instance metadata") lists `InService`, `Standby`, `Terminated` and the
    /// `Warmed:*` states.
    pub fn from_imds(value: Option<&str>) -> Self {
        let Some(v) = value.map(str::trim) else {
            return Self::InService;
        };
        match v {
            "InService" => Self::InService,
            "Standby" => Self::Standby,
            "Terminated" => Self::Terminating,
            _ if v.starts_with("Warmed:") => Self::Warmed,
            _ => Self::Unknown,
        }
    }

    /// True when the agent may register (or stay registered) in this state.
    pub fn may_register(self) -> bool {
        matches!(self, Self::InService | Self::Unknown)
    }
}

/// Drain step one: weight 0 and `state=draining`, from whatever is there now (`None` when the
/// records are already gone).
pub fn start_drain(view: &PoolView, me: &Me, now: u64) -> Option<Intent> {
    let t = view.owned.get(&me.id)?.target.clone();
    Some(Intent::Present(
        t.unparked()
            .with_state(TargetState::Draining, now)
            .by(By::Agent),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_stretches_under_throttling_and_recovers() {
        let mut s = 1;
        let mut seen = vec![];
        for throttled in [true, true, true, true, true, false, false, false, false] {
            s = next_stretch(s, throttled);
            seen.push(s);
        }
        assert_eq!(seen, [2, 4, 8, 8, 8, 4, 2, 1, 1]);
        assert_eq!(next_stretch(0, false), 1);
    }
    use registry::model::{PoolSpec, RecordType};
    use registry::name::Fqdn;
    use registry::pool::classify;
    use registry::testing::sid;

    fn pool(owner: &str) -> PoolSpec {
        PoolSpec {
            name: Fqdn::parse("edge.example.com").unwrap(),
            record_type: RecordType::A,
            ttl: 30,
            owner_id: owner.into(),
            ownership_key: None,
        }
    }

    fn me() -> Me {
        Me {
            id: sid("i-1"),
            addresses: vec!["155.146.0.1".parse().unwrap()],
            weight: 100,
            probe: None,
        }
    }

    fn view_of(t: &Target) -> PoolView {
        let p = pool("wavelb");
        classify(&p, &t.record_sets(&p))
    }

    fn written(r: Reconcile) -> Target {
        match r {
            Reconcile::Write(Intent::Present(t), _) => t,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn registers_and_repairs_drift_keeping_since() {
        let empty = classify(&pool("wavelb"), &[]);
        let t = written(reconcile(&empty, &me(), SelfHealth::Unknown, 10));
        assert_eq!((t.weight, t.state, t.since), (100, TargetState::Active, 10));
        let mut drifted = t.clone();
        drifted.addresses = vec!["9.9.9.9".parse().unwrap()];
        let repaired = written(reconcile(
            &view_of(&drifted),
            &me(),
            SelfHealth::Unknown,
            50,
        ));
        assert_eq!(repaired, t, "address restored, since kept");
        // An address record whose weight contradicts the ownership record is not a pair wavelb
        // wrote: it is foreign, and left alone.
        drifted.weight = 3;
        assert!(matches!(
            reconcile(&view_of(&drifted), &me(), SelfHealth::Unknown, 50),
            Reconcile::Foreign(_)
        ));
    }

    #[test]
    fn never_fights_a_controller_or_operator_quarantine() {
        let q = me()
            .fresh(1)
            .with_state(TargetState::Quarantined, 5)
            .by(By::Health);
        assert_eq!(
            reconcile(&view_of(&q), &me(), SelfHealth::Passing, 9),
            Reconcile::QuarantinedBy("health".into())
        );
        let mut no_by = q.clone();
        no_by.by = None;
        assert!(matches!(
            reconcile(&view_of(&no_by), &me(), SelfHealth::Passing, 9),
            Reconcile::QuarantinedBy(_)
        ));
    }

    #[test]
    fn self_quarantine_and_self_restore() {
        let t = me().fresh(1);
        let q = written(reconcile(&view_of(&t), &me(), SelfHealth::Failing, 5));
        assert_eq!(
            (q.weight, q.wanted_weight, q.state, q.by.clone()),
            (0, 100, TargetState::Quarantined, Some(By::Agent))
        );
        let r = written(reconcile(&view_of(&q), &me(), SelfHealth::Passing, 9));
        assert_eq!((r.weight, r.state, r.since), (100, TargetState::Active, 9));
    }

    #[test]
    fn foreign_set_ids_are_left_alone_and_draining_zeroes_the_weight() {
        let p = pool("someone");
        let theirs = me().fresh(1);
        let view = classify(&pool("wavelb"), &theirs.record_sets(&p));
        assert!(matches!(
            reconcile(&view, &me(), SelfHealth::Unknown, 2),
            Reconcile::Foreign(_)
        ));
        let d = match start_drain(&view_of(&me().fresh(1)), &me(), 7) {
            Some(Intent::Present(t)) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (d.weight, d.wanted_weight, d.state, d.since),
            (0, 100, TargetState::Draining, 7)
        );
        assert_eq!(start_drain(&classify(&pool("wavelb"), &[]), &me(), 7), None);
    }

    #[test]
    fn lifecycle_states_say_when_to_register() {
        use Placement::*;
        let cases = [
            (None, InService, true),
            (Some("InService"), InService, true),
            (Some("InService\n"), InService, true),
            (Some("Standby"), Standby, false),
            (Some("Warmed:Running"), Warmed, false),
            (Some("Warmed:Stopped"), Warmed, false),
            (Some("Warmed:Hibernated"), Warmed, false),
            (Some("Terminated"), Terminating, false),
            (Some("Pending"), Unknown, true),
            (Some("<html>"), Unknown, true),
        ];
        for (value, placement, may) in cases {
            assert_eq!(Placement::from_imds(value), placement, "{value:?}");
            assert_eq!(placement.may_register(), may, "{value:?}");
        }
    }
}

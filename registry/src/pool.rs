//! Reading a pool out of listed record sets: which targets are ours, and which are foreign.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::model::{PoolSpec, RecordSet, RrType, SetId, Target, TargetState};
use crate::txt;

/// A target this owner controls, with the exact record sets it was read from (needed for the
/// exact-match DELETE of a conditional change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedTarget {
    /// The decoded target. When the address record is missing, `addresses` is empty and
    /// `weight` is 0.
    pub target: Target,
    /// The address record set as listed; `None` when someone deleted it.
    pub address_set: Option<RecordSet>,
    /// The ownership record set as listed.
    pub ownership_set: RecordSet,
    /// True when the pool has an ownership key and the record's `mac=` verifies with it. Without
    /// a key nothing is authenticated, and decisions that would publish addresses taken from the
    /// record (a `parked=` list) need other evidence.
    pub authenticated: bool,
}

/// Why a record set is not ours to change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ForeignReason {
    /// An address record with no ownership record beside it.
    MissingOwnership,
    /// The ownership record names another owner.
    OtherOwner(String),
    /// The ownership record does not decode.
    MalformedOwnership(String),
    /// The address record is not a plain weighted set wavelb can manage.
    Unmanageable(String),
    /// The pool has an ownership key and the ownership record's `mac=` is missing or does not
    /// verify.
    Unauthenticated(String),
    /// The ownership record names this owner but contradicts the address record beside it, so
    /// wavelb did not write the pair as it stands (see [`consistency`]).
    Inconsistent(String),
}

impl std::fmt::Display for ForeignReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForeignReason::MissingOwnership => f.write_str("no ownership record"),
            ForeignReason::OtherOwner(o) => write!(f, "owned by {o}"),
            ForeignReason::MalformedOwnership(e) => write!(f, "malformed ownership record: {e}"),
            ForeignReason::Unmanageable(e) => write!(f, "unmanageable: {e}"),
            ForeignReason::Unauthenticated(e) => write!(f, "unauthenticated: {e}"),
            ForeignReason::Inconsistent(e) => {
                write!(f, "inconsistent with its address record: {e}")
            }
        }
    }
}

/// A set identifier in the pool that this owner must not touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignTarget {
    /// The set identifier (`None` for a non-weighted record at the pool name).
    pub id: Option<String>,
    /// Why it is foreign.
    pub reason: ForeignReason,
    /// The address record set, when there is one.
    pub address_set: Option<RecordSet>,
    /// The TXT record set at the ownership name, when there is one.
    pub ownership_set: Option<RecordSet>,
}

/// A pool as read from Route 53, from one owner's point of view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolView {
    /// Targets this owner controls, by set identifier.
    pub owned: BTreeMap<SetId, OwnedTarget>,
    /// Everything else at the pool's names.
    pub foreign: Vec<ForeignTarget>,
    /// The TTL of the pool's weighted address records as listed (the most common one, the
    /// lowest on a tie; `None` when there are none). Route 53 gives a weighted group one TTL:
    /// the last one written applies to every record in it.
    pub group_ttl: Option<u32>,
}

impl PoolView {
    /// True when `id` is a foreign set identifier.
    pub fn is_foreign(&self, id: &str) -> bool {
        self.foreign.iter().any(|f| f.id.as_deref() == Some(id))
    }

    /// The pool's TTL in Route 53 when it differs from the configured `pool.ttl`. Writers then
    /// keep the existing TTL (see [`crate::plan::plan`]) instead of flipping the whole group
    /// with every write; `wavelb records set-ttl` changes it on purpose.
    pub fn ttl_mismatch(&self, pool: &PoolSpec) -> Option<u32> {
        self.group_ttl.filter(|ttl| *ttl != pool.ttl)
    }
}

/// The most common TTL among weighted sets, the lowest on a tie.
fn group_ttl<'a>(sets: impl Iterator<Item = &'a RecordSet>) -> Option<u32> {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for set in sets.filter(|s| s.weight.is_some()) {
        if let Some(ttl) = set.ttl {
            *counts.entry(ttl).or_default() += 1;
        }
    }
    // `max_by_key` keeps the last maximum; iterating from the highest TTL down makes that the
    // lowest TTL among the most common ones.
    counts
        .into_iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map(|(ttl, _)| ttl)
}

/// Splits the record sets listed for a pool into owned and foreign targets. Record sets at other
/// names or types are ignored. Nothing here fails: anything that does not decode is foreign.
pub fn classify(pool: &PoolSpec, sets: &[RecordSet]) -> PoolView {
    let ownership_name = pool.ownership_name();
    let mut addresses: BTreeMap<Option<String>, &RecordSet> = BTreeMap::new();
    let mut ownership: BTreeMap<Option<String>, &RecordSet> = BTreeMap::new();
    for set in sets {
        if set.name == pool.name && set.rtype == pool.record_type {
            addresses.insert(set.set_identifier.clone(), set);
        } else if set.name == ownership_name && set.rtype == RrType::Txt {
            ownership.insert(set.set_identifier.clone(), set);
        }
    }

    let mut view = PoolView {
        group_ttl: group_ttl(addresses.values().copied()),
        ..PoolView::default()
    };
    let mut ids: Vec<&Option<String>> = addresses.keys().chain(ownership.keys()).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let address_set = addresses.get(id).copied();
        let ownership_set = ownership.get(id).copied();
        match judge(pool, id.as_deref(), address_set, ownership_set) {
            Ok(owned) => {
                view.owned.insert(owned.target.id.clone(), owned);
            }
            Err(reason) => {
                // Every read of every process classifies: a warning here would repeat every
                // round. The health controller warns once per member that turns foreign
                // (`health::foreign`), and `wavelb records list` shows each one.
                tracing::debug!(
                    pool = %pool.name,
                    set_id = ?id,
                    ?reason,
                    "record set is treated as foreign and will not be changed"
                );
                view.foreign.push(ForeignTarget {
                    id: id.clone(),
                    reason,
                    address_set: address_set.cloned(),
                    ownership_set: ownership_set.cloned(),
                });
            }
        }
    }
    view
}

fn judge(
    pool: &PoolSpec,
    id: Option<&str>,
    address_set: Option<&RecordSet>,
    ownership_set: Option<&RecordSet>,
) -> Result<OwnedTarget, ForeignReason> {
    let Some(id) = id else {
        return Err(ForeignReason::Unmanageable(
            "a record set without a SetIdentifier (simple routing)".into(),
        ));
    };
    let id = SetId::new(id).map_err(|e| ForeignReason::Unmanageable(e.to_string()))?;
    let Some(ownership_set) = ownership_set else {
        return Err(ForeignReason::MissingOwnership);
    };
    let [value] = ownership_set.values.as_slice() else {
        return Err(ForeignReason::MalformedOwnership(format!(
            "expected one TXT value, found {}",
            ownership_set.values.len()
        )));
    };
    let record =
        txt::decode(value).map_err(|e| ForeignReason::MalformedOwnership(e.to_string()))?;
    if record.owner != pool.owner_id {
        return Err(ForeignReason::OtherOwner(record.owner));
    }
    if let Some(note) = ownership_set.routing_note() {
        return Err(ForeignReason::Unmanageable(note));
    }
    let authenticated = pool.authenticates(id.as_str(), &record);
    if pool.ownership_key.is_some() && !authenticated {
        return Err(ForeignReason::Unauthenticated(
            match record.mac {
                None => "no mac=, and this pool has an ownership key",
                Some(_) => "the mac= does not verify with this pool's ownership key",
            }
            .into(),
        ));
    }
    let (addresses, weight) = match (address_set, &record.parked) {
        (Some(set), _) => decode_address_set(pool, set).map_err(ForeignReason::Unmanageable)?,
        (None, Some(parked)) => (parked.clone(), 0),
        (None, None) => (Vec::new(), 0),
    };
    consistency(&record, address_set.map(|_| weight)).map_err(ForeignReason::Inconsistent)?;
    Ok(OwnedTarget {
        target: Target {
            id,
            addresses,
            weight,
            wanted_weight: record.wanted_weight,
            state: record.state,
            since: record.since,
            probe: record.probe,
            by: record.by,
            parked: record.parked.is_some(),
        },
        address_set: address_set.cloned(),
        ownership_set: ownership_set.clone(),
        authenticated,
    })
}

/// The rule that an ownership record and the address record beside it (`address_weight`, when
/// there is one) could have been written together by wavelb, which always writes both in one
/// atomic batch:
///
/// - the address record's weight is the one the record's state implies: the wanted weight when
///   `active`, 0 when `quarantined` or `draining`;
/// - a `parked=` record has no address record beside it, and is not `active` (a target is
///   parked out of rotation, and put back in by publishing its addresses again).
///
/// A pair that breaks it was changed by someone else, and a record wavelb did not write is never
/// trusted to decide a change or a deletion: the target is foreign.
pub fn consistency(
    record: &txt::OwnershipRecord,
    address_weight: Option<u8>,
) -> Result<(), String> {
    if record.parked.is_some() {
        if address_weight.is_some() {
            return Err("a parked= ownership record beside an address record".into());
        }
        if record.state == TargetState::Active {
            return Err("parked= with state=active".into());
        }
    }
    let Some(weight) = address_weight else {
        return Ok(());
    };
    let implied = match record.state {
        TargetState::Active => record.wanted_weight,
        TargetState::Quarantined | TargetState::Draining => 0,
    };
    if weight != implied {
        return Err(format!(
            "the address record has weight {weight}, but state={} weight={} means {implied}",
            record.state, record.wanted_weight
        ));
    }
    Ok(())
}

fn decode_address_set(pool: &PoolSpec, set: &RecordSet) -> Result<(Vec<IpAddr>, u8), String> {
    if let Some(note) = set.routing_note() {
        return Err(note);
    }
    let weight = set
        .weight
        .ok_or("a SetIdentifier without a Weight (not weighted routing)")?;
    let weight = u8::try_from(weight).map_err(|_| format!("weight {weight} is outside 0-255"))?;
    let addresses = set
        .values
        .iter()
        .map(|v| match v.parse::<IpAddr>() {
            Ok(ip) if pool.record_type.fits(&ip) => Ok(ip),
            _ => Err(format!("{v:?} is not an {} address", pool.record_type)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((addresses, weight))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TargetState;
    use crate::name::Fqdn;
    use crate::testing::pool;
    use crate::testing::sid;

    fn keyed() -> PoolSpec {
        PoolSpec {
            ownership_key: Some(
                crate::mac::OwnershipKey::from_bytes(b"a shared key of 32 bytes, really").unwrap(),
            ),
            ..pool()
        }
    }

    /// A TXT written by hand beside `address`, as anyone with zone write access can.
    fn spoof(pool: &PoolSpec, id: &str, value: &str) -> RecordSet {
        RecordSet {
            name: pool.ownership_name(),
            rtype: RrType::Txt,
            set_identifier: Some(id.into()),
            weight: Some(0),
            ttl: Some(pool.ttl),
            values: vec![value.into()],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        }
    }

    fn reason(view: &PoolView, id: &str) -> ForeignReason {
        view.foreign
            .iter()
            .find(|f| f.id.as_deref() == Some(id))
            .map(|f| f.reason.clone())
            .unwrap_or_else(|| panic!("{id} is not foreign: {view:?}"))
    }

    #[test]
    fn a_claim_that_contradicts_the_address_record_is_foreign() {
        let p = pool();
        // Another team's record, and a TXT claiming it is ours and quarantined since 1970.
        let theirs = Target::active(sid("i-9"), vec!["192.0.2.9".parse().unwrap()], 10, 5);
        let forged = spoof(
            &p,
            "i-9",
            r#""v=1" "owner=me" "weight=10" "state=quarantined" "since=0""#,
        );
        let view = classify(&p, &[theirs.address_record(&p), forged]);
        assert!(view.owned.is_empty());
        assert!(matches!(
            reason(&view, "i-9"),
            ForeignReason::Inconsistent(_)
        ));
        // Active with another wanted weight than published: also not a pair wavelb wrote.
        let forged = spoof(
            &p,
            "i-9",
            r#""v=1" "owner=me" "weight=11" "state=active" "since=0""#,
        );
        let view = classify(&p, &[theirs.address_record(&p), forged]);
        assert!(matches!(
            reason(&view, "i-9"),
            ForeignReason::Inconsistent(_)
        ));
        // What wavelb writes is consistent in every state.
        for state in [
            TargetState::Active,
            TargetState::Quarantined,
            TargetState::Draining,
        ] {
            let t = theirs.clone().with_state(state, 7);
            let view = classify(&p, &t.record_sets(&p));
            assert_eq!(view.owned["i-9"].target, t, "{state}");
        }
    }

    #[test]
    fn parked_records_must_look_parked() {
        let p = pool();
        let a = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 10, 5);
        let parked_txt = spoof(
            &p,
            "i-1",
            r#""v=1" "owner=me" "weight=0" "state=quarantined" "since=0" "parked=127.0.0.1""#,
        );
        let mut beside = a.address_record(&p);
        beside.weight = Some(0);
        let view = classify(&p, &[beside, parked_txt.clone()]);
        assert!(matches!(
            reason(&view, "i-1"),
            ForeignReason::Inconsistent(_)
        ));
        let active = spoof(
            &p,
            "i-2",
            r#""v=1" "owner=me" "weight=255" "state=active" "since=0" "parked=127.0.0.1""#,
        );
        assert!(matches!(
            reason(&classify(&p, &[active]), "i-2"),
            ForeignReason::Inconsistent(_)
        ));
        // A TXT-only parked set decodes as owned, but nothing vouches for its addresses.
        let view = classify(&p, &[parked_txt]);
        assert!(view.owned["i-1"].target.parked);
        assert!(!view.owned["i-1"].authenticated);
    }

    #[test]
    fn with_a_key_only_signed_records_are_owned() {
        let p = keyed();
        let t = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 10, 5).parked();
        let t = t.with_state(TargetState::Quarantined, 6);
        let signed = t.record_sets(&p);
        let view = classify(&p, &signed);
        assert!(view.owned["i-1"].authenticated);
        assert_eq!(view.owned["i-1"].target, t);
        // Without the key configured, the same records are owned but not authenticated.
        assert!(!classify(&pool(), &signed).owned["i-1"].authenticated);
        // Unsigned, tampered, or copied to another set identifier: foreign.
        let unsigned = t.record_sets(&pool());
        assert!(matches!(
            reason(&classify(&p, &unsigned), "i-1"),
            ForeignReason::Unauthenticated(_)
        ));
        let mut tampered = signed[0].clone();
        tampered.values[0] = tampered.values[0].replace("parked=192.0.2.1", "parked=127.0.0.1");
        assert_ne!(tampered, signed[0]);
        assert!(matches!(
            reason(&classify(&p, &[tampered]), "i-1"),
            ForeignReason::Unauthenticated(_)
        ));
        let mut copied = signed[0].clone();
        copied.set_identifier = Some("i-2".into());
        assert!(matches!(
            reason(&classify(&p, &[copied]), "i-2"),
            ForeignReason::Unauthenticated(_)
        ));
        let other_key = PoolSpec {
            ownership_key: Some(
                crate::mac::OwnershipKey::from_bytes(b"another key of at least 16 bytes").unwrap(),
            ),
            ..pool()
        };
        assert!(matches!(
            reason(&classify(&other_key, &signed), "i-1"),
            ForeignReason::Unauthenticated(_)
        ));
    }

    #[test]
    fn owned_and_foreign() {
        let pool = pool();
        let mine = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 10, 5);
        let mut theirs_pool = pool.clone();
        theirs_pool.owner_id = "them".into();
        let theirs = Target::active(sid("i-2"), vec!["192.0.2.2".parse().unwrap()], 20, 5);
        let bare = Target::active(sid("i-3"), vec!["192.0.2.3".parse().unwrap()], 30, 5);
        let sets = vec![
            mine.address_record(&pool),
            mine.ownership_record(&pool),
            theirs.address_record(&theirs_pool),
            theirs.ownership_record(&theirs_pool),
            bare.address_record(&pool),
        ];
        let view = classify(&pool, &sets);
        assert_eq!(view.owned.len(), 1);
        assert_eq!(view.owned["i-1"].target, mine);
        assert_eq!(view.foreign.len(), 2);
        assert!(view.is_foreign("i-2"));
        assert!(view.is_foreign("i-3"));
        let reasons: Vec<_> = view.foreign.iter().map(|f| f.reason.clone()).collect();
        assert!(reasons.contains(&ForeignReason::OtherOwner("them".into())));
        assert!(reasons.contains(&ForeignReason::MissingOwnership));
    }

    #[test]
    fn malformed_txt_is_foreign_not_fatal() {
        let pool = pool();
        let t = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 10, 5);
        let mut txt = t.ownership_record(&pool);
        txt.values = vec!["\"v=1\" \"owner=me\" \"weight=banana\"".into()];
        let view = classify(&pool, &[t.address_record(&pool), txt]);
        assert!(view.owned.is_empty());
        assert!(matches!(
            view.foreign[0].reason,
            ForeignReason::MalformedOwnership(_)
        ));
    }

    /// A pair that names us but carries a set identifier Route 53 would not take (a lax API, or
    /// a hand-edited state file) is foreign: it cannot be written back, so it is never planned.
    #[test]
    fn a_set_identifier_route53_would_not_take_is_foreign() {
        let pool = pool();
        let t = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 10, 5);
        for bad in [String::new(), "x".repeat(SetId::MAX_CHARS + 1)] {
            let mut sets = t.record_sets(&pool);
            for s in &mut sets {
                s.set_identifier = Some(bad.clone());
            }
            let view = classify(&pool, &sets);
            assert!(view.owned.is_empty(), "{bad:?}");
            assert!(matches!(
                &view.foreign[0].reason,
                ForeignReason::Unmanageable(why) if why.contains("set identifier")
            ));
        }
    }

    #[test]
    fn orphan_ownership_record_is_owned_with_no_address() {
        let pool = pool();
        let t = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 10, 5)
            .with_state(TargetState::Quarantined, 9);
        let view = classify(&pool, &[t.ownership_record(&pool)]);
        let owned = &view.owned["i-1"];
        assert!(owned.address_set.is_none());
        assert!(owned.target.addresses.is_empty());
        assert_eq!(owned.target.wanted_weight, 10);
    }

    #[test]
    fn wrong_family_is_unmanageable() {
        let pool = pool();
        let t = Target::active(sid("i-1"), vec!["2001:db8::1".parse().unwrap()], 10, 5);
        let view = classify(&pool, &[t.address_record(&pool), t.ownership_record(&pool)]);
        assert!(matches!(
            view.foreign[0].reason,
            ForeignReason::Unmanageable(_)
        ));
    }

    /// Route 53 gives a weighted group one TTL. A writer configured with another one keeps the
    /// pool's TTL instead of flipping the whole group (and every cache) back and forth; only
    /// `retarget_ttl` changes it.
    #[test]
    fn writers_keep_the_pools_ttl_unless_told_to_change_it() {
        use crate::plan::{Intent, plan, retarget_ttl};
        use crate::zone::ZoneRecords;
        let at_60 = PoolSpec { ttl: 60, ..pool() };
        let a = Target::active(sid("a"), vec!["192.0.2.1".parse().unwrap()], 10, 1);
        let b = Target::active(sid("b"), vec!["192.0.2.2".parse().unwrap()], 10, 1);
        let mut sets = a.record_sets(&at_60);
        sets.extend(b.record_sets(&pool()));
        // The address group holds a at 60 and b at 30: a tie keeps the lower.
        assert_eq!(classify(&pool(), &sets).group_ttl, Some(30));
        sets.extend(
            Target::active(sid("c"), vec!["192.0.2.3".parse().unwrap()], 10, 1).record_sets(&at_60),
        );
        let view = classify(&pool(), &sets);
        assert_eq!(view.group_ttl, Some(60), "the most common TTL");
        assert_eq!(view.ttl_mismatch(&pool()), Some(60));
        assert_eq!(view.ttl_mismatch(&at_60), None);
        assert_eq!(classify(&pool(), &[]).group_ttl, None);

        // A writer at 30 changing b's weight writes it at the pool's 60.
        let intents = std::collections::BTreeMap::from([(
            sid("b"),
            Intent::Present(b.clone().with_wanted_weight(20)),
        )]);
        let p = plan(&pool(), &view, &intents);
        let created: Vec<_> = p.groups[0]
            .changes
            .iter()
            .filter(|c| c.action == crate::model::Action::Create)
            .map(|c| c.record_set.ttl)
            .collect();
        assert_eq!(created, [Some(60), Some(60)]);
        // Nothing to change for a and c: the configured TTL alone is no reason to write.
        let all: std::collections::BTreeMap<_, _> = view
            .owned
            .iter()
            .map(|(id, o)| (id.clone(), Intent::Present(o.target.clone())))
            .collect();
        let p = plan(&pool(), &view, &all);
        assert_eq!(
            p.groups
                .iter()
                .map(|g| g.target_id.as_str())
                .collect::<Vec<_>>(),
            ["b"],
            "only b, whose records are at 30, is brought to the pool's TTL"
        );

        // retarget_ttl rewrites every owned target, and Route 53's rules accept it.
        let mut zone = ZoneRecords::from_sets(Fqdn::parse("example.com").unwrap(), sets);
        let p = retarget_ttl(&pool(), &view, 15);
        assert_eq!(p.groups.len(), 3);
        let changes: Vec<_> = p.groups.iter().flat_map(|g| g.changes.clone()).collect();
        zone.apply(&changes, &|_, _| Ok(())).unwrap();
        let after = classify(&pool(), &zone.sets().cloned().collect::<Vec<_>>());
        assert_eq!(after.group_ttl, Some(15));
        assert_eq!(after.owned.len(), 3);
        assert!(after.foreign.is_empty());
    }
}

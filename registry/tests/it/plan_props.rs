//! Property tests of the planner: applying the plan to the observed zone, with Route 53's strict
//! semantics, yields exactly what was intended; foreign records are never touched; batches stay
//! within the limits.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use registry::model::{PoolSpec, SetId, Target, TargetState};
use registry::name::Fqdn;
use registry::plan::{BatchLimits, Intent, batches, plan};
use registry::pool::classify;
use registry::testing::{pool_at, sid};
use registry::zone::ZoneRecords;

fn pool(owner: &str) -> PoolSpec {
    pool_at("edge.example.com", 30, owner)
}

#[derive(Debug, Clone)]
enum Observed {
    Missing,
    Owned {
        target: Target,
        address_missing: bool,
    },
    OtherOwner(Target),
    Bare(Target),
}

fn target(id: SetId) -> impl Strategy<Value = Target> {
    (
        proptest::collection::vec(any::<u32>(), 1..4),
        any::<u8>(),
        prop_oneof![
            Just(TargetState::Active),
            Just(TargetState::Quarantined),
            Just(TargetState::Draining)
        ],
        0u64..2_000_000_000,
        proptest::option::of(any::<u16>()),
        any::<bool>(),
    )
        .prop_map(move |(addrs, wanted, state, since, probe_port, parked)| {
            let mut t = Target::active(
                id.clone(),
                addrs
                    .into_iter()
                    .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                    .collect(),
                wanted,
                since,
            );
            t.probe = probe_port
                .map(|p| std::net::SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), p)).into());
            let t = t.with_state(state, since);
            if parked && state != TargetState::Active {
                t.parked()
            } else {
                t
            }
        })
}

fn observed(id: SetId) -> impl Strategy<Value = Observed> {
    prop_oneof![
        Just(Observed::Missing),
        (target(id.clone()), any::<bool>()).prop_map(|(target, address_missing)| {
            Observed::Owned {
                target,
                address_missing,
            }
        }),
        target(id.clone()).prop_map(Observed::OtherOwner),
        target(id).prop_map(Observed::Bare),
    ]
}

fn scenario() -> impl Strategy<Value = Vec<(Observed, Option<Option<Target>>)>> {
    (0..8usize)
        .map(|i| {
            let id = sid(&format!("t{i}"));
            (
                observed(id.clone()),
                proptest::option::of(proptest::option::of(target(id))),
            )
        })
        .collect::<Vec<_>>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn applying_the_plan_reaches_the_intents(
        scenario in scenario(),
        max_changes in 4usize..12,
        // A group holds at most 8 records: 3 addresses and the ownership value, read and written.
        max_records in 8usize..24,
    ) {
        let mine = pool("me");
        let theirs = pool("them");
        let mut sets = Vec::new();
        let mut intents = BTreeMap::new();
        let mut foreign_ids = Vec::new();
        for (obs, intent) in &scenario {
            match obs {
                Observed::Missing => {}
                Observed::Owned { target, address_missing } => {
                    if !address_missing && !target.parked {
                        sets.push(target.address_record(&mine));
                    }
                    sets.push(target.ownership_record(&mine));
                }
                Observed::OtherOwner(t) => {
                    foreign_ids.push(t.id.clone());
                    sets.push(t.address_record(&theirs));
                    sets.push(t.ownership_record(&theirs));
                }
                Observed::Bare(t) => {
                    foreign_ids.push(t.id.clone());
                    sets.push(t.address_record(&mine));
                }
            }
            if let Some(intent) = intent {
                let id = match (intent, obs) {
                    (Some(t), _) => t.id.clone(),
                    (None, Observed::Owned { target, .. }) => target.id.clone(),
                    (None, Observed::OtherOwner(t) | Observed::Bare(t)) => t.id.clone(),
                    (None, Observed::Missing) => sid(&format!("absent-{}", intents.len())),
                };
                intents.insert(id, intent.clone().map_or(Intent::Absent, Intent::Present));
            }
        }
        let mut zone = ZoneRecords::from_sets(Fqdn::parse("example.com").unwrap(), sets.clone());
        let view = classify(&mine, &sets);
        let planned = plan(&mine, &view, &intents);

        let limits = BatchLimits { max_changes, max_records, max_value_chars: 2_000 };
        let packed = batches(&planned.groups, limits).unwrap();
        let mut regrouped = Vec::new();
        for batch in &packed {
            prop_assert!(batch.changes.len() <= limits.max_changes);
            let chars: usize = batch.changes.iter().map(|c| c.value_chars()).sum();
            prop_assert!(chars <= limits.max_value_chars);
            let records: usize = batch.changes.iter().map(|c| c.records()).sum();
            prop_assert!(records <= limits.max_records);
            regrouped.extend(batch.target_ids.iter().cloned());
            zone.apply(&batch.changes, &|_, _| Ok(())).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        }
        // Groups are never split and keep their order.
        let group_ids: Vec<_> = planned.groups.iter().map(|g| g.target_id.clone()).collect();
        prop_assert_eq!(regrouped, group_ids);

        let after: Vec<_> = zone.sets().cloned().collect();
        let view_after = classify(&mine, &after);
        for (id, intent) in &intents {
            if foreign_ids.contains(id) {
                prop_assert!(planned.skipped.iter().any(|s| &s.target_id == id));
                continue;
            }
            match intent {
                Intent::Present(t) => {
                    let got = &view_after.owned[id];
                    prop_assert_eq!(&got.target, t);
                    prop_assert_eq!(got.address_set.is_some(), !t.parked);
                }
                Intent::Absent => {
                    prop_assert!(!view_after.owned.contains_key(id));
                    prop_assert!(after.iter().all(|s| s.set_identifier.as_deref() != Some(id.as_str())));
                }
            }
        }
        // Foreign sets, and sets without an intent, are exactly as they were.
        for set in &sets {
            let id = set.set_identifier.as_deref().unwrap_or_default();
            if foreign_ids.iter().any(|f| f == id) || !intents.contains_key(id) {
                prop_assert!(after.contains(set), "{set:?} was touched");
            }
        }
        // A second round has nothing left to do.
        prop_assert!(plan(&mine, &view_after, &intents).is_empty());
    }
}

#[test]
fn oversized_group_is_an_error() {
    let mine = pool("me");
    let t = Target::active(sid("big"), vec![IpAddr::V4(Ipv4Addr::LOCALHOST); 50], 1, 0);
    let planned = plan(
        &mine,
        &classify(&mine, &[]),
        &BTreeMap::from([(sid("big"), Intent::Present(t))]),
    );
    let err = batches(
        &planned.groups,
        BatchLimits {
            max_changes: 10,
            max_records: 1000,
            max_value_chars: 100,
        },
    )
    .unwrap_err();
    assert_eq!(err.target_id, "big");
}

proptest! {
    /// A batch's Comment never exceeds Route 53's 256 characters (a longer one gets the whole
    /// batch rejected), lists the ids it has room for in order, and counts the rest.
    #[test]
    fn batch_comment_fits_route53_and_accounts_for_every_target(
        ids in proptest::collection::vec("[a-zé0-9-]{1,128}", 0..60),
    ) {
        let batch = registry::plan::Batch { target_ids: ids.iter().map(|id| sid(id)).collect(), changes: Vec::new() };
        let comment = batch.comment();
        prop_assert!(comment.chars().count() <= registry::plan::MAX_COMMENT_CHARS, "{comment}");
        let body = comment.strip_prefix("wavelb:").expect("prefix");
        let (listed, more) = match body.rsplit_once(" (+") {
            Some((listed, tail)) => {
                let n: usize = tail.strip_suffix(" more)").expect("suffix").parse().expect("count");
                prop_assert!(n >= 1);
                (listed, n)
            }
            None => (body, 0),
        };
        let listed: Vec<&str> = listed.split_whitespace().collect();
        prop_assert_eq!(listed.len() + more, ids.len());
        prop_assert_eq!(listed, ids[..ids.len() - more].iter().map(String::as_str).collect::<Vec<_>>());
    }
}

#[test]
fn a_batch_of_many_instances_names_those_that_fit() {
    let ids: Vec<String> = (0..40).map(|i| format!("i-0123456789abcd{i:03}")).collect();
    let comment = registry::plan::Batch {
        target_ids: ids.iter().map(|id| sid(id)).collect(),
        changes: Vec::new(),
    }
    .comment();
    assert!(
        comment.len() <= 256,
        "{} characters: {comment}",
        comment.len()
    );
    assert!(comment.starts_with("wavelb: i-0123456789abcd000 i-0123456789abcd001"));
    assert!(comment.ends_with(" (+29 more)"), "{comment}");
}

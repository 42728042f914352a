//! The change planner: a pure function from what is (a [`PoolView`]) and what should be (per
//! target intents) to conditional ChangeBatches within Route 53's limits.

use std::collections::BTreeMap;

use crate::model::{Change, PoolSpec, RecordSet, SetId, Target};
use crate::pool::PoolView;

/// What one owner wants for one set identifier. Identifiers without an intent are left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// The target should exist exactly like this.
    Present(Target),
    /// The target should not exist.
    Absent,
}

/// The changes for one target. They always travel in the same batch, so Route 53 applies them
/// atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeGroup {
    /// The set identifier the group is about.
    pub target_id: SetId,
    /// Exact-match DELETEs of what was read, then CREATEs of what is wanted.
    pub changes: Vec<Change>,
}

impl ChangeGroup {
    /// What the group counts against each of a batch's limits.
    fn size(&self) -> BatchSize {
        BatchSize::of(&self.changes)
    }
}

/// What a set of changes counts against Route 53's per-request limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BatchSize {
    changes: usize,
    records: usize,
    chars: usize,
}

impl BatchSize {
    fn of(changes: &[Change]) -> Self {
        Self {
            changes: changes.len(),
            records: changes.iter().map(Change::records).sum(),
            chars: changes.iter().map(Change::value_chars).sum(),
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            changes: self.changes + other.changes,
            records: self.records + other.records,
            chars: self.chars + other.chars,
        }
    }

    fn within(self, limits: BatchLimits) -> bool {
        self.changes <= limits.max_changes
            && self.records <= limits.max_records
            && self.chars <= limits.max_value_chars
    }
}

/// A set identifier the planner refused to touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The set identifier.
    pub target_id: SetId,
    /// Why.
    pub reason: String,
}

/// The outcome of planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One group per target that needs a change.
    pub groups: Vec<ChangeGroup>,
    /// Intents that were not planned, with reasons.
    pub skipped: Vec<Skipped>,
    /// A record every batch of the plan must find exactly as read (the health controller's
    /// leader lease): each batch carries it, so a writer that lost it writes nothing.
    pub guard: Option<Guard>,
}

impl Plan {
    /// True when nothing is to be written: no group, and no guard (a guard alone is a lease
    /// renewal, set only when it is due).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.guard.is_none()
    }

    /// Packs the groups into batches in order ([`batches`]), each batch led by the guard's
    /// compare-and-swap: the first one DELETEs the guard as read and CREATEs it as written, the
    /// later ones DELETE and CREATE it as written. A plan with a guard and no groups is one
    /// batch of the guard alone (a lease renewal). The guard's changes count against the
    /// limits like a group's.
    pub fn batches(&self, limits: BatchLimits) -> Result<Vec<Batch>, GroupTooLarge> {
        let Some(guard) = &self.guard else {
            return batches(&self.groups, limits);
        };
        let first = guard.changes(true);
        let later = guard.changes(false);
        // Room for the larger of the two guard variants in every batch.
        let (a, b) = (BatchSize::of(&first), BatchSize::of(&later));
        let room = BatchSize {
            changes: a.changes.max(b.changes),
            records: a.records.max(b.records),
            chars: a.chars.max(b.chars),
        };
        let limits = BatchLimits {
            max_changes: limits.max_changes.saturating_sub(room.changes),
            max_records: limits.max_records.saturating_sub(room.records),
            max_value_chars: limits.max_value_chars.saturating_sub(room.chars),
        };
        let mut packed = batches(&self.groups, limits)?;
        if packed.is_empty() {
            packed.push(Batch {
                target_ids: Vec::new(),
                changes: Vec::new(),
            });
        }
        for (i, batch) in packed.iter_mut().enumerate() {
            let lead = if i == 0 { &first } else { &later };
            batch.changes.splice(0..0, lead.iter().cloned());
        }
        Ok(packed)
    }
}

/// A record a plan's batches are conditional on: see [`Plan::guard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The record as read (`None`: it must not exist yet).
    pub read: Option<RecordSet>,
    /// The record as the first batch leaves it (a renewed lease, say).
    pub write: RecordSet,
}

impl Guard {
    /// The guard's changes in the first batch (`first`) or a later one.
    pub fn changes(&self, first: bool) -> Vec<Change> {
        let read = if first {
            self.read.clone()
        } else {
            Some(self.write.clone())
        };
        read.map(Change::delete)
            .into_iter()
            .chain([Change::create(self.write.clone())])
            .collect()
    }
}

/// Plans the changes that turn `view` into what `intents` ask for.
///
/// Every change is conditional: a target that exists is replaced by an exact DELETE of both of
/// its record sets as read plus a CREATE of both as wanted, so Route 53 rejects the batch if
/// anybody changed them since they were read. Foreign set identifiers are never touched.
///
/// Records are written with the TTL the pool already has in Route 53 when it differs from
/// `pool.ttl`: Route 53 applies the last TTL written to the whole weighted group, so writers
/// that disagree would flip every client's TTL back and forth ([`PoolView::ttl_mismatch`]
/// reports it; [`retarget_ttl`] changes it on purpose).
pub fn plan(pool: &PoolSpec, view: &PoolView, intents: &BTreeMap<SetId, Intent>) -> Plan {
    let existing;
    let pool = match view.ttl_mismatch(pool) {
        Some(ttl) => {
            existing = PoolSpec {
                ttl,
                ..pool.clone()
            };
            &existing
        }
        None => pool,
    };
    let mut out = Plan::default();
    for (id, intent) in intents {
        if view.is_foreign(id) {
            out.skipped.push(Skipped {
                target_id: id.clone(),
                reason: "the set identifier belongs to a foreign record set".into(),
            });
            continue;
        }
        let observed = view.owned.get(id);
        let read: Vec<&RecordSet> = observed
            .map(|o| o.address_set.iter().chain([&o.ownership_set]).collect())
            .unwrap_or_default();
        let wanted: Vec<RecordSet> = match intent {
            Intent::Present(target) => {
                if target.id != *id {
                    out.skipped.push(Skipped {
                        target_id: id.clone(),
                        reason: format!("the intent names another target ({})", target.id),
                    });
                    continue;
                }
                target.record_sets(pool)
            }
            Intent::Absent => Vec::new(),
        };
        if read.len() == wanted.len() && read.iter().zip(&wanted).all(|(r, w)| *r == w) {
            continue;
        }
        let changes = read
            .into_iter()
            .cloned()
            .map(Change::delete)
            .chain(wanted.into_iter().map(Change::create))
            .collect();
        out.groups.push(ChangeGroup {
            target_id: id.clone(),
            changes,
        });
    }
    out
}

/// Plans rewriting every owned target with TTL `ttl`, the one deliberate way to change a pool's
/// TTL (every other plan keeps the TTL the pool has). Foreign sets in the same weighted group
/// take the new TTL too: Route 53 applies it to the whole group.
pub fn retarget_ttl(pool: &PoolSpec, view: &PoolView, ttl: u32) -> Plan {
    let target = PoolSpec {
        ttl,
        ..pool.clone()
    };
    let wanted = PoolView {
        group_ttl: Some(ttl),
        ..view.clone()
    };
    let intents = view
        .owned
        .iter()
        .map(|(id, o)| (id.clone(), Intent::Present(o.target.clone())))
        .collect();
    plan(&target, &wanted, &intents)
}

/// Route 53's limits for one ChangeResourceRecordSets request (the API reference's
/// ChangeResourceRecordSets page, "Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// At most this many changes (`Change` elements).
    pub max_changes: usize,
    /// At most this many values (`ResourceRecord` elements; UPSERTs count twice).
    pub max_records: usize,
    /// At most this many characters across all values (UPSERTs count twice).
    pub max_value_chars: usize,
}

impl Default for BatchLimits {
    /// Route 53's: 1 000 changes, 1 000 records, 32 000 characters.
    fn default() -> Self {
        Self {
            max_changes: MAX_CHANGES,
            max_records: MAX_RECORDS,
            max_value_chars: MAX_VALUE_CHARS,
        }
    }
}

/// A group that cannot fit in any batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the changes for target {target_id} need {changes} changes, {records} records and {chars} \
     value characters, more than one Route 53 batch allows ({max_changes} changes, {max_records} \
     records, {max_chars} characters; UPSERT values count twice); publish fewer addresses for it"
)]
pub struct GroupTooLarge {
    /// The target.
    pub target_id: SetId,
    /// Its change count.
    pub changes: usize,
    /// Its `ResourceRecord` elements (UPSERTs count twice).
    pub records: usize,
    /// Its value characters (UPSERTs count twice).
    pub chars: usize,
    /// The change limit.
    pub max_changes: usize,
    /// The record limit.
    pub max_records: usize,
    /// The character limit.
    pub max_chars: usize,
}

/// One ChangeBatch: whole groups, within the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The targets whose groups this batch carries, in order.
    pub target_ids: Vec<SetId>,
    /// The changes, DELETEs and CREATEs of each group together.
    pub changes: Vec<Change>,
}

pub use crate::zone::MAX_COMMENT_CHARS;
use crate::zone::{MAX_CHANGES, MAX_RECORDS, MAX_VALUE_CHARS};

impl Batch {
    /// The batch's `Comment`: `wavelb:` and the target ids, cut to fit Route 53's
    /// [`MAX_COMMENT_CHARS`] with a `(+N more)` suffix naming how many ids were left out (a
    /// longer comment makes Route 53 reject the whole batch).
    pub fn comment(&self) -> String {
        let mut out = String::from("wavelb:");
        for (i, id) in self.target_ids.iter().enumerate() {
            let rest = self.target_ids.len() - i - 1;
            // Room for this id, and for a suffix naming the ids after it if there are any.
            let suffix = if rest == 0 {
                0
            } else {
                more_suffix(rest).chars().count()
            };
            if out.chars().count() + 1 + id.chars().count() + suffix > MAX_COMMENT_CHARS {
                out.push_str(&more_suffix(rest + 1));
                return out;
            }
            out.push(' ');
            out.push_str(id);
        }
        out
    }
}

fn more_suffix(n: usize) -> String {
    format!(" (+{n} more)")
}

/// Packs groups into batches in order, never splitting a group: a group joins the last batch
/// when the batch stays within every limit (changes, records, characters), and opens a new
/// batch otherwise.
pub fn batches(groups: &[ChangeGroup], limits: BatchLimits) -> Result<Vec<Batch>, GroupTooLarge> {
    let mut out: Vec<Batch> = Vec::new();
    let mut last = BatchSize::default();
    for group in groups {
        let size = group.size();
        if !size.within(limits) {
            return Err(GroupTooLarge {
                target_id: group.target_id.clone(),
                changes: size.changes,
                records: size.records,
                chars: size.chars,
                max_changes: limits.max_changes,
                max_records: limits.max_records,
                max_chars: limits.max_value_chars,
            });
        }
        if out.is_empty() || !last.plus(size).within(limits) {
            out.push(Batch {
                target_ids: Vec::new(),
                changes: Vec::new(),
            });
            last = BatchSize::default();
        }
        if let Some(batch) = out.last_mut() {
            batch.target_ids.push(group.target_id.clone());
            batch.changes.extend(group.changes.iter().cloned());
            last = last.plus(size);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::testing::sid;
    use std::net::IpAddr;

    use super::*;
    use crate::model::{Action, RecordType, RrType};
    use crate::name::Fqdn;
    use crate::pool::classify;
    use crate::zone::ZoneRecords;

    fn pool(record_type: RecordType) -> PoolSpec {
        PoolSpec {
            name: Fqdn::parse("www.lab.test").unwrap(),
            record_type,
            ttl: 30,
            owner_id: "wavelb".into(),
            ownership_key: None,
        }
    }

    /// Target `i` publishing `n` addresses of the pool's family (IPv6 ones 39 characters long).
    fn target(record_type: RecordType, i: usize, n: usize) -> Target {
        let addresses: Vec<IpAddr> = (i * n..(i + 1) * n)
            .map(|k| {
                let text = match record_type {
                    RecordType::A => format!("10.{}.{}.{}", k >> 16, (k >> 8) & 255, k & 255),
                    RecordType::Aaaa => format!("2001:db8:ffff:ffff:ffff:ffff:ffff:{k:04x}"),
                };
                text.parse().unwrap()
            })
            .collect();
        Target::active(sid(&format!("i-{i:04}")), addresses, 10, 1)
    }

    fn intents(targets: &[Target]) -> BTreeMap<SetId, Intent> {
        targets
            .iter()
            .map(|t| (t.id.clone(), Intent::Present(t.clone())))
            .collect()
    }

    /// A group of one `action` of an A set with `values` values.
    fn group(id: &str, action: Action, values: usize) -> ChangeGroup {
        let mut set = target(RecordType::A, 0, 1).address_record(&pool(RecordType::A));
        set.values = (0..values)
            .map(|v| format!("10.1.{}.{}", v / 256, v % 256))
            .collect();
        ChangeGroup {
            target_id: sid(id),
            changes: vec![Change {
                action,
                record_set: set,
            }],
        }
    }

    fn ids(packed: &[Batch]) -> Vec<Vec<&str>> {
        packed
            .iter()
            .map(|b| b.target_ids.iter().map(|id| id.as_str()).collect())
            .collect()
    }

    #[test]
    fn groups_that_fit_by_changes_but_not_by_records_get_their_own_batches() {
        let limits = BatchLimits::default();
        // 3 changes in all, far below 1 000, but 1 200 records.
        let groups = [
            group("a", Action::Create, 400),
            group("b", Action::Create, 400),
            group("c", Action::Create, 400),
        ];
        let packed = batches(&groups, limits).unwrap();
        assert_eq!(ids(&packed), [vec!["a", "b"], vec!["c"]]);
        // UPSERTed values count twice: 300 + 300 CREATEs share a batch, UPSERTs do not.
        let creates = [
            group("a", Action::Create, 300),
            group("b", Action::Create, 300),
        ];
        assert_eq!(ids(&batches(&creates, limits).unwrap()), [vec!["a", "b"]]);
        let upserts = [
            group("a", Action::Upsert, 300),
            group("b", Action::Upsert, 300),
        ];
        assert_eq!(
            ids(&batches(&upserts, limits).unwrap()),
            [vec!["a"], vec!["b"]]
        );
    }

    /// Every batch of a guarded plan leads with the guard's compare-and-swap: the first finds
    /// it as read, the later ones as the first wrote it; Route 53's rules accept the sequence,
    /// and refuse it whole once someone else rewrote the guard.
    #[test]
    fn every_batch_of_a_guarded_plan_carries_the_guard() {
        let lease = |v: &str| RecordSet {
            name: Fqdn::parse("_wavelb-leader.www.lab.test").unwrap(),
            rtype: RrType::Txt,
            set_identifier: None,
            weight: None,
            ttl: Some(5),
            values: vec![format!("\"{v}\"")],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        };
        let limits = BatchLimits {
            max_changes: 4,
            ..BatchLimits::default()
        };
        let p = pool(RecordType::A);
        let targets: Vec<Target> = (0..3).map(|i| target(RecordType::A, i, 1)).collect();
        let mut planned = plan(&p, &classify(&p, &[]), &intents(&targets));
        planned.guard = Some(Guard {
            read: Some(lease("old")),
            write: lease("new"),
        });
        let packed = planned.batches(limits).unwrap();
        // Two changes of guard and two per target: one target per batch.
        assert_eq!(
            ids(&packed),
            [vec!["i-0000"], vec!["i-0001"], vec!["i-0002"]]
        );
        assert_eq!(
            packed[0].changes[..2],
            [Change::delete(lease("old")), Change::create(lease("new"))]
        );
        for b in &packed[1..] {
            assert_eq!(
                b.changes[..2],
                [Change::delete(lease("new")), Change::create(lease("new"))]
            );
        }
        let zone_with = |value: &str| {
            let mut zone = ZoneRecords::new(Fqdn::parse("lab.test").unwrap());
            zone.apply(&[Change::create(lease(value))], &|_, _| Ok(()))
                .unwrap();
            zone
        };
        let mut zone = zone_with("old");
        for b in &packed {
            zone.apply(&b.changes, &|_, _| Ok(())).unwrap();
        }
        assert_eq!(
            classify(&p, &zone.sets().cloned().collect::<Vec<_>>())
                .owned
                .len(),
            3
        );
        // Someone else holds the guard now: the first batch, and its targets, are refused.
        let mut taken = zone_with("theirs");
        assert!(taken.apply(&packed[0].changes, &|_, _| Ok(())).is_err());
        assert!(
            classify(&p, &taken.sets().cloned().collect::<Vec<_>>())
                .owned
                .is_empty()
        );
        // A guard alone is one batch.
        let alone = Plan {
            guard: planned.guard.clone(),
            ..Plan::default()
        };
        assert_eq!(alone.batches(limits).unwrap().len(), 1);
    }

    #[test]
    fn a_group_over_the_record_limit_is_refused_naming_all_three_limits() {
        let limits = BatchLimits {
            max_records: 100,
            ..BatchLimits::default()
        };
        let big = group("big", Action::Upsert, 51);
        let chars: usize = big.changes[0]
            .record_set
            .values
            .iter()
            .map(String::len)
            .sum();
        let err = batches(std::slice::from_ref(&big), limits).unwrap_err();
        assert_eq!((err.changes, err.records, err.chars), (1, 102, 2 * chars));
        let text = err.to_string();
        for part in [
            "target big",
            "102 records",
            "1000 changes",
            "100 records",
            "32000 characters",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }

    /// Every batch the planner packs for pools of several shapes is accepted by a zone that
    /// enforces Route 53's limits, in order, and leaves the zone as intended.
    #[test]
    fn every_packed_batch_is_accepted_by_route53_rules() {
        // (family, targets, addresses per target): few records, records binding (A values are
        // at most 15 characters), characters binding (IPv6 values of 39 characters).
        let shapes = [
            (RecordType::A, 100, 1),
            (RecordType::A, 1, 400),
            (RecordType::A, 30, 40),
            (RecordType::A, 7, 333),
            (RecordType::A, 100, 12),
            (RecordType::Aaaa, 30, 40),
            (RecordType::Aaaa, 3, 400),
        ];
        for (family, count, n) in shapes {
            let p = pool(family);
            let shape = format!("{family} {count}x{n}");
            let mut zone = ZoneRecords::new(Fqdn::parse("lab.test").unwrap());
            let wanted: Vec<Target> = (0..count).map(|i| target(family, i, n)).collect();
            // Register every target, then change every weight (a DELETE and a CREATE each).
            let changed: Vec<Target> = wanted
                .iter()
                .map(|t| t.clone().with_wanted_weight(20))
                .collect();
            for round in [&wanted, &changed] {
                let view = classify(&p, &zone.sets().cloned().collect::<Vec<_>>());
                let planned = plan(&p, &view, &intents(round));
                assert_eq!(planned.groups.len(), count, "{shape}");
                let limits = BatchLimits::default();
                let packed = batches(&planned.groups, limits).unwrap();
                // A batch is only closed when the next group would not fit in it.
                let sizes: BTreeMap<&str, BatchSize> = planned
                    .groups
                    .iter()
                    .map(|g| (g.target_id.as_str(), g.size()))
                    .collect();
                for pair in packed.windows(2) {
                    let next = sizes[pair[1].target_ids[0].as_str()];
                    assert!(
                        !BatchSize::of(&pair[0].changes).plus(next).within(limits),
                        "{shape}: a batch was closed early"
                    );
                }
                for batch in &packed {
                    zone.apply(&batch.changes, &|_, _| Ok(()))
                        .unwrap_or_else(|e| panic!("{shape}: {e}"));
                }
                let after = classify(&p, &zone.sets().cloned().collect::<Vec<_>>());
                assert!(plan(&p, &after, &intents(round)).is_empty(), "{shape}");
            }
        }
    }
}

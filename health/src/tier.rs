//! Which Wavelength zones are in the global name's tier: pure code, no I/O, time passed in.
//!
//! A zone leaves the tier once its pool has had fewer than `min_healthy` healthy targets for
//! `leave_after`, and returns once it has had enough for `return_after` (its own hysteresis, on
//! top of the targets' rise/fall). The tier never goes empty: when every zone would be out, the
//! regional fallback is published instead, or, without one, the healthiest zone is kept.
//!
//! A zone whose pool has no records is never put in (nor kept): Route 53 refuses to create an
//! alias to a name without records (`InvalidChangeBatch`, "… but that target was not found"),
//! and the whole batch with it.

use std::collections::BTreeMap;

use registry::model::{RecordSet, SetId, Why};
use registry::tier::{Standing, TierSpec, fallback_id};

/// A zone's pool as its health controller sees it this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneHealth {
    /// Targets whose verdict is healthy.
    pub healthy: usize,
    /// Targets in the pool.
    pub total: usize,
    /// Record sets at the pool's name and type (anyone's, as listed): an alias to the pool can
    /// be created only while there is at least one (parked targets have none).
    pub records: usize,
}

/// How many healthy targets keep a zone in the tier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinHealthy {
    /// At least this many (≥ 1).
    Targets(usize),
    /// At least this fraction of the pool (0 < f ≤ 1), and at least one.
    Fraction(f64),
}

impl MinHealthy {
    /// True when `health` has enough healthy targets.
    pub fn met(self, health: ZoneHealth) -> bool {
        let need = match self {
            MinHealthy::Targets(n) => n,
            // Bounded: total ≤ Route 53's 100 weighted sets per name, f ≤ 1.
            MinHealthy::Fraction(f) => (f * health.total as f64).ceil() as usize,
        };
        health.healthy >= need.max(1)
    }
}

/// The tier's rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierPolicy {
    /// Below this a zone leaves.
    pub min_healthy: MinHealthy,
    /// Seconds below `min_healthy` before a zone leaves.
    pub leave_after: u64,
    /// Seconds at or above `min_healthy` before a zone that left returns.
    pub return_after: u64,
    /// True when a regional fallback is configured.
    pub fallback: bool,
}

/// One zone as the round sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInput {
    /// Its set identifier (the zone id).
    pub id: SetId,
    /// Its pool's health; `None` until its controller has verdicts.
    pub health: Option<ZoneHealth>,
    /// Where its ownership record says it stands; `None` when it has none yet.
    pub standing: Option<Standing>,
    /// True when its set identifier is foreign: never planned, and never counted as in, even
    /// while a record of it is published (Route 53 still answers that one: the tier's
    /// never-empty rule does not rely on a record this owner cannot vouch for).
    pub foreign: bool,
    /// False while Route 53 refuses to publish its record (a change of it was refused for good
    /// lately, and it is not published now): such a zone is never counted as in, so the
    /// never-empty rule never leans on a record that may not come.
    pub publishable: bool,
}

/// What this controller remembers between rounds: since when each zone has been on its side
/// of `min_healthy`. Lost on restart, which only delays a return by `return_after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hysteresis {
    met_since: BTreeMap<SetId, (bool, u64)>,
}

impl Hysteresis {
    /// Records this round's `met` for `id`; returns since when it has held.
    fn observe(&mut self, id: &SetId, met: bool, now: u64) -> u64 {
        match self.met_since.get(id) {
            Some((was, since)) if *was == met => *since,
            _ => {
                self.met_since.insert(id.clone(), (met, now));
                now
            }
        }
    }
}

/// The round's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDecision {
    /// How every zone (and the fallback) should stand; `None` removes its records. Zones
    /// whose health is unknown and that have no records yet are absent (nothing to write).
    pub wanted: BTreeMap<SetId, Option<Standing>>,
    /// The zones in the tier after this decision, in input order.
    pub in_tier: Vec<SetId>,
    /// True when the fallback is published after this decision.
    pub fallback_in: bool,
    /// The zone kept in although below `min_healthy` (no fallback, every zone out).
    pub kept: Option<SetId>,
}

/// Decides the tier for this round. `zones` in configuration order; `fallback` is where the
/// fallback's ownership record says it stands. Unknown set identifiers of the tier that this
/// controller owns (`stale`: zones removed from the configuration) are removed.
pub fn decide(
    policy: &TierPolicy,
    zones: &[ZoneInput],
    fallback: Option<&Standing>,
    stale: &[SetId],
    memory: &mut Hysteresis,
    now: u64,
) -> TierDecision {
    let mut wanted = BTreeMap::new();
    let mut next: Vec<(usize, bool, Why)> = Vec::new();
    for (i, z) in zones.iter().enumerate() {
        if z.foreign {
            continue;
        }
        let was_in = z.standing.as_ref().map(|s| s.in_tier);
        let Some(health) = z.health else {
            // Nothing known yet: keep what is published.
            if let Some(was) = was_in {
                next.push((i, was, keep_why(z)));
            }
            continue;
        };
        let met = policy.min_healthy.met(health);
        let since = memory.observe(&z.id, met, now);
        let held = now.saturating_sub(since);
        if health.records == 0 {
            // Nothing to alias to: out at once, whatever the verdicts say (a target being
            // unparked this round, say). Its hysteresis still runs.
            next.push((i, false, Why::EmptyPool));
            continue;
        }
        if !z.publishable {
            next.push((i, false, Why::Refused));
            continue;
        }
        let is_in = match (was_in, met) {
            (None, met) => met,
            (Some(true), true) => true,
            (Some(true), false) => held < policy.leave_after,
            (Some(false), true) => held >= policy.return_after,
            (Some(false), false) => false,
        };
        let why = match (met, is_in) {
            (true, true) => Why::Healthy,
            (true, false) => Why::Recovering,
            (false, _) => Why::BelowMinHealthy,
        };
        next.push((i, is_in, why));
    }
    let any_in = next.iter().any(|(_, is_in, _)| *is_in);
    let mut kept = None;
    if !any_in && !policy.fallback {
        // Never empty: keep the healthiest zone (one whose pool has records; then most healthy
        // targets; then one that is in now; then configuration order). A zone whose pool is
        // empty is kept only while it is in now: its record stays, but an alias to an empty
        // pool is never created.
        // A zone not in now counts only with a pool known to have records and a record Route 53
        // takes: keeping one that cannot be published would leave the tier empty.
        let has_records = |z: &ZoneInput| z.publishable && z.health.is_some_and(|h| h.records > 0);
        let best = next
            .iter_mut()
            .filter(|(i, _, _)| {
                let z = &zones[*i];
                has_records(z) || z.standing.as_ref().is_some_and(|s| s.in_tier)
            })
            .max_by_key(|(i, _, _)| {
                let z = &zones[*i];
                (
                    has_records(z),
                    z.health.map_or(0, |h| h.healthy),
                    z.standing.as_ref().is_some_and(|s| s.in_tier),
                    std::cmp::Reverse(*i),
                )
            });
        if let Some(best) = best {
            best.1 = true;
            best.2 = Why::KeptHealthiest;
            kept = Some(zones[best.0].id.clone());
        }
    }
    let mut in_tier = Vec::new();
    for (i, is_in, why) in next {
        let z = &zones[i];
        if is_in {
            in_tier.push(z.id.clone());
        }
        wanted.insert(
            z.id.clone(),
            Some(standing(z.standing.as_ref(), is_in, why, now)),
        );
    }
    let fallback_in = policy.fallback && in_tier.is_empty();
    if policy.fallback && (fallback_in || fallback.is_some()) {
        let why = if fallback_in {
            Why::EveryZoneOut
        } else {
            Why::ZonesAvailable
        };
        wanted.insert(
            fallback_id(),
            Some(standing(fallback, fallback_in, why, now)),
        );
    } else if !policy.fallback && fallback.is_some() {
        wanted.insert(fallback_id(), None);
    }
    for id in stale {
        wanted.insert(id.clone(), None);
    }
    TierDecision {
        wanted,
        in_tier,
        fallback_in,
        kept,
    }
}

/// The records at the tier's global name by set identifier, owned or foreign: what Route 53
/// answers, whoever wrote it.
pub fn published<'a>(spec: &TierSpec, sets: &'a [RecordSet]) -> BTreeMap<&'a str, &'a RecordSet> {
    sets.iter()
        .filter(|s| s.name == spec.name && s.rtype == spec.record_type)
        .filter_map(|s| Some((s.set_identifier.as_deref()?, s)))
        .collect()
}

/// The why of a zone whose health is not known yet: what its record says.
fn keep_why(z: &ZoneInput) -> Why {
    match z.standing.as_ref().and_then(|s| s.why.as_ref()) {
        Some(Why::Healthy) => Why::Healthy,
        Some(Why::KeptHealthiest) => Why::KeptHealthiest,
        _ => Why::BelowMinHealthy,
    }
}

fn standing(read: Option<&Standing>, in_tier: bool, why: Why, now: u64) -> Standing {
    Standing {
        in_tier,
        since: match read {
            Some(s) if s.in_tier == in_tier => s.since,
            _ => now,
        },
        why: Some(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::testing::sid;
    use registry::tier::FALLBACK_ID;

    fn policy(fallback: bool) -> TierPolicy {
        TierPolicy {
            min_healthy: MinHealthy::Targets(2),
            leave_after: 0,
            return_after: 30,
            fallback,
        }
    }

    fn zone(id: &str, healthy: usize, in_tier: Option<bool>) -> ZoneInput {
        ZoneInput {
            id: sid(id),
            health: Some(ZoneHealth {
                healthy,
                total: 4,
                records: 4,
            }),
            standing: in_tier.map(|in_tier| Standing {
                in_tier,
                since: 0,
                why: Some(Why::Healthy),
            }),
            foreign: false,
            publishable: true,
        }
    }

    /// A decision of a controller that just started (no hysteresis memory, no fallback
    /// record, nothing stale) at time 0.
    fn first(p: &TierPolicy, zones: &[ZoneInput]) -> TierDecision {
        decide(p, zones, None, &[], &mut Hysteresis::default(), 0)
    }

    /// Runs a decision and feeds its standings back, as the next round would read them.
    fn round(
        p: &TierPolicy,
        zones: &mut [ZoneInput],
        fallback: &mut Option<Standing>,
        memory: &mut Hysteresis,
        now: u64,
    ) -> TierDecision {
        let d = decide(p, zones, fallback.as_ref(), &[], memory, now);
        for z in zones.iter_mut() {
            if let Some(Some(s)) = d.wanted.get(&z.id) {
                z.standing = Some(s.clone());
            }
        }
        if let Some(f) = d.wanted.get(FALLBACK_ID) {
            *fallback = f.clone();
        }
        d
    }

    #[test]
    fn min_healthy_counts_targets_or_a_fraction_and_never_less_than_one() {
        let h = |healthy, total| ZoneHealth {
            healthy,
            total,
            records: total,
        };
        assert!(MinHealthy::Targets(2).met(h(2, 4)));
        assert!(!MinHealthy::Targets(2).met(h(1, 4)));
        assert!(MinHealthy::Fraction(0.5).met(h(2, 4)));
        assert!(!MinHealthy::Fraction(0.5).met(h(2, 5)));
        // An empty pool never meets a fraction.
        assert!(!MinHealthy::Fraction(0.5).met(h(0, 0)));
        assert!(!MinHealthy::Targets(0).met(h(0, 4)));
    }

    #[test]
    fn a_zone_leaves_below_min_healthy_and_returns_after_return_after() {
        let p = TierPolicy {
            leave_after: 10,
            ..policy(false)
        };
        let mut zones = vec![zone("bos", 4, None), zone("nyc", 4, None)];
        let (mut fb, mut mem) = (None, Hysteresis::default());
        let d = round(&p, &mut zones, &mut fb, &mut mem, 100);
        assert_eq!(d.in_tier, ["bos", "nyc"]);
        // Boston drops to 1 healthy target: it stays in for leave_after (10 s) …
        zones[0].health = Some(ZoneHealth {
            healthy: 1,
            total: 4,
            records: 4,
        });
        let d = round(&p, &mut zones, &mut fb, &mut mem, 101);
        assert_eq!(d.in_tier, ["bos", "nyc"]);
        assert_eq!(
            d.wanted["bos"].as_ref().unwrap().why,
            Some(Why::BelowMinHealthy)
        );
        let d = round(&p, &mut zones, &mut fb, &mut mem, 110);
        assert_eq!(d.in_tier, ["bos", "nyc"]);
        // … and leaves at 101 + 10.
        let d = round(&p, &mut zones, &mut fb, &mut mem, 111);
        assert_eq!(d.in_tier, ["nyc"]);
        assert_eq!(zones[0].standing.as_ref().unwrap().since, 111);
        // Recovered at 120: back only after return_after (30 s), at 150.
        zones[0].health = Some(ZoneHealth {
            healthy: 4,
            total: 4,
            records: 4,
        });
        for t in [120, 130, 149] {
            assert_eq!(round(&p, &mut zones, &mut fb, &mut mem, t).in_tier, ["nyc"]);
        }
        assert_eq!(
            zones[0].standing.as_ref().unwrap().why,
            Some(Why::Recovering)
        );
        // A relapse during the wait restarts it.
        zones[0].health = Some(ZoneHealth {
            healthy: 0,
            total: 4,
            records: 4,
        });
        round(&p, &mut zones, &mut fb, &mut mem, 150);
        zones[0].health = Some(ZoneHealth {
            healthy: 4,
            total: 4,
            records: 4,
        });
        assert_eq!(
            round(&p, &mut zones, &mut fb, &mut mem, 160).in_tier,
            ["nyc"]
        );
        assert_eq!(
            round(&p, &mut zones, &mut fb, &mut mem, 189).in_tier,
            ["nyc"]
        );
        assert_eq!(
            round(&p, &mut zones, &mut fb, &mut mem, 190).in_tier,
            ["bos", "nyc"]
        );
    }

    #[test]
    fn the_tier_never_goes_empty_the_healthiest_zone_is_kept() {
        let p = policy(false);
        let mut zones = vec![
            zone("bos", 4, None),
            zone("nyc", 4, None),
            zone("dfw", 4, None),
        ];
        let (mut fb, mut mem) = (None, Hysteresis::default());
        round(&p, &mut zones, &mut fb, &mut mem, 0);
        zones[0].health = Some(ZoneHealth {
            healthy: 0,
            total: 4,
            records: 4,
        });
        zones[1].health = Some(ZoneHealth {
            healthy: 1,
            total: 4,
            records: 4,
        });
        zones[2].health = Some(ZoneHealth {
            healthy: 0,
            total: 4,
            records: 4,
        });
        let d = round(&p, &mut zones, &mut fb, &mut mem, 5);
        assert_eq!(d.in_tier, ["nyc"]);
        assert_eq!(d.kept.as_deref(), Some("nyc"));
        assert_eq!(
            d.wanted["nyc"].as_ref().unwrap().why,
            Some(Why::KeptHealthiest)
        );
        // Nothing healthy anywhere: the one that is in stays (not the first in order).
        zones[1].health = Some(ZoneHealth {
            healthy: 0,
            total: 4,
            records: 4,
        });
        let d = round(&p, &mut zones, &mut fb, &mut mem, 6);
        assert_eq!(d.in_tier, ["nyc"]);
        // Boston recovers: healthier than nyc, it is the one kept at once, without waiting
        // for return_after, and then stays in on its own merit.
        zones[0].health = Some(ZoneHealth {
            healthy: 4,
            total: 4,
            records: 4,
        });
        let d = round(&p, &mut zones, &mut fb, &mut mem, 10);
        assert_eq!(
            (d.in_tier.as_slice(), d.kept.as_deref()),
            ([sid("bos")].as_slice(), Some("bos"))
        );
        let d = round(&p, &mut zones, &mut fb, &mut mem, 11);
        assert_eq!(
            (d.in_tier.as_slice(), d.kept),
            ([sid("bos")].as_slice(), None)
        );
        assert_eq!(d.wanted["bos"].as_ref().unwrap().why, Some(Why::Healthy));
        // nyc recovers too: it waits return_after (30 s) like any zone that left.
        zones[1].health = Some(ZoneHealth {
            healthy: 4,
            total: 4,
            records: 4,
        });
        assert_eq!(
            round(&p, &mut zones, &mut fb, &mut mem, 12).in_tier,
            ["bos"]
        );
        assert_eq!(
            round(&p, &mut zones, &mut fb, &mut mem, 42).in_tier,
            ["bos", "nyc"]
        );
    }

    #[test]
    fn the_fallback_is_published_only_while_every_zone_is_out() {
        let p = policy(true);
        let mut zones = vec![zone("bos", 4, None), zone("nyc", 4, None)];
        let (mut fb, mut mem) = (None, Hysteresis::default());
        let d = round(&p, &mut zones, &mut fb, &mut mem, 0);
        assert!(!d.fallback_in && !d.wanted.contains_key(FALLBACK_ID));
        for z in &mut zones {
            z.health = Some(ZoneHealth {
                healthy: 0,
                total: 4,
                records: 4,
            });
        }
        let d = round(&p, &mut zones, &mut fb, &mut mem, 1);
        assert!(d.in_tier.is_empty() && d.fallback_in && d.kept.is_none());
        assert_eq!(fb.as_ref().unwrap().why, Some(Why::EveryZoneOut));
        zones[1].health = Some(ZoneHealth {
            healthy: 3,
            total: 4,
            records: 4,
        });
        // A zone that left waits return_after even when only the fallback is in.
        assert!(round(&p, &mut zones, &mut fb, &mut mem, 31).fallback_in);
        let d = round(&p, &mut zones, &mut fb, &mut mem, 61);
        assert_eq!(
            (d.in_tier.as_slice(), d.fallback_in),
            ([sid("nyc")].as_slice(), false)
        );
        assert_eq!(fb.as_ref().unwrap().why, Some(Why::ZonesAvailable));
        // A fallback that is no longer configured is removed.
        let d = decide(&policy(false), &zones, fb.as_ref(), &[], &mut mem, 62);
        assert_eq!(d.wanted[FALLBACK_ID], None);
    }

    #[test]
    fn unknown_health_keeps_what_is_published_and_foreign_zones_are_left_alone() {
        let p = policy(false);
        let mut zones = vec![zone("bos", 0, Some(true)), zone("nyc", 4, Some(false))];
        zones[0].health = None;
        zones[1].foreign = true;
        let stale = vec![sid("sea")];
        let d = decide(&p, &zones, None, &stale, &mut Hysteresis::default(), 0);
        assert_eq!(d.in_tier, ["bos"]);
        assert!(!d.wanted.contains_key("nyc"));
        assert_eq!(d.wanted["sea"], None);
        // A new zone with unknown health and no records: nothing to write yet.
        let fresh = vec![ZoneInput {
            health: None,
            ..zone("dfw", 0, None)
        }];
        let d = decide(&p, &fresh, None, &[], &mut Hysteresis::default(), 0);
        assert!(d.wanted.is_empty() && d.in_tier.is_empty());
    }

    /// A foreign member (a spoofed ownership record, say) may still be published and answered,
    /// but the tier never counts it: not as in, not as healthy, not against never-empty. With
    /// every owned zone below min_healthy the fallback goes in (or the healthiest owned zone is
    /// kept) although the foreign record still answers.
    #[test]
    fn a_foreign_member_is_never_counted_as_in_or_healthy() {
        let mut zones = vec![
            zone("bos", 0, Some(true)),
            zone("nyc", 1, Some(true)),
            zone("pinned", 4, Some(true)),
        ];
        zones[2].foreign = true;
        let d = first(&policy(true), &zones);
        assert!(d.in_tier.is_empty(), "{d:?}");
        assert!(d.fallback_in);
        assert!(!d.wanted.contains_key("pinned"), "never planned");
        let d = first(&policy(false), &zones);
        assert_eq!(d.in_tier, ["nyc"]);
        assert_eq!(d.kept.as_deref(), Some("nyc"), "the healthiest owned zone");
    }

    /// Issue 25, item 5: a zone whose pool has no records is never put in, nor kept: Route 53
    /// refuses an alias to it. One already in may be kept (its record stays; nothing is created).
    #[test]
    fn a_zone_whose_pool_has_no_records_is_never_put_in() {
        let empty = |id: &str, healthy: usize, in_tier: Option<bool>| ZoneInput {
            health: Some(ZoneHealth {
                healthy,
                total: 2,
                records: 0,
            }),
            ..zone(id, 0, in_tier)
        };
        // Healthy verdicts (a target being unparked this round) but no records yet: out.
        let zones = vec![empty("bos", 2, None), zone("nyc", 4, None)];
        let d = first(&policy(false), &zones);
        assert_eq!(d.in_tier, ["nyc"]);
        assert_eq!(d.wanted["bos"].as_ref().unwrap().why, Some(Why::EmptyPool));
        // A zone in the tier whose pool empties leaves at once, whatever leave_after says.
        let p = TierPolicy {
            leave_after: 600,
            ..policy(false)
        };
        let zones = vec![empty("bos", 0, Some(true)), zone("nyc", 4, Some(true))];
        let d = first(&p, &zones);
        assert_eq!(d.in_tier, ["nyc"]);
        // Every zone below min_healthy: the one kept has records, even with fewer healthy
        // targets than an empty one.
        let zones = vec![empty("bos", 1, None), zone("nyc", 0, None)];
        let d = first(&p, &zones);
        assert_eq!(
            (d.in_tier.as_slice(), d.kept.as_deref()),
            ([sid("nyc")].as_slice(), Some("nyc"))
        );
        // Every pool empty: one already in stays kept (its record is there) …
        let zones = vec![empty("bos", 0, Some(false)), empty("nyc", 0, Some(true))];
        let d = first(&p, &zones);
        assert_eq!(d.kept.as_deref(), Some("nyc"));
        // … but none that is out is put in.
        let zones = vec![empty("bos", 0, Some(false)), empty("nyc", 0, None)];
        let d = first(&p, &zones);
        assert!(d.in_tier.is_empty() && d.kept.is_none(), "{d:?}");
        // With a fallback, the fallback answers instead.
        let d = first(&policy(true), &zones);
        assert!(d.in_tier.is_empty() && d.fallback_in, "{d:?}");
    }

    /// A zone whose record Route 53 refused lately (and that is not published) is never counted
    /// as in: not put in, and not kept as the healthiest, so the never-empty rule keeps a zone
    /// whose record is there. A zone whose health is not known yet is not kept either.
    #[test]
    fn a_zone_route53_refuses_is_never_counted_as_in() {
        let refused = |id: &str, healthy: usize| ZoneInput {
            publishable: false,
            ..zone(id, healthy, None)
        };
        // bos is healthy but refused; nyc is in and healthy: only nyc.
        let zones = vec![refused("bos", 4), zone("nyc", 4, Some(true))];
        let d = first(&policy(false), &zones);
        assert_eq!(d.in_tier, ["nyc"]);
        assert_eq!(d.wanted["bos"].as_ref().unwrap().why, Some(Why::Refused));
        // nyc falls below min_healthy while bos is refused: nyc is kept, not left for bos.
        let zones = vec![refused("bos", 4), zone("nyc", 0, Some(true))];
        let d = first(&policy(false), &zones);
        assert_eq!(d.kept.as_deref(), Some("nyc"), "{d:?}");
        // A zone out with unknown health is not chosen over one with records.
        let unknown = ZoneInput {
            health: None,
            ..zone("bos", 0, Some(false))
        };
        let zones = vec![unknown, zone("nyc", 0, None)];
        let d = first(&policy(false), &zones);
        assert_eq!(d.kept.as_deref(), Some("nyc"), "{d:?}");
    }
}

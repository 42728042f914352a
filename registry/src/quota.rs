//! Route 53's quota of record sets per hosted zone against what a configuration can put in each
//! zone. Pure: `wavelb health --check-config` counts with it.
//!
//! Every target costs two record sets, its address (A or AAAA) and its ownership TXT at
//! `_wavelb.<pool>`; a pool holds at most [`MAX_TARGETS_PER_POOL`] targets (Route 53's 100
//! weighted sets per name and type), and one more set, its recorded health
//! (`_wavelb-health.<pool>`). A zone tier costs two sets per Wavelength zone (its alias and
//! ownership TXT), as many for its fallback. The health controllers' one lease in the zone
//! (`_wavelb-leader.` the tier's name, or the first pool's without a tier) is one more. The zone's apex SOA and NS count too
//! (Amazon Route 53 Developer Guide, "Quotas": "Records per hosted zone: 10,000", raised by AWS
//! on request).

use crate::zone::{MAX_RECORD_SETS, MAX_WEIGHTED_PER_GROUP};

/// Record sets each target costs: its address and its ownership TXT.
pub const SETS_PER_TARGET: usize = 2;
/// The most targets one pool holds: Route 53's weighted sets per name and type.
pub const MAX_TARGETS_PER_POOL: usize = MAX_WEIGHTED_PER_GROUP;
/// Record sets every hosted zone holds at its apex: SOA and NS.
pub const APEX_SETS: usize = 2;
/// The share of the quota past which the count is worth a warning, in percent.
pub const NEAR_PERCENT: usize = 80;

/// Route 53's default quota of record sets per hosted zone.
pub const DEFAULT_QUOTA: usize = MAX_RECORD_SETS;

/// What a configuration puts in one hosted zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneUse {
    /// The pools in the zone.
    pub pools: usize,
    /// The zone tier's members in the zone (its Wavelength zones and fallback), if it is there.
    pub tier_members: Option<usize>,
}

impl ZoneUse {
    /// The record sets that are there whatever the targets: the apex, each pool's health
    /// record, the tier's members, and the zone's one lease.
    pub fn fixed_sets(&self) -> usize {
        let tier = self
            .tier_members
            .map_or(0, |members| members.saturating_mul(2));
        let lease = usize::from(self.pools > 0 || self.tier_members.is_some());
        APEX_SETS
            .saturating_add(self.pools)
            .saturating_add(tier)
            .saturating_add(lease)
    }

    /// The record sets of the zone with every pool full ([`MAX_TARGETS_PER_POOL`] targets).
    pub fn full_sets(&self) -> usize {
        let targets = self.pools.saturating_mul(MAX_TARGETS_PER_POOL);
        self.fixed_sets()
            .saturating_add(targets.saturating_mul(SETS_PER_TARGET))
    }

    /// How many targets, over all the zone's pools, fit within `quota` record sets.
    pub fn targets_within(&self, quota: usize) -> usize {
        quota.saturating_sub(self.fixed_sets()) / SETS_PER_TARGET
    }

    /// A warning when the zone's pools, full, would come near `quota` (past [`NEAR_PERCENT`])
    /// or over it; `zone` names it.
    pub fn warning(&self, zone: &str, quota: usize) -> Option<String> {
        let full = self.full_sets();
        let near = quota.saturating_mul(NEAR_PERCENT) / 100;
        if full <= near {
            return None;
        }
        let how = if full > quota { "over" } else { "near" };
        Some(format!(
            "hosted zone {zone}: its {} pool{} hold up to {full} record sets at {MAX_TARGETS_PER_POOL} \
             targets each ({SETS_PER_TARGET} per target, {} besides), {how} the quota of {quota} \
             per hosted zone; {} targets fit in all. Spread the pools over hosted zones, or ask \
             AWS for a higher quota and set [route53] max_record_sets_per_zone",
            self.pools,
            if self.pools == 1 { "" } else { "s" },
            self.fixed_sets(),
            self.targets_within(quota),
        ))
    }
}

/// Counts what `pools` (each one's hosted zone, as a key) and a tier (its zone and its members,
/// fallback included) put in each hosted zone, in the order the zones first appear.
pub fn count<'a>(
    pools: impl IntoIterator<Item = &'a str>,
    tier: Option<(&'a str, usize)>,
) -> Vec<(&'a str, ZoneUse)> {
    let mut out: Vec<(&'a str, ZoneUse)> = Vec::new();
    fn slot<'a, 'o>(out: &'o mut Vec<(&'a str, ZoneUse)>, zone: &'a str) -> &'o mut ZoneUse {
        let at = match out.iter().position(|(z, _)| *z == zone) {
            Some(at) => at,
            None => {
                out.push((zone, ZoneUse::default()));
                out.len() - 1
            }
        };
        &mut out[at].1
    }
    for zone in pools {
        slot(&mut out, zone).pools += 1;
    }
    if let Some((zone, members)) = tier {
        slot(&mut out, zone).tier_members = Some(members);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_target_costs_two_sets_and_each_pool_its_health_record() {
        let one = ZoneUse {
            pools: 1,
            tier_members: None,
        };
        assert_eq!(one.fixed_sets(), 4, "SOA, NS, the pool's health, the lease");
        assert_eq!(one.full_sets(), 204);
        assert_eq!(one.targets_within(DEFAULT_QUOTA), 4998);
        // Eight Wavelength zones and a fallback behind one name, beside their eight pools.
        let tiered = ZoneUse {
            pools: 8,
            tier_members: Some(9),
        };
        assert_eq!(tiered.fixed_sets(), 2 + 8 + 19);
        assert_eq!(tiered.full_sets(), 29 + 1600);
        assert!(tiered.warning("lab.test.", DEFAULT_QUOTA).is_none());
    }

    #[test]
    fn zones_near_or_over_the_quota_are_warned_about() {
        // 39 full pools: 7 842 sets, under 80 % of 10 000; 40: 8 043, near; 50: 10 053, over.
        let pools = |n| ZoneUse {
            pools: n,
            tier_members: None,
        };
        assert_eq!(pools(39).full_sets(), 7842);
        assert!(pools(39).warning("z.", DEFAULT_QUOTA).is_none());
        let near = pools(40).warning("z.", DEFAULT_QUOTA).unwrap();
        assert!(
            near.contains("up to 8043 record sets") && near.contains("near the quota of 10000"),
            "{near}"
        );
        let over = pools(50).warning("edge.test.", DEFAULT_QUOTA).unwrap();
        assert!(
            over.starts_with("hosted zone edge.test.: its 50 pools")
                && over.contains("over the quota of 10000")
                && over.contains("4973 targets fit")
                && over.contains("max_record_sets_per_zone"),
            "{over}"
        );
        // A quota AWS raised.
        assert!(pools(50).warning("z.", 20_000).is_none());
    }

    #[test]
    fn counts_are_per_hosted_zone_and_the_tier_sits_in_its_own() {
        let got = count(["a.", "b.", "a."], Some(("a.", 3)));
        assert_eq!(
            got,
            [
                (
                    "a.",
                    ZoneUse {
                        pools: 2,
                        tier_members: Some(3)
                    }
                ),
                (
                    "b.",
                    ZoneUse {
                        pools: 1,
                        tier_members: None
                    }
                ),
            ]
        );
        assert_eq!(count([], None), []);
    }
}

//! The zone tier: one global name (e.g. `edge.example.com`) holding one geoproximity alias
//! record per Wavelength zone, each pointing at that zone's weighted pool
//! (`edge.<zone>.example.com`). Route 53 answers a client with the record nearest to it (by
//! biased distance); a zone is taken out of the tier by deleting its record, and put back by
//! creating it again.
//!
//! Ownership follows the pools' protocol: beside each record, a TXT at `_wavelb.<global name>`
//! with the same SetIdentifier (the zone id) says who owns it and where it stands
//! (`state=active` in the tier, `state=quarantined` out of it, `why=` the reason). A record
//! without such a TXT, owned by someone else, or contradicting it, is foreign and never
//! touched. An optional regional fallback (set identifier [`FALLBACK_ID`]) is one more member
//! of the same kind, published only while every zone is out.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::mac::OwnershipKey;
use crate::model::{
    AliasTarget, By, Change, CidrRouting, GeoProximity, OWNERSHIP_RECORD_WEIGHT, PoolSpec,
    RecordSet, RecordType, RrType, SetId, TargetState, Why,
};
use crate::name::Fqdn;
use crate::plan::{ChangeGroup, Plan, Skipped};
use crate::txt::{self, OwnershipRecord};
use geo::Coordinates;

/// The set identifier of the regional fallback record.
pub const FALLBACK_ID: &str = "fallback";

/// [`FALLBACK_ID`] as a [`SetId`].
pub fn fallback_id() -> SetId {
    // A non-empty constant of 8 characters: always a valid set identifier.
    SetId::new(FALLBACK_ID).expect("FALLBACK_ID is a valid set identifier")
}

/// Which clients a member's (or the fallback's) record answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// Geoproximity (`GeoProximityLocation`): Route 53 answers a client with the record nearest
    /// to it by biased distance. The zone tier's members.
    Geo {
        /// Where the record is.
        place: Coordinates,
        /// Route 53's bias, −99 to 99.
        bias: i32,
    },
    /// IP-based (`CidrRoutingConfig`): Route 53 answers the clients whose subnet is in this
    /// location of the tier's collection ([`TierSpec::cidr_collection`]); `*` every client no
    /// location holds. The carrier layer's members.
    Cidr {
        /// The `LocationName`.
        location: String,
    },
}

/// One member of the tier: a Wavelength zone (geoproximity), or a carrier (IP-based).
#[derive(Debug, Clone, PartialEq)]
pub struct TierMember {
    /// The set identifier: the Wavelength zone id (`us-east-1-wl1-bos-wlz-1`), or the carrier.
    pub id: SetId,
    /// The alias target: the zone's weighted pool, or the carrier's own tier.
    pub pool: Fqdn,
    /// Which clients its record answers.
    pub placement: Placement,
}

/// What the regional fallback answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackTarget {
    /// These addresses (a geoproximity record with values, the tier's TTL).
    Addresses(Vec<IpAddr>),
    /// An alias to this name in the same hosted zone.
    Alias(Fqdn),
}

/// The regional fallback, used only while every zone is out of the tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    /// Which clients its record answers: the Region's location (geoproximity), or `*` (IP-based).
    pub placement: Placement,
    /// What it answers with.
    pub target: FallbackTarget,
}

/// A tier: its name, its members and how its records are written.
#[derive(Debug, Clone)]
pub struct TierSpec {
    /// The global name clients resolve.
    pub name: Fqdn,
    /// A or AAAA: the type of the pools it points at.
    pub record_type: RecordType,
    /// The TTL of the ownership records and of a fallback with addresses (aliases have none:
    /// Route 53 answers them with their target's TTL).
    pub ttl: u32,
    /// The hosted zone id the alias targets live in (the tier's own zone).
    pub hosted_zone_id: String,
    /// `EvaluateTargetHealth` of the alias records.
    pub evaluate_target_health: bool,
    /// Who owns the records this process writes.
    pub owner_id: String,
    /// Signs and verifies ownership records, as for pools.
    pub ownership_key: Option<OwnershipKey>,
    /// The zones, in configuration order.
    pub members: Vec<TierMember>,
    /// The regional fallback, if any.
    pub fallback: Option<Fallback>,
    /// The CIDR collection of IP-based members (`None` while it is not known: their records
    /// cannot be written, and are skipped).
    pub cidr_collection: Option<String>,
}

/// Where one member (or the fallback) stands in the tier, as its TXT records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// True when its record is published.
    pub in_tier: bool,
    /// Unix seconds when `in_tier` last changed.
    pub since: u64,
    /// Why (`healthy`, `below-min-healthy`, `kept-healthiest`, …); `None` when the record
    /// says nothing (wavelb always writes one).
    pub why: Option<Why>,
}

impl Standing {
    /// The `why=` token as shown to people: empty when the record gives none.
    pub fn why_text(&self) -> &str {
        self.why.as_ref().map_or("", Why::as_str)
    }
}

/// A member this owner controls, with the record sets it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct TierEntry {
    /// Where it stands.
    pub standing: Standing,
    /// The geoproximity record as listed (`None` while out, or when someone deleted it).
    pub record_set: Option<RecordSet>,
    /// The ownership record as listed.
    pub ownership_set: RecordSet,
}

/// A set identifier at the tier's names that is not ours to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignMember {
    /// The set identifier (`None` for a record set without one).
    pub id: Option<String>,
    /// Why it is foreign.
    pub reason: String,
}

/// The tier as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TierView {
    /// Owned members (and the fallback) by set identifier.
    pub owned: BTreeMap<SetId, TierEntry>,
    /// Everything else at the tier's names.
    pub foreign: Vec<ForeignMember>,
}

impl TierView {
    /// True when `id` is foreign.
    pub fn is_foreign(&self, id: &str) -> bool {
        self.foreign.iter().any(|f| f.id.as_deref() == Some(id))
    }

    /// The members published now (their record is present), fallback included.
    pub fn published(&self) -> impl Iterator<Item = &str> {
        self.owned
            .iter()
            .filter(|(_, e)| e.record_set.is_some())
            .map(|(id, _)| id.as_str())
    }
}

impl TierSpec {
    /// The tier as a pool for listing, the leader lease and the reconcile loop: the same three
    /// names (`name`, `_wavelb.name`, `_wavelb-leader.name`).
    pub fn pool_spec(&self) -> PoolSpec {
        PoolSpec {
            name: self.name.clone(),
            record_type: self.record_type,
            ttl: self.ttl,
            owner_id: self.owner_id.clone(),
            ownership_key: self.ownership_key.clone(),
        }
    }

    /// The member with set identifier `id`.
    pub fn member(&self, id: &str) -> Option<&TierMember> {
        self.members.iter().find(|m| m.id == id)
    }

    /// `base` routed as `placement` says; `None` for an IP-based placement while the
    /// collection is not known.
    fn placed(&self, base: RecordSet, placement: &Placement) -> Option<RecordSet> {
        Some(match placement {
            Placement::Geo { place, bias } => RecordSet {
                geo: Some(GeoProximity {
                    coordinates: Some(place.route53_strings()),
                    bias: (*bias != 0).then_some(i64::from(*bias)),
                    ..GeoProximity::default()
                }),
                ..base
            },
            Placement::Cidr { location } => RecordSet {
                cidr: Some(CidrRouting {
                    collection_id: self.cidr_collection.clone()?,
                    location_name: location.clone(),
                }),
                ..base
            },
        })
    }

    fn alias(&self, target: &Fqdn) -> AliasTarget {
        AliasTarget {
            hosted_zone_id: self.hosted_zone_id.clone(),
            dns_name: target.clone(),
            evaluate_target_health: self.evaluate_target_health,
        }
    }

    /// The published record of `id` (a member or the fallback); `None` for an unknown id.
    pub fn record(&self, id: &str) -> Option<RecordSet> {
        let base = RecordSet {
            name: self.name.clone(),
            rtype: self.record_type.into(),
            set_identifier: Some(id.to_owned()),
            weight: None,
            ttl: None,
            values: Vec::new(),
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        };
        if let Some(m) = self.member(id) {
            let record = RecordSet {
                alias: Some(self.alias(&m.pool)),
                ..base
            };
            return self.placed(record, &m.placement);
        }
        let fallback = self.fallback.as_ref().filter(|_| id == FALLBACK_ID)?;
        let record = match &fallback.target {
            FallbackTarget::Addresses(addrs) => RecordSet {
                ttl: Some(self.ttl),
                values: addrs.iter().map(ToString::to_string).collect(),
                ..base
            },
            FallbackTarget::Alias(name) => RecordSet {
                alias: Some(self.alias(name)),
                ..base
            },
        };
        self.placed(record, &fallback.placement)
    }

    /// The ownership record of `id` standing as `standing`, signed when the tier has a key.
    pub fn ownership_record(&self, id: &str, standing: &Standing) -> RecordSet {
        let pool = self.pool_spec();
        let rec = pool.sign_ownership(
            id,
            OwnershipRecord {
                owner: self.owner_id.clone(),
                wanted_weight: 0,
                state: if standing.in_tier {
                    TargetState::Active
                } else {
                    TargetState::Quarantined
                },
                since: standing.since,
                probe: None,
                by: Some(By::Health),
                why: standing.why.clone(),
                parked: None,
                mac: None,
            },
        );
        RecordSet {
            name: pool.ownership_name(),
            rtype: RrType::Txt,
            set_identifier: Some(id.to_owned()),
            weight: Some(OWNERSHIP_RECORD_WEIGHT),
            ttl: Some(self.ttl),
            values: vec![txt::encode(&rec)],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        }
    }
}

/// Reads the tier out of the record sets listed at its names.
pub fn classify(spec: &TierSpec, sets: &[RecordSet]) -> TierView {
    let pool = spec.pool_spec();
    let ownership_name = pool.ownership_name();
    let mut records: BTreeMap<&str, &RecordSet> = BTreeMap::new();
    let mut ownerships: BTreeMap<&str, &RecordSet> = BTreeMap::new();
    let mut view = TierView::default();
    for s in sets {
        let at_name = s.name == spec.name && s.rtype == spec.record_type;
        let at_txt = s.name == ownership_name && s.rtype == RrType::Txt;
        match (&s.set_identifier, at_name, at_txt) {
            (Some(id), true, _) => {
                records.insert(id, s);
            }
            (Some(id), _, true) => {
                ownerships.insert(id, s);
            }
            (None, true, _) | (None, _, true) => view.foreign.push(ForeignMember {
                id: None,
                reason: "a record set without a SetIdentifier".into(),
            }),
            _ => {}
        }
    }
    let mut ids: Vec<&str> = records.keys().chain(ownerships.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let record = records.get(id).copied();
        match SetId::new(id)
            .map_err(|e| e.to_string())
            .and_then(|set_id| {
                Ok((
                    set_id,
                    owned(&pool, id, record, ownerships.get(id).copied())?,
                ))
            }) {
            Ok((set_id, entry)) => {
                view.owned.insert(set_id, entry);
            }
            Err(reason) => view.foreign.push(ForeignMember {
                id: Some(id.to_owned()),
                reason,
            }),
        }
    }
    view
}

fn owned(
    pool: &PoolSpec,
    id: &str,
    record: Option<&RecordSet>,
    ownership: Option<&RecordSet>,
) -> Result<TierEntry, String> {
    let ownership = ownership.ok_or("no ownership record")?;
    let [value] = ownership.values.as_slice() else {
        return Err(format!(
            "expected one TXT value, found {}",
            ownership.values.len()
        ));
    };
    let rec = txt::decode(value).map_err(|e| format!("malformed ownership record: {e}"))?;
    if rec.owner != pool.owner_id {
        return Err(format!("owned by {}", rec.owner));
    }
    if pool.ownership_key.is_some() && !pool.authenticates(id, &rec) {
        return Err("unauthenticated: the mac= is missing or does not verify".into());
    }
    let in_tier = match rec.state {
        TargetState::Active => true,
        TargetState::Quarantined => false,
        TargetState::Draining => return Err("state=draining is not a tier state".into()),
    };
    if let Some(r) = record {
        if !in_tier {
            return Err("a published record whose ownership record says it is out".into());
        }
        if r.geo.is_some() == r.cidr.is_some() || r.weight.is_some() || r.opaque.is_some() {
            return Err("not a geoproximity or IP-based record wavelb writes".into());
        }
    }
    Ok(TierEntry {
        standing: Standing {
            in_tier,
            since: rec.since,
            why: rec.why,
        },
        record_set: record.cloned(),
        ownership_set: ownership.clone(),
    })
}

/// True when a listed record says the same as the one wavelb would write: coordinates compared
/// as places (Route 53 may spell them otherwise), a bias of 0 as no bias, the alias's hosted
/// zone id with or without `/hostedzone/`.
fn same_record(read: &RecordSet, wanted: &RecordSet) -> bool {
    let place = |s: &RecordSet| {
        s.geo.as_ref().map(|g| {
            let at = g.coordinates.as_ref().and_then(|(lat, lon)| {
                Coordinates::parse_route53(lat, lon)
                    .ok()
                    .map(|c| c.route53_strings())
            });
            (
                at,
                g.aws_region.clone(),
                g.local_zone_group.clone(),
                g.bias.unwrap_or(0),
            )
        })
    };
    let alias = |s: &RecordSet| {
        s.alias.as_ref().map(|a| {
            (
                a.hosted_zone_id
                    .trim_start_matches("/hostedzone/")
                    .to_owned(),
                a.dns_name.clone(),
                a.evaluate_target_health,
            )
        })
    };
    let values = |s: &RecordSet| {
        let mut v = s.values.clone();
        v.sort();
        v
    };
    read.key() == wanted.key()
        && read.ttl == wanted.ttl
        && read.weight == wanted.weight
        && read.opaque.is_none()
        && alias(read) == alias(wanted)
        && place(read) == place(wanted)
        && read.cidr == wanted.cidr
        && values(read) == values(wanted)
}

/// Plans the changes that make each set identifier in `wanted` stand as asked (`None`: remove
/// its records), as conditional groups: for each of its two record sets (the geoproximity
/// record, the ownership record) that differs from what is wanted, an exact DELETE of what was
/// read and a CREATE of what is wanted, in one batch, so Route 53 rejects them if anybody
/// changed the records since. A set that already says what is wanted is left alone (an
/// unchanged alias is not created again). Foreign identifiers and identifiers the spec does not
/// know (other than removals) are skipped, and so is a group that would create an alias to a
/// name `has_records` says has none: Route 53 refuses that (`InvalidChangeBatch`, "… but that
/// target was not found"), and with it every other change of the batch.
pub fn plan(
    spec: &TierSpec,
    view: &TierView,
    wanted: &BTreeMap<SetId, Option<Standing>>,
    has_records: impl Fn(&Fqdn) -> bool,
) -> Plan {
    let mut out = Plan::default();
    for (id, standing) in wanted {
        let skip = |reason: String| Skipped {
            target_id: id.clone(),
            reason,
        };
        if view.is_foreign(id) {
            out.skipped.push(skip(
                "the set identifier belongs to a foreign record set".into(),
            ));
            continue;
        }
        let entry = view.owned.get(id);
        let read = [
            entry.and_then(|e| e.record_set.as_ref()),
            entry.map(|e| &e.ownership_set),
        ];
        let want: [Option<RecordSet>; 2] = match standing {
            None => [None, None],
            Some(standing) => {
                let Some(record) = spec.record(id) else {
                    out.skipped.push(skip(
                        if spec.member(id).is_some() || id.as_str() == FALLBACK_ID {
                            "an IP-based record, and the tier's CIDR collection is not known yet"
                        } else {
                            "neither a member of the tier nor its fallback"
                        }
                        .into(),
                    ));
                    continue;
                };
                [
                    standing.in_tier.then_some(record),
                    Some(spec.ownership_record(id, standing)),
                ]
            }
        };
        let mut deletes = Vec::new();
        let mut creates = Vec::new();
        for (r, w) in read.into_iter().zip(want) {
            if let (Some(r), Some(w)) = (r, &w)
                && same_record(r, w)
            {
                continue;
            }
            deletes.extend(r.cloned().map(Change::delete));
            creates.extend(w.map(Change::create));
        }
        if deletes.is_empty() && creates.is_empty() {
            continue;
        }
        let empty_target = creates
            .iter()
            .filter_map(|c| c.record_set.alias.as_ref())
            .find(|a| !has_records(&a.dns_name));
        if let Some(alias) = empty_target {
            out.skipped.push(skip(format!(
                "its alias target {} has no records (Route 53 refuses an alias to it)",
                alias.dns_name
            )));
            continue;
        }
        out.groups.push(ChangeGroup {
            target_id: id.clone(),
            changes: deletes.into_iter().chain(creates).collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CIDR_DEFAULT_LOCATION;
    use crate::testing::sid;
    use crate::zone::ZoneRecords;

    fn place(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).unwrap()
    }

    pub(crate) fn spec() -> TierSpec {
        let member = |id: &str, lat, lon| TierMember {
            id: sid(id),
            pool: Fqdn::parse(&format!("edge.{id}.lab.test")).unwrap(),
            placement: Placement::Geo {
                place: place(lat, lon),
                bias: 0,
            },
        };
        TierSpec {
            name: Fqdn::parse("edge.lab.test").unwrap(),
            record_type: RecordType::A,
            ttl: 5,
            hosted_zone_id: "Z1".into(),
            evaluate_target_health: true,
            owner_id: "me".into(),
            ownership_key: None,
            members: vec![member("bos", 42.36, -71.06), member("nyc", 40.71, -74.01)],
            fallback: Some(Fallback {
                placement: Placement::Geo {
                    place: place(38.9, -77.0),
                    bias: 0,
                },
                target: FallbackTarget::Addresses(vec!["198.51.100.7".parse().unwrap()]),
            }),
            cidr_collection: None,
        }
    }

    fn standing(in_tier: bool, why: Why) -> Option<Standing> {
        Some(Standing {
            in_tier,
            since: 100,
            why: Some(why),
        })
    }

    /// A zone with both pools (one address each), so that aliases have targets.
    fn zone() -> ZoneRecords {
        let mut z = ZoneRecords::new(Fqdn::parse("lab.test").unwrap());
        let pools: Vec<Change> = ["bos", "nyc"]
            .iter()
            .map(|id| {
                Change::create(RecordSet {
                    name: Fqdn::parse(&format!("edge.{id}.lab.test")).unwrap(),
                    rtype: RrType::A,
                    set_identifier: Some("i-1".into()),
                    weight: Some(10),
                    ttl: Some(5),
                    values: vec!["192.0.2.1".into()],
                    alias: None,
                    geo: None,
                    cidr: None,
                    multivalue: false,
                    opaque: None,
                    health_check_id: None,
                })
            })
            .collect();
        z.apply(&pools, &|_, _| Ok(())).unwrap();
        z
    }

    fn apply(z: &mut ZoneRecords, plan: &Plan) {
        let changes: Vec<Change> = plan.groups.iter().flat_map(|g| g.changes.clone()).collect();
        if !changes.is_empty() {
            z.apply(&changes, &|_, _| Ok(())).unwrap();
        }
    }

    /// Reads `z` as `spec`, plans `wanted` and applies it.
    fn step(z: &mut ZoneRecords, spec: &TierSpec, wanted: &BTreeMap<SetId, Option<Standing>>) {
        let sets: Vec<RecordSet> = z.sets().cloned().collect();
        let p = plan(spec, &classify(spec, &sets), wanted, has_records(&sets));
        apply(z, &p);
    }

    /// Whether `sets` hold any record at a name, as the tier's controller learns it from the
    /// pools' controllers.
    fn has_records(sets: &[RecordSet]) -> impl Fn(&Fqdn) -> bool + '_ {
        |name| sets.iter().any(|s| s.name == *name)
    }

    fn read(z: &ZoneRecords) -> TierView {
        let sets: Vec<RecordSet> = z.sets().cloned().collect();
        classify(&spec(), &sets)
    }

    /// The carrier layer: the same records and ownership as the zone tier, placed by IP-based
    /// routing: each carrier's location aliases to that carrier's tier (here the two pools), and
    /// `*` to the Region. No record is planned before the collection is known.
    #[test]
    fn an_ip_based_tier_is_planned_read_and_kept_like_the_zone_tier() {
        let mut z = zone();
        let mut carriers = spec();
        let cidr = |location: &str| Placement::Cidr {
            location: location.into(),
        };
        carriers.members[0].placement = cidr("carrier-a");
        carriers.members[1].placement = cidr("carrier-b");
        if let Some(f) = carriers.fallback.as_mut() {
            f.placement = cidr(CIDR_DEFAULT_LOCATION);
            f.target = FallbackTarget::Alias(Fqdn::parse("edge.nyc.lab.test").unwrap());
        }
        let all_in: BTreeMap<SetId, Option<Standing>> = [sid("bos"), sid("nyc"), fallback_id()]
            .into_iter()
            .map(|id| (id, standing(true, Why::Healthy)))
            .collect();
        let unknown = plan(&carriers, &TierView::default(), &all_in, |_| true);
        assert!(unknown.groups.is_empty());
        assert_eq!(unknown.skipped.len(), 3);
        assert!(
            unknown.skipped[0]
                .reason
                .contains("collection is not known")
        );

        carriers.cidr_collection = Some("0b5c3a3e-5f3c-4c2e-9d2b-7a1e3c9f0a11".into());
        let sets: Vec<RecordSet> = z.sets().cloned().collect();
        let p = plan(
            &carriers,
            &classify(&carriers, &sets),
            &all_in,
            has_records(&sets),
        );
        apply(&mut z, &p);
        let sets: Vec<RecordSet> = z.sets().cloned().collect();
        let view = classify(&carriers, &sets);
        assert!(view.foreign.is_empty(), "{:?}", view.foreign);
        let locations: BTreeMap<&str, &str> = view
            .owned
            .iter()
            .filter_map(|(id, e)| {
                let r = e.record_set.as_ref()?.cidr.as_ref()?;
                Some((id.as_str(), r.location_name.as_str()))
            })
            .collect();
        assert_eq!(
            locations,
            BTreeMap::from([
                ("bos", "carrier-a"),
                ("fallback", "*"),
                ("nyc", "carrier-b")
            ])
        );
        assert!(plan(&carriers, &view, &all_in, has_records(&sets)).is_empty());
        // Read as the zone tier (geoproximity), the same records are not what it would write:
        // it rewrites them, never taking one kind for the other.
        let as_geo = plan(
            &spec(),
            &classify(&spec(), &sets),
            &all_in,
            has_records(&sets),
        );
        assert!(!as_geo.groups.is_empty());
    }

    #[test]
    fn members_go_in_and_out_and_the_plan_reaches_what_was_asked() {
        let mut z = zone();
        let s = spec();
        let wanted = BTreeMap::from([
            (sid("bos"), standing(true, Why::Healthy)),
            (sid("nyc"), standing(false, Why::BelowMinHealthy)),
        ]);
        step(&mut z, &s, &wanted);
        let view = read(&z);
        assert_eq!(view.published().collect::<Vec<_>>(), ["bos"]);
        assert_eq!(view.owned["nyc"].standing.why, Some(Why::BelowMinHealthy));
        assert!(view.foreign.is_empty(), "{view:?}");
        // Asking again for the same is a no-op.
        assert!(plan(&s, &view, &wanted, |_| true).is_empty());
        // Swap: one group per member, each an exact DELETE then CREATE.
        let swapped = BTreeMap::from([
            (sid("bos"), standing(false, Why::BelowMinHealthy)),
            (sid("nyc"), standing(true, Why::Healthy)),
        ]);
        let p = plan(&s, &view, &swapped, |_| true);
        assert_eq!(p.groups.len(), 2);
        apply(&mut z, &p);
        assert_eq!(read(&z).published().collect::<Vec<_>>(), ["nyc"]);
        // The fallback with addresses, then removing everything.
        let fallback = BTreeMap::from([(fallback_id(), standing(true, Why::EveryZoneOut))]);
        step(&mut z, &s, &fallback);
        let rec = &read(&z).owned[FALLBACK_ID];
        assert_eq!(rec.record_set.as_ref().unwrap().values, ["198.51.100.7"]);
        let gone: BTreeMap<SetId, Option<Standing>> = [FALLBACK_ID, "bos", "nyc"]
            .iter()
            .map(|id| (sid(id), None))
            .collect();
        step(&mut z, &s, &gone);
        assert!(read(&z).owned.is_empty());
    }

    #[test]
    fn a_changed_place_is_rewritten_and_an_unknown_id_is_skipped() {
        let mut z = zone();
        let wanted = BTreeMap::from([(sid("bos"), standing(true, Why::Healthy))]);
        step(&mut z, &spec(), &wanted);
        let mut moved = spec();
        moved.members[0].placement = Placement::Geo {
            place: place(42.0, -71.0),
            bias: 20,
        };
        let p = plan(&moved, &read(&z), &wanted, |_| true);
        assert_eq!(p.groups.len(), 1);
        apply(&mut z, &p);
        let geo = read(&z).owned["bos"]
            .record_set
            .clone()
            .unwrap()
            .geo
            .unwrap();
        assert_eq!(geo.coordinates, Some(("42.00".into(), "-71.00".into())));
        assert_eq!(geo.bias, Some(20));
        let stranger = BTreeMap::from([(sid("sea"), standing(true, Why::Healthy))]);
        let p = plan(&spec(), &read(&z), &stranger, |_| true);
        assert!(p.is_empty());
        assert_eq!(p.skipped[0].target_id, "sea");
    }

    #[test]
    fn records_wavelb_did_not_write_are_foreign_and_never_planned() {
        let mut z = zone();
        let s = spec();
        // Someone else's geoproximity record, with no ownership record.
        let mut theirs = s.record("bos").unwrap();
        theirs.set_identifier = Some("theirs".into());
        z.apply(&[Change::create(theirs)], &|_, _| Ok(())).unwrap();
        // An ownership record that says out beside a published record.
        let out = Standing {
            in_tier: false,
            since: 1,
            why: Some(Why::BelowMinHealthy),
        };
        z.apply(
            &[
                Change::create(s.record("nyc").unwrap()),
                Change::create(s.ownership_record("nyc", &out)),
            ],
            &|_, _| Ok(()),
        )
        .unwrap();
        let view = read(&z);
        assert!(
            view.is_foreign("theirs") && view.is_foreign("nyc"),
            "{view:?}"
        );
        let remove = BTreeMap::from([
            (sid("theirs"), None),
            (sid("nyc"), standing(false, Why::BelowMinHealthy)),
        ]);
        let p = plan(&s, &view, &remove, |_| true);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.skipped.len(), 2);
        // Another owner's TXT, and a keyed tier reading an unsigned TXT.
        let mut other = spec();
        other.owner_id = "other".into();
        assert!(
            classify(&other, &z.sets().cloned().collect::<Vec<_>>())
                .owned
                .is_empty()
        );
        let mut keyed = spec();
        keyed.ownership_key =
            Some(OwnershipKey::from_bytes(b"a shared key of 32 bytes, really").unwrap());
        let bos = BTreeMap::from([(sid("bos"), standing(true, Why::Healthy))]);
        let mut z2 = zone();
        step(&mut z2, &spec(), &bos);
        let sets: Vec<RecordSet> = z2.sets().cloned().collect();
        assert!(classify(&keyed, &sets).is_foreign("bos"));
        // Signed by the keyed tier, it is owned.
        let mut z3 = zone();
        step(&mut z3, &keyed, &bos);
        let sets: Vec<RecordSet> = z3.sets().cloned().collect();
        assert!(classify(&keyed, &sets).owned.contains_key("bos"));
    }

    /// Issue 25, item 5: an alias to a pool without records is never planned (Route 53 would
    /// refuse the whole batch), and an unchanged alias is not created again when only its
    /// ownership record changes, so a zone whose pool emptied can still be written.
    #[test]
    fn an_alias_to_an_empty_pool_is_never_planned_and_an_unchanged_one_is_not_rewritten() {
        let s = spec();
        let mut z = zone();
        // Deletes every record of the pool `edge.<id>.lab.test` (its last agent left).
        let empty = |z: &mut ZoneRecords, id: &str| {
            let name = Fqdn::parse(&format!("edge.{id}.lab.test")).unwrap();
            let pool: Vec<Change> = z
                .sets()
                .filter(|r| r.name == name)
                .cloned()
                .map(Change::delete)
                .collect();
            z.apply(&pool, &|_, _| Ok(())).unwrap();
        };
        // nyc's pool empties: bos goes in, nyc's alias is skipped, with the reason.
        empty(&mut z, "nyc");
        let both = BTreeMap::from([
            (sid("bos"), standing(true, Why::Healthy)),
            (sid("nyc"), standing(true, Why::Healthy)),
        ]);
        let sets: Vec<RecordSet> = z.sets().cloned().collect();
        let p = plan(&s, &classify(&s, &sets), &both, has_records(&sets));
        assert_eq!(
            p.groups
                .iter()
                .map(|g| g.target_id.as_str())
                .collect::<Vec<_>>(),
            ["bos"]
        );
        assert_eq!(p.skipped.len(), 1, "{p:?}");
        assert_eq!(p.skipped[0].target_id, "nyc");
        assert!(
            p.skipped[0].reason.contains("edge.nyc.lab.test")
                && p.skipped[0].reason.contains("no records"),
            "{p:?}"
        );
        // Route 53 (the zone's rules) takes the plan.
        apply(&mut z, &p);
        assert_eq!(read(&z).published().collect::<Vec<_>>(), ["bos"]);
        // bos's pool empties too; only its ownership record changes (kept while in): the
        // alias is left alone, so the change is not refused.
        empty(&mut z, "bos");
        let kept = BTreeMap::from([(sid("bos"), standing(true, Why::KeptHealthiest))]);
        let sets: Vec<RecordSet> = z.sets().cloned().collect();
        let p = plan(&s, &classify(&s, &sets), &kept, has_records(&sets));
        assert_eq!(p.groups.len(), 1, "{p:?}");
        assert!(
            p.groups[0]
                .changes
                .iter()
                .all(|c| c.record_set.rtype == RrType::Txt),
            "{p:?}"
        );
        apply(&mut z, &p);
        assert_eq!(
            read(&z).owned["bos"].standing.why,
            Some(Why::KeptHealthiest)
        );
        // Taking it out deletes the alias (no target needed).
        let out = BTreeMap::from([(sid("bos"), standing(false, Why::EmptyPool))]);
        step(&mut z, &s, &out);
        assert_eq!(read(&z).published().count(), 0);
    }

    /// The tier may be the hosted zone's own name (`example.com`, not only `edge.example.com`):
    /// Route 53 allows alias records at the apex beside its SOA and NS, and geoproximity ones too.
    #[test]
    fn a_tier_at_the_zone_apex_is_planned_and_accepted() {
        let mut z = zone();
        let mut apex = spec();
        apex.name = Fqdn::parse("lab.test").unwrap();
        let both = BTreeMap::from([
            (sid("bos"), standing(true, Why::Healthy)),
            (sid("nyc"), standing(true, Why::Healthy)),
        ]);
        step(&mut z, &apex, &both);
        let sets: Vec<RecordSet> = z.sets().cloned().collect();
        let view = classify(&apex, &sets);
        assert_eq!(view.published().collect::<Vec<_>>(), ["bos", "nyc"]);
        assert!(
            sets.iter()
                .any(|s| s.name.without_dot() == "_wavelb.lab.test" && s.rtype == RrType::Txt),
            "{sets:?}"
        );
        assert!(plan(&apex, &view, &both, has_records(&sets)).is_empty());
    }
}

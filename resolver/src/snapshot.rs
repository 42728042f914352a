//! The immutable view DNS queries are answered from. A change builds a new snapshot and swaps it
//! in atomically, so queries never wait on writes.

use std::collections::{HashMap, HashSet};

use hickory_proto::rr::{Name, RData, Record, RecordType};
use registry::model::RecordSet;
use registry::name::Fqdn;

/// One weighted record set inside a group.
#[derive(Debug, Clone)]
pub struct WeightedSet {
    /// Its SetIdentifier.
    pub set_id: String,
    /// Its weight.
    pub weight: u8,
    /// All its records, answered together.
    pub records: Vec<Record>,
}

/// A weighted group (same name and type), with cumulative weights for an O(log n) pick.
#[derive(Debug, Clone)]
pub struct Weighted {
    /// The sets, in a fixed order.
    pub sets: Vec<WeightedSet>,
    cumulative: Vec<u64>,
    total: u64,
}

impl Weighted {
    /// Builds a group.
    pub fn new(sets: Vec<WeightedSet>) -> Self {
        let mut cumulative = Vec::with_capacity(sets.len());
        let mut total = 0u64;
        for s in &sets {
            total += u64::from(s.weight);
            cumulative.push(total);
        }
        Self {
            sets,
            cumulative,
            total,
        }
    }

    /// Picks one set as Route 53 does: with probability weight/Σweight among sets with weight
    /// above 0; uniformly among all sets when every weight is 0. `random` is a uniform `u64`.
    /// Returns `None` only for an empty group.
    pub fn pick(&self, random: u64) -> Option<&WeightedSet> {
        if self.sets.is_empty() {
            return None;
        }
        let index = if self.total == 0 {
            usize::try_from(random % self.sets.len() as u64).unwrap_or(0)
        } else {
            let x = random % self.total;
            self.cumulative.partition_point(|&c| c <= x)
        };
        self.sets.get(index)
    }
}

/// The record sets of one name and type.
#[derive(Debug, Clone)]
pub enum Rrset {
    /// Simple routing: every record is answered.
    Simple(Vec<Record>),
    /// Weighted routing: one set per answer.
    Weighted(Weighted),
}

/// Everything at one owner name.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// By type.
    pub rrsets: HashMap<RecordType, Rrset>,
}

/// One served zone.
#[derive(Debug, Clone)]
pub struct ZoneView {
    /// The zone's name, lower case with trailing dot.
    pub origin: String,
    /// The hosted zone id (for metrics labels).
    pub zone_id: String,
    /// The apex SOA with the current serial, for negative answers.
    pub soa: Record,
    /// Owner names (lower case, trailing dot) → records.
    pub nodes: HashMap<String, Node>,
    /// Names with no records but with names below them (empty non-terminals).
    pub interior: HashSet<String>,
}

/// What one served zone is built from.
#[derive(Debug, Clone)]
pub struct ZoneSource<'a> {
    /// The hosted zone id.
    pub zone_id: &'a str,
    /// The zone name.
    pub origin: &'a Fqdn,
    /// The SOA serial to publish.
    pub serial: u32,
    /// Its record sets.
    pub sets: Vec<&'a RecordSet>,
}

/// All zones, as served.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    zones: Vec<ZoneView>,
}

impl Snapshot {
    /// Builds a snapshot. Values that do not parse are skipped with a warning (the API
    /// validates them, so this only happens with a hand-edited state file).
    pub fn build(sources: &[ZoneSource<'_>]) -> Self {
        let mut zones: Vec<ZoneView> = sources.iter().filter_map(build_zone).collect();
        // Longest origin first, so the most specific zone answers.
        zones.sort_by_key(|z| std::cmp::Reverse(z.origin.len()));
        Self { zones }
    }

    /// Builds the snapshot of every zone in `store`.
    pub fn of_store(store: &crate::store::Store) -> Self {
        let sources: Vec<ZoneSource<'_>> = store
            .zones()
            .map(|z| ZoneSource {
                zone_id: &z.id,
                origin: &z.name,
                serial: z.serial,
                sets: z.records.sets().collect(),
            })
            .collect();
        Self::build(&sources)
    }

    /// The zone that is authoritative for `qname` (lower case, trailing dot), if any.
    pub fn zone_for(&self, qname: &str) -> Option<&ZoneView> {
        self.zones.iter().find(|z| {
            qname == z.origin
                || (qname.len() > z.origin.len()
                    && qname.ends_with(&z.origin)
                    && (z.origin == "."
                        || qname.as_bytes()[qname.len() - z.origin.len() - 1] == b'.'))
        })
    }

    /// The served zones.
    pub fn zones(&self) -> &[ZoneView] {
        &self.zones
    }
}

fn build_zone(src: &ZoneSource<'_>) -> Option<ZoneView> {
    let origin = src.origin.as_str().to_owned();
    let mut nodes: HashMap<String, Node> = HashMap::new();
    let mut weighted: HashMap<(String, RecordType), Vec<WeightedSet>> = HashMap::new();
    let mut soa = None;
    for set in &src.sets {
        let key = set.name.as_str().to_owned();
        let Ok(owner) = Name::from_ascii(&key) else {
            tracing::warn!(name = %set.name, "skipping a record set whose name does not parse");
            continue;
        };
        let ttl = set.ttl.unwrap_or(0);
        let mut records = Vec::with_capacity(set.values.len());
        for value in &set.values {
            match crate::rdata::parse(&set.rtype, value) {
                Ok(rdata) => records.push(Record::from_rdata(owner.clone(), ttl, rdata)),
                Err(why) => {
                    tracing::warn!(name = %set.name, rtype = %set.rtype, value, why, "skipping a value")
                }
            }
        }
        let Some(first) = records.first() else {
            continue;
        };
        let rtype = first.record_type();
        if rtype == RecordType::SOA && key == origin {
            soa = Some(first.clone());
        }
        match (&set.set_identifier, set.weight) {
            (Some(id), Some(w)) => weighted.entry((key, rtype)).or_default().push(WeightedSet {
                set_id: id.clone(),
                weight: u8::try_from(w).unwrap_or(0),
                records,
            }),
            _ => {
                nodes
                    .entry(key)
                    .or_default()
                    .rrsets
                    .insert(rtype, Rrset::Simple(records));
            }
        }
    }
    for ((key, rtype), mut sets) in weighted {
        sets.sort_by(|a, b| a.set_id.cmp(&b.set_id));
        nodes
            .entry(key)
            .or_default()
            .rrsets
            .insert(rtype, Rrset::Weighted(Weighted::new(sets)));
    }
    let Some(mut soa) = soa else {
        tracing::warn!(zone = %origin, "zone has no apex SOA; not serving it");
        return None;
    };
    if let RData::SOA(s) = &mut soa.data {
        s.serial = src.serial;
    }
    // The apex SOA is answered with the live serial too.
    if let Some(apex) = nodes.get_mut(&origin) {
        apex.rrsets
            .insert(RecordType::SOA, Rrset::Simple(vec![soa.clone()]));
    }
    let mut interior = HashSet::new();
    for name in nodes.keys() {
        let mut rest = name.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if parent.len() < origin.len() || parent.is_empty() {
                break;
            }
            if !nodes.contains_key(parent) {
                interior.insert(parent.to_owned());
            }
            rest = parent;
        }
    }
    Some(ZoneView {
        origin,
        zone_id: src.zone_id.to_owned(),
        soa,
        nodes,
        interior,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(weights: &[u8]) -> Weighted {
        Weighted::new(
            weights
                .iter()
                .enumerate()
                .map(|(i, &weight)| WeightedSet {
                    set_id: format!("s{i}"),
                    weight,
                    records: Vec::new(),
                })
                .collect(),
        )
    }

    #[test]
    fn pick_follows_cumulative_weights_and_skips_zero() {
        let g = group(&[10, 0, 30]);
        let ids: Vec<_> = (0..40u64)
            .map(|r| g.pick(r).unwrap().set_id.clone())
            .collect();
        assert_eq!(ids.iter().filter(|i| *i == "s0").count(), 10);
        assert_eq!(ids.iter().filter(|i| *i == "s1").count(), 0);
        assert_eq!(ids.iter().filter(|i| *i == "s2").count(), 30);
    }

    #[test]
    fn all_zero_is_uniform() {
        let g = group(&[0, 0, 0]);
        let ids: Vec<_> = (0..3u64)
            .map(|r| g.pick(r).unwrap().set_id.clone())
            .collect();
        assert_eq!(ids, ["s0", "s1", "s2"]);
        assert!(group(&[]).pick(1).is_none());
    }
}

//! A pool's health as its controller records it in Route 53, for a zone tier controller that
//! runs elsewhere (another process, another Region) to read. Pure.
//!
//! The record is a TXT at `_wavelb-health.<pool>`: `healthy=H total=T records=R expires=E`
//! (and `mac=` when the pool has an ownership key). The pool's leader writes it when the counts
//! change, and refreshes it with the lease renewals it writes anyway, so it costs a request only
//! when the zone's health changes. A reader treats it as unknown once it has expired (its
//! controller stopped), when its expiry lies implausibly far ahead, or when its MAC does not
//! verify: an unknown zone is left as it stands by the tier, never taken out on a record's say.

use registry::model::{Change, PoolSpec, RecordSet, RrType, SetId};
use registry::plan::ChangeGroup;
use registry::txt;

use crate::tier::ZoneHealth;
use crate::txt_record::RecordError;

/// The domain separator of a health record's MAC input.
const MAC_CONTEXT: &str = "wavelb-health-v1";

/// The set identifier of a health record's change group (for batch comments and logs).
pub const GROUP_ID: &str = "_wavelb-health";

/// [`GROUP_ID`] as the [`SetId`] of a planned group.
fn group_id() -> SetId {
    // A non-empty constant of 14 characters: always a valid set identifier.
    SetId::new(GROUP_ID).expect("GROUP_ID is a valid set identifier")
}

/// A decoded health record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The counts.
    pub health: ZoneHealth,
    /// When it lapses unless refreshed (unix seconds).
    pub expires: u64,
}

fn mac_parts<'a>(pool: &'a PoolSpec, counts: &'a str, expires: &'a str) -> [&'a str; 4] {
    [MAC_CONTEXT, pool.name.as_str(), counts, expires]
}

fn counts(h: &ZoneHealth) -> String {
    format!("{}/{}/{}", h.healthy, h.total, h.records)
}

/// The record of `health` for `pool`, valid until `expires`.
pub fn record(pool: &PoolSpec, health: ZoneHealth, expires: u64) -> RecordSet {
    let expires_text = expires.to_string();
    let mut parts = vec![
        format!("healthy={}", health.healthy),
        format!("total={}", health.total),
        format!("records={}", health.records),
        format!("expires={expires_text}"),
    ];
    if let Some(key) = &pool.ownership_key {
        let c = counts(&health);
        parts.push(format!(
            "mac={}",
            key.sign(&mac_parts(pool, &c, &expires_text))
        ));
    }
    RecordSet::simple_txt(pool.health_name(), pool.ttl, txt::join_quoted(&parts))
}

/// The health record of `pool` among `sets`, as listed (decoded or not).
pub fn find<'a>(pool: &PoolSpec, sets: &'a [RecordSet]) -> Option<&'a RecordSet> {
    let name = pool.health_name();
    sets.iter()
        .find(|s| s.name == name && s.rtype == RrType::Txt)
}

/// Why the TXT records at `pool`'s health name are not a record this controller may replace:
/// more than one, a weighted or otherwise non-simple one, or one that does not decode (or, with
/// a key, does not verify). `None` when there is none, or one of ours.
pub fn foreign(pool: &PoolSpec, sets: &[RecordSet]) -> Option<RecordError> {
    let name = pool.health_name();
    let at: Vec<&RecordSet> = sets
        .iter()
        .filter(|s| s.name == name && s.rtype == RrType::Txt)
        .collect();
    match at.as_slice() {
        [] => None,
        [one] if one.set_identifier.is_some() || one.routing_note().is_some() => {
            Some(RecordError::Routed)
        }
        // Ours if it parses, whatever its MAC: a record signed with a rotated key is replaced.
        [one] => decode(
            &PoolSpec {
                ownership_key: None,
                ..pool.clone()
            },
            one,
        )
        .err(),
        _ => Some(RecordError::Several(at.len())),
    }
}

/// Decodes a health record; `Err` says why it is not believed.
pub fn decode(pool: &PoolSpec, set: &RecordSet) -> Result<Recorded, RecordError> {
    let [value] = set.values.as_slice() else {
        return Err(RecordError::Values(set.values.len()));
    };
    let mut fields: [Option<String>; 5] = Default::default();
    const KEYS: [&str; 5] = ["healthy=", "total=", "records=", "expires=", "mac="];
    for s in txt::split_quoted(value)? {
        for (i, k) in KEYS.iter().enumerate() {
            if let Some(v) = s.strip_prefix(k) {
                fields[i] = Some(v.to_owned());
            }
        }
    }
    let number = |i: usize| -> Result<u64, RecordError> {
        let text = fields[i].as_deref().ok_or(RecordError::Missing(KEYS[i]))?;
        text.parse::<u64>().map_err(|_| RecordError::NotANumber {
            key: KEYS[i],
            text: text.to_owned(),
        })
    };
    let size = |i: usize| Ok::<_, RecordError>(usize::try_from(number(i)?)?);
    let health = ZoneHealth {
        healthy: size(0)?,
        total: size(1)?,
        records: size(2)?,
    };
    if health.healthy > health.total {
        return Err(RecordError::HealthyExceedsTotal);
    }
    let expires = number(3)?;
    if let Some(key) = &pool.ownership_key {
        let c = counts(&health);
        let e = expires.to_string();
        let signed = fields[4]
            .as_deref()
            .is_some_and(|m| key.verify(&mac_parts(pool, &c, &e), m));
        if !signed {
            return Err(RecordError::Unsigned);
        }
    }
    Ok(Recorded { health, expires })
}

/// The furthest ahead a believed record may expire, in seconds. A controller writes two lease
/// TTLs ahead, and `lease_ttl` is at most half an hour, so this holds whatever `lease_ttl` the
/// pool's controllers and the tier's use; a record further ahead was not written by one.
pub const MAX_AHEAD_SECS: u64 = 3_600;

/// The health `pool`'s record says at `now`: `Ok(None)` when there is none, `Err` with why it
/// is not believed (foreign, expired: its controller stopped, or expiring more than
/// [`MAX_AHEAD_SECS`] ahead).
pub fn read(
    pool: &PoolSpec,
    sets: &[RecordSet],
    now: u64,
) -> Result<Option<ZoneHealth>, RecordError> {
    if let Some(why) = foreign(pool, sets) {
        return Err(why);
    }
    let Some(set) = find(pool, sets) else {
        return Ok(None);
    };
    let r = decode(pool, set)?;
    if r.expires <= now {
        return Err(RecordError::Expired(now - r.expires));
    }
    if r.expires > now.saturating_add(MAX_AHEAD_SECS) {
        return Err(RecordError::TooFarAhead {
            ahead: r.expires - now,
            max: MAX_AHEAD_SECS,
        });
    }
    Ok(Some(r.health))
}

/// The change group that records `health` for `pool` at `now`, replacing the record as listed
/// in `sets`. A record lives four lease TTLs (`ttl` seconds each: longer than the listings'
/// longest back-off, 8 polls, with a lease at least two polls long); `None` when the record
/// already says so and has more than two TTLs left, or has not expired and `refresh` is false
/// (nothing else is written: the rounds that renew the lease refresh it for free).
pub fn update(
    pool: &PoolSpec,
    sets: &[RecordSet],
    health: ZoneHealth,
    now: u64,
    ttl: u64,
    refresh: bool,
) -> Option<ChangeGroup> {
    // A record wavelb did not write is never replaced (nor deleted).
    if foreign(pool, sets).is_some() {
        return None;
    }
    let current = find(pool, sets);
    let believed = current.and_then(|s| decode(pool, s).ok());
    let same = believed.is_some_and(|r| r.health == health && r.expires > now);
    let fresh = believed.is_some_and(|r| r.expires.saturating_sub(now) > ttl.saturating_mul(2));
    if same && (fresh || !refresh) {
        return None;
    }
    let changes = current
        .cloned()
        .map(Change::delete)
        .into_iter()
        .chain([Change::create(record(
            pool,
            health,
            now.saturating_add(ttl.saturating_mul(4)),
        ))])
        .collect();
    Some(ChangeGroup {
        target_id: group_id(),
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::model::RecordType;
    use registry::name::Fqdn;

    fn pool(key: bool) -> PoolSpec {
        PoolSpec {
            name: Fqdn::parse("edge.bos.lab.test").unwrap(),
            record_type: RecordType::A,
            ttl: 5,
            owner_id: "o".into(),
            ownership_key: key.then(|| {
                registry::mac::OwnershipKey::from_bytes(b"a shared key of 32 bytes, really")
                    .unwrap()
            }),
        }
    }

    const H: ZoneHealth = ZoneHealth {
        healthy: 3,
        total: 4,
        records: 4,
    };

    #[test]
    fn a_record_reads_back_until_it_expires() {
        for key in [false, true] {
            let p = pool(key);
            let sets = vec![record(&p, H, 1_030)];
            assert_eq!(read(&p, &sets, 1_000), Ok(Some(H)));
            assert!(
                read(&p, &sets, 1_030)
                    .unwrap_err()
                    .to_string()
                    .contains("expired")
            );
            assert_eq!(read(&p, &[], 1_000), Ok(None));
            // An expiry further ahead than an hour is not believed.
            let far = vec![record(&p, H, 1_000 + MAX_AHEAD_SECS + 1)];
            assert!(
                read(&p, &far, 1_000)
                    .unwrap_err()
                    .to_string()
                    .contains("ahead")
            );
        }
    }

    #[test]
    fn with_a_key_an_unsigned_or_edited_record_is_not_believed() {
        let keyed = pool(true);
        let unsigned = record(&pool(false), H, 1_030);
        let mut edited = record(&keyed, H, 1_030);
        edited.values[0] = edited.values[0].replace("healthy=3", "healthy=0");
        for set in [unsigned, edited] {
            assert!(read(&keyed, &[set], 1_000).is_err());
        }
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let p = pool(false);
        let mut set = record(&p, H, 1_030);
        for (value, why) in [
            (
                "\"healthy=5\" \"total=4\" \"records=4\" \"expires=9\"",
                "exceeds",
            ),
            (
                "\"healthy=x\" \"total=4\" \"records=4\" \"expires=9\"",
                "not a number",
            ),
            ("\"total=4\" \"records=4\" \"expires=9\"", "missing"),
        ] {
            set.values = vec![value.into()];
            let err = decode(&p, &set).unwrap_err().to_string();
            assert!(err.contains(why), "{value}: {err}");
        }
    }

    #[test]
    fn the_record_is_written_on_a_change_and_refreshed_only_with_other_writes() {
        let p = pool(false);
        // Nothing recorded: written.
        let g = update(&p, &[], H, 1_000, 30, false).unwrap();
        assert_eq!(g.changes.len(), 1);
        let sets = vec![record(&p, H, 1_120)];
        // Same counts, more than two TTLs left: nothing, whatever else is written.
        assert!(update(&p, &sets, H, 1_010, 30, true).is_none());
        // Same counts, less than two TTLs left: refreshed only when a batch goes anyway.
        assert!(update(&p, &sets, H, 1_070, 30, false).is_none());
        let g = update(&p, &sets, H, 1_070, 30, true).unwrap();
        assert_eq!(g.changes.len(), 2, "an exact DELETE of the record as read");
        // New counts: written at once.
        let worse = ZoneHealth { healthy: 0, ..H };
        assert!(update(&p, &sets, worse, 1_001, 30, false).is_some());
        // Expired: written again even with the same counts.
        assert!(update(&p, &sets, H, 1_121, 30, false).is_some());
        // Signed with a key since rotated: ours still, replaced.
        let keyed = pool(true);
        let old = vec![record(&pool(false), H, 1_120)];
        assert!(foreign(&keyed, &old).is_none());
        assert!(update(&keyed, &old, H, 1_010, 30, false).is_some());
        // Someone else's record there (weighted, or not ours): never replaced or deleted.
        let mut weighted = record(&p, H, 1_060);
        weighted.set_identifier = Some("x".into());
        weighted.weight = Some(1);
        let mut garbage = record(&p, H, 1_060);
        garbage.values = vec!["\"mine\"".into()];
        for set in [weighted, garbage] {
            assert!(foreign(&p, std::slice::from_ref(&set)).is_some());
            assert!(update(&p, &[set], ZoneHealth { healthy: 0, ..H }, 1_070, 30, true).is_none());
        }
    }
}

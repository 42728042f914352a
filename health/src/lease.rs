//! The leader lease that lets several controllers watch one pool with exactly one writing. It
//! lives in Route 53 itself: a TXT record `_wavelb-leader.<pool>` holding `holder=<id>
//! expires=<unix>`, taken and renewed with an exact-match DELETE + CREATE in one batch, which
//! Route 53 turns into a compare-and-swap. Pure.

use registry::model::{Change, PoolSpec, RecordSet};
use registry::txt;

/// A decoded lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The controller holding it.
    pub holder: String,
    /// Unix seconds when it lapses unless renewed.
    pub expires: u64,
}

/// What this controller should do about the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStep {
    /// Write this change group (take or renew); on success this controller leads.
    Write(Vec<Change>),
    /// Someone else holds a live lease: follow (probe and report, never write targets).
    Follow {
        /// The leader.
        holder: String,
    },
}

fn lease_record(pool: &PoolSpec, lease: &Lease) -> RecordSet {
    RecordSet {
        name: pool.leader_name(),
        rtype: "TXT".into(),
        set_identifier: None,
        weight: None,
        ttl: Some(pool.ttl),
        values: vec![txt::join_quoted(&[
            format!("holder={}", lease.holder),
            format!("expires={}", lease.expires),
        ])],
        opaque: None,
    }
}

/// Finds and decodes the lease among the pool's listed record sets. A malformed lease record is
/// returned as `Err` with the record, so it can be replaced (it protects nothing).
pub fn find(pool: &PoolSpec, sets: &[RecordSet]) -> Option<(Result<Lease, String>, RecordSet)> {
    let set = sets
        .iter()
        .find(|s| s.name == pool.leader_name() && s.rtype == "TXT")?;
    Some((decode(set), set.clone()))
}

fn decode(set: &RecordSet) -> Result<Lease, String> {
    let [value] = set.values.as_slice() else {
        return Err(format!(
            "expected one TXT value, found {}",
            set.values.len()
        ));
    };
    let mut holder = None;
    let mut expires = None;
    for s in txt::split_quoted(value).map_err(|e| e.to_string())? {
        if let Some(h) = s.strip_prefix("holder=") {
            holder = Some(h.to_owned());
        } else if let Some(e) = s.strip_prefix("expires=") {
            expires = Some(
                e.parse::<u64>()
                    .map_err(|_| format!("expires={e:?} is not unix seconds"))?,
            );
        }
    }
    Ok(Lease {
        holder: holder.ok_or("holder= is missing")?,
        expires: expires.ok_or("expires= is missing")?,
    })
}

/// Decides whether `me` takes/renews the lease at `now` (unix seconds) for `ttl` seconds.
///
/// A live lease of another holder is respected; an expired or malformed one is replaced. Our
/// own lease is renewed. The change group is conditional on the record exactly as read.
pub fn step(
    pool: &PoolSpec,
    current: Option<(Result<Lease, String>, RecordSet)>,
    me: &str,
    now: u64,
    ttl: u64,
) -> LeaseStep {
    let next = Lease {
        holder: me.to_owned(),
        expires: now.saturating_add(ttl),
    };
    let mut changes = Vec::new();
    if let Some((lease, set)) = current {
        if let Ok(l) = &lease
            && l.holder != me
            && l.expires > now
        {
            return LeaseStep::Follow {
                holder: l.holder.clone(),
            };
        }
        changes.push(Change::delete(set));
    }
    changes.push(Change::create(lease_record(pool, &next)));
    LeaseStep::Write(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::model::RecordType;
    use registry::name::Fqdn;
    use registry::zone::ZoneRecords;

    fn pool() -> PoolSpec {
        PoolSpec {
            name: Fqdn::parse("www.lab.test").unwrap(),
            record_type: RecordType::A,
            ttl: 5,
            owner_id: "o".into(),
        }
    }

    fn apply(zone: &mut ZoneRecords, step: LeaseStep) -> Result<(), ()> {
        match step {
            LeaseStep::Write(changes) => zone.apply(&changes, &|_, _| Ok(())).map_err(|_| ()),
            LeaseStep::Follow { .. } => Err(()),
        }
    }

    fn read(zone: &ZoneRecords) -> Option<(Result<Lease, String>, RecordSet)> {
        let sets: Vec<_> = zone.sets().cloned().collect();
        find(&pool(), &sets)
    }

    #[test]
    fn exactly_one_holder_and_takeover_after_expiry() {
        let p = pool();
        let mut zone = ZoneRecords::new(Fqdn::parse("lab.test").unwrap());
        // Both read "no lease" and race: the second CREATE fails, so only one leads.
        let a = step(&p, read(&zone), "a", 100, 15);
        let b = step(&p, read(&zone), "b", 100, 15);
        assert!(apply(&mut zone, a).is_ok());
        assert!(
            apply(&mut zone, b).is_err(),
            "the loser's CREATE is rejected"
        );
        assert_eq!(
            step(&p, read(&zone), "b", 110, 15),
            LeaseStep::Follow { holder: "a".into() }
        );
        // a renews with a compare-and-swap on what it read.
        let renew = step(&p, read(&zone), "a", 110, 15);
        assert!(apply(&mut zone, renew).is_ok());
        assert_eq!(read(&zone).unwrap().0.unwrap().expires, 125);
        // a dies; after expiry b takes over, and a stale renewal by a fails.
        let stale = step(&p, read(&zone), "a", 124, 15);
        let takeover = step(&p, read(&zone), "b", 126, 15);
        assert!(apply(&mut zone, takeover).is_ok());
        assert!(apply(&mut zone, stale).is_err());
        assert_eq!(read(&zone).unwrap().0.unwrap().holder, "b");
    }

    #[test]
    fn a_malformed_lease_is_replaced() {
        let p = pool();
        let mut set = lease_record(
            &p,
            &Lease {
                holder: "x".into(),
                expires: 999,
            },
        );
        set.values = vec!["\"garbage\"".into()];
        let current = find(&p, std::slice::from_ref(&set));
        assert!(current.as_ref().unwrap().0.is_err());
        assert!(matches!(step(&p, current, "a", 1, 15), LeaseStep::Write(c) if c.len() == 2));
    }
}

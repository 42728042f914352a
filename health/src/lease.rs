//! The leader lease that lets several controllers watch one pool with exactly one writing. It
//! lives in Route 53 itself: a TXT record `_wavelb-leader.<pool>` holding `holder=<id>
//! expires=<unix>`, taken and renewed with an exact-match DELETE + CREATE in one batch, which
//! Route 53 turns into a compare-and-swap. Pure.
//!
//! Anyone with zone write access can write the lease, so it is not taken on trust: an expiry
//! further ahead than [`MAX_LEASE_TTLS`] lease TTLs is treated as expired (a controller writes
//! `now + lease_ttl`), and when the pool has an ownership key, a lease without a valid `mac=` is
//! treated as malformed. Either way it is replaced.

use registry::model::{PoolSpec, RecordSet, RrType};
use registry::plan::Guard;
use registry::txt;

use crate::txt_record::RecordError;

/// How many lease TTLs ahead of now an expiry may lie before the lease is treated as expired.
/// A controller writes `now + lease_ttl`, so this leaves two lease TTLs for clock skew between
/// controllers (and for a peer configured with a longer `lease_ttl`, up to three times ours).
pub const MAX_LEASE_TTLS: u64 = 3;

/// The domain separator of a lease's MAC input.
const LEASE_MAC_CONTEXT: &str = "wavelb-lease-v1";

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
    /// Take or renew: the lease as read and as it should be written. Written alone or leading
    /// every batch of target changes ([`registry::plan::Plan::guard`]); on success this
    /// controller leads.
    Write(Box<Guard>),
    /// Someone else holds a live lease: follow (probe and report, never write targets).
    Follow {
        /// The leader.
        holder: String,
    },
}

/// What a lease's MAC covers.
fn mac_parts<'a>(pool: &'a PoolSpec, holder: &'a str, expires: &'a str) -> [&'a str; 4] {
    [LEASE_MAC_CONTEXT, pool.name.as_str(), holder, expires]
}

/// The lease record `lease` at `pool`'s lease name.
pub fn lease_record(pool: &PoolSpec, lease: &Lease) -> RecordSet {
    let expires = lease.expires.to_string();
    let mut parts = vec![
        format!("holder={}", lease.holder),
        format!("expires={expires}"),
    ];
    if let Some(key) = &pool.ownership_key {
        parts.push(format!(
            "mac={}",
            key.sign(&mac_parts(pool, &lease.holder, &expires))
        ));
    }
    RecordSet::simple_txt(pool.leader_name(), pool.ttl, txt::join_quoted(&parts))
}

/// Finds and decodes the lease among the pool's listed record sets. A malformed lease record is
/// returned as `Err` with the record, so it can be replaced (it protects nothing).
pub fn find(
    pool: &PoolSpec,
    sets: &[RecordSet],
) -> Option<(Result<Lease, RecordError>, RecordSet)> {
    let set = sets
        .iter()
        .find(|s| s.name == pool.leader_name() && s.rtype == RrType::Txt)?;
    Some((decode(pool, set), set.clone()))
}

fn decode(pool: &PoolSpec, set: &RecordSet) -> Result<Lease, RecordError> {
    let [value] = set.values.as_slice() else {
        return Err(RecordError::Values(set.values.len()));
    };
    let mut holder = None;
    let mut expires = None;
    let mut mac = None;
    for s in txt::split_quoted(value)? {
        if let Some(h) = s.strip_prefix("holder=") {
            holder = Some(h.to_owned());
        } else if let Some(e) = s.strip_prefix("expires=") {
            expires = Some(e.to_owned());
        } else if let Some(m) = s.strip_prefix("mac=") {
            mac = Some(m.to_owned());
        }
    }
    let holder = holder.ok_or(RecordError::Missing("holder="))?;
    if !txt::is_token(&holder) {
        return Err(RecordError::Holder);
    }
    let expires_text = expires.ok_or(RecordError::Missing("expires="))?;
    let expires = expires_text
        .parse::<u64>()
        .map_err(|_| RecordError::NotUnixSeconds(expires_text.clone()))?;
    if let Some(key) = &pool.ownership_key {
        let signed = mac.is_some_and(|m| key.verify(&mac_parts(pool, &holder, &expires_text), &m));
        if !signed {
            return Err(RecordError::Unsigned);
        }
    }
    Ok(Lease { holder, expires })
}

/// True when `lease` expires further ahead of `now` than [`MAX_LEASE_TTLS`] times `ttl`: no
/// controller wrote it with a sane clock, so it is treated as expired.
pub fn implausible(lease: &Lease, now: u64, ttl: u64) -> bool {
    lease.expires > now.saturating_add(ttl.saturating_mul(MAX_LEASE_TTLS))
}

/// Decides whether `me` takes/renews the lease at `now` (unix seconds) for `ttl` seconds.
///
/// A live lease of another holder is respected; an expired, [`implausible`] or malformed one is
/// replaced. Our own lease is renewed. The change group is conditional on the record exactly as
/// read.
pub fn step(
    pool: &PoolSpec,
    current: Option<(Result<Lease, RecordError>, RecordSet)>,
    me: &str,
    now: u64,
    ttl: u64,
) -> LeaseStep {
    let next = Lease {
        holder: me.to_owned(),
        expires: now.saturating_add(ttl),
    };
    let mut read = None;
    if let Some((lease, set)) = current {
        if let Ok(l) = &lease
            && l.holder != me
            && l.expires > now
            && !implausible(l, now, ttl)
        {
            return LeaseStep::Follow {
                holder: l.holder.clone(),
            };
        }
        read = Some(set);
    }
    LeaseStep::Write(Box::new(Guard {
        read,
        write: lease_record(pool, &next),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::testing::pool;

    use registry::name::Fqdn;
    use registry::zone::ZoneRecords;

    fn apply(zone: &mut ZoneRecords, step: LeaseStep) -> Result<(), ()> {
        match step {
            LeaseStep::Write(guard) => zone
                .apply(&guard.changes(true), &|_, _| Ok(()))
                .map_err(|_| ()),
            LeaseStep::Follow { .. } => Err(()),
        }
    }

    fn read(zone: &ZoneRecords) -> Option<(Result<Lease, RecordError>, RecordSet)> {
        let sets: Vec<_> = zone.sets().cloned().collect();
        find(&pool(), &sets)
    }

    #[test]
    fn exactly_one_holder_and_takeover_after_expiry() {
        let p = pool();
        let mut zone = ZoneRecords::new(Fqdn::parse("example.com").unwrap());
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

    fn forged(
        p: &PoolSpec,
        holder: &str,
        expires: u64,
    ) -> Option<(Result<Lease, RecordError>, RecordSet)> {
        let set = lease_record(
            p,
            &Lease {
                holder: holder.into(),
                expires,
            },
        );
        find(p, std::slice::from_ref(&set))
    }

    #[test]
    fn an_expiry_far_in_the_future_is_taken_over() {
        let p = pool();
        for expires in [u64::MAX, 1_000 + 15 * MAX_LEASE_TTLS + 1] {
            let current = forged(&p, "attacker", expires);
            assert!(implausible(
                current.as_ref().unwrap().0.as_ref().unwrap(),
                1_000,
                15
            ));
            assert!(
                matches!(step(&p, current, "a", 1_000, 15), LeaseStep::Write(g) if g.read.is_some()),
                "expires={expires}"
            );
        }
    }

    #[test]
    fn a_live_peer_is_respected_within_the_clock_skew_bound() {
        let p = pool();
        // A peer's normal lease, and one from a peer whose clock runs up to two TTLs ahead.
        for peer_now in [1_000, 1_010, 1_000 + 2 * 15] {
            let current = forged(&p, "b", peer_now + 15);
            assert_eq!(
                step(&p, current, "a", 1_000, 15),
                LeaseStep::Follow { holder: "b".into() },
                "peer clock at {peer_now}"
            );
        }
        // Our own lease, however far ahead, is just renewed.
        assert!(matches!(
            step(&p, forged(&p, "a", u64::MAX), "a", 1_000, 15),
            LeaseStep::Write(_)
        ));
    }

    #[test]
    fn with_a_key_only_a_signed_lease_is_respected() {
        let keyed = PoolSpec {
            ownership_key: Some(
                registry::mac::OwnershipKey::from_bytes(b"a shared key of 32 bytes, really")
                    .unwrap(),
            ),
            ..pool()
        };
        let signed = forged(&keyed, "b", 1_010);
        assert_eq!(
            step(&keyed, signed.clone(), "a", 1_000, 15),
            LeaseStep::Follow { holder: "b".into() }
        );
        // Unsigned (written without the key), or signed and then edited: replaced.
        let unsigned = forged(&pool(), "b", 1_010).unwrap().1;
        let mut edited = signed.unwrap().1;
        edited.values[0] = edited.values[0].replace("holder=b", "holder=c");
        for set in [unsigned, edited] {
            let current = find(&keyed, std::slice::from_ref(&set));
            assert!(current.as_ref().unwrap().0.is_err(), "{set:?}");
            assert!(
                matches!(step(&keyed, current, "a", 1_000, 15), LeaseStep::Write(g) if g.read.is_some())
            );
        }
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
        assert!(matches!(step(&p, current, "a", 1, 15), LeaseStep::Write(g) if g.read.is_some()));
    }
}

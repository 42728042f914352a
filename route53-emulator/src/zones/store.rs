//! The store's hosted zones: CreateHostedZone's checks (the caller reference once, Route 53's
//! lengths, the account's quota, a name the lab can serve) and its apex SOA and NS, lookups by
//! id, and DeleteHostedZone of a zone holding only its apex.

use registry::model::{RecordSet, RrType};
use registry::name::Fqdn;
use registry::zone::{ChangeError, ZoneRecords};

use super::{
    APEX_NS_TTL, APEX_SOA_TTL, HostedZone, MAX_CALLER_REFERENCE_CHARS, MAX_HOSTED_ZONES,
    MAX_LAB_ZONE_NAME_CHARS, SOA_RNAME,
};
use crate::changes::ChangeRecord;
use crate::store::{MAX_COMMENT_CHARS, Store, StoreError, Totals, check_length};
use crate::tags::{self, ResourceKind};

impl Store {
    /// A zone by its id exactly (without `/hostedzone/`), if it exists.
    pub fn zone_by_id(&self, id: &str) -> Option<&HostedZone> {
        self.zones.get(id)
    }

    /// Creates a hosted zone with its apex SOA and NS record sets.
    pub fn create_zone(
        &mut self,
        name: &str,
        caller_reference: &str,
        comment: Option<String>,
        now_ms: u64,
    ) -> Result<(HostedZone, ChangeRecord), StoreError> {
        let name = Fqdn::parse(name).map_err(|e| StoreError::InvalidDomainName(e.to_string()))?;
        if caller_reference.is_empty() {
            return Err(StoreError::Change(ChangeError::InvalidInput(
                "1 validation error detected: Value at 'callerReference' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1"
                    .into(),
            )));
        }
        check_length(
            "callerReference",
            caller_reference,
            MAX_CALLER_REFERENCE_CHARS,
        )?;
        if let Some(c) = &comment {
            check_length("hostedZoneConfig.comment", c, MAX_COMMENT_CHARS)?;
        }
        if self
            .zones
            .values()
            .any(|z| z.caller_reference == caller_reference)
        {
            return Err(StoreError::HostedZoneAlreadyExists(
                caller_reference.to_owned(),
            ));
        }
        if self.zones.len() >= MAX_HOSTED_ZONES {
            return Err(StoreError::TooManyHostedZones);
        }
        let id = self.fresh_id('Z');
        let apex = |rtype: RrType, ttl: u32, value: String| {
            RecordSet::simple(name.clone(), rtype, ttl, value)
        };
        // The lab's name server is `ns.<zone>`, so a zone's name leaves room for it (a zone
        // Route 53 would take with a name of 251–253 characters is refused here). The SOA's
        // RNAME is Route 53's own, outside the zone, so the zone's length never decides it.
        let ns = Fqdn::parse(&format!("ns.{name}"))
            .map_err(|_| {
                StoreError::InvalidDomainName(format!(
                    "the zone name {name} leaves no room for the lab's name server ns.{name}: \
                     a zone name has at most {MAX_LAB_ZONE_NAME_CHARS} characters in the lab"
                ))
            })?
            .to_string();
        let records = ZoneRecords::from_sets(
            name.clone(),
            [
                apex(RrType::Ns, APEX_NS_TTL, ns.clone()),
                apex(
                    RrType::Soa,
                    APEX_SOA_TTL,
                    format!("{ns} {SOA_RNAME} 1 7200 900 1209600 86400"),
                ),
            ],
        );
        let zone = HostedZone {
            id: id.clone(),
            name,
            caller_reference: caller_reference.to_owned(),
            comment,
            serial: 1,
            records,
        };
        let added = Totals::of(zone.records.sets());
        self.totals = self.totals.replace(Totals::default(), added);
        self.touched.zone_list = true;
        self.touched.zones.insert(id.clone());
        for set in zone.records.sets() {
            self.touched
                .groups
                .insert((id.clone(), set.name.clone(), set.rtype));
        }
        self.zones.insert(id, zone.clone());
        let change = self.record_change(None, now_ms);
        Ok((zone, change))
    }

    /// A zone by id (with or without `/hostedzone/`).
    pub fn zone(&self, id: &str) -> Result<&HostedZone, StoreError> {
        let id = id.trim_start_matches("/hostedzone/");
        self.zones
            .get(id)
            .ok_or_else(|| StoreError::NoSuchHostedZone(id.to_owned()))
    }

    /// All zones, in id order.
    pub fn zones(&self) -> impl Iterator<Item = &HostedZone> {
        self.zones.values()
    }

    /// Deletes a zone; refused while it holds more than its apex SOA and NS.
    pub fn delete_zone(&mut self, id: &str, now_ms: u64) -> Result<ChangeRecord, StoreError> {
        let zone = self.zone(id)?;
        let required = |s: &RecordSet| {
            s.name == zone.name && (s.rtype == RrType::Soa || s.rtype == RrType::Ns)
        };
        if zone.records.sets().any(|s| !required(s)) {
            return Err(StoreError::HostedZoneNotEmpty);
        }
        let id = zone.id.clone();
        if let Some(gone) = self.zones.remove(&id) {
            let removed = Totals::of(gone.records.sets());
            self.totals = self.totals.replace(removed, Totals::default());
            for set in gone.records.sets() {
                self.touched
                    .groups
                    .insert((id.clone(), set.name.clone(), set.rtype));
            }
        }
        let tags_key = tags::resource_key(ResourceKind::HostedZone, &id);
        if self.tags.remove(&tags_key).is_some() {
            self.touched.tags.insert(tags_key);
        }
        self.touched.zone_list = true;
        self.touched.zones.insert(id);
        Ok(self.record_change(None, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use dns::metrics::AnswerCounters;
    use dns::snapshot::Snapshot;
    use registry::model::Change;

    use super::*;
    use crate::store::tests::a;

    #[test]
    fn zone_lifecycle() {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("Lab.Test", "ref-1", None, 0).unwrap();
        assert_eq!(zone.name.as_str(), "lab.test.");
        assert_eq!(zone.records.len(), 2, "apex SOA and NS");
        assert!(matches!(
            s.create_zone("other.test", "ref-1", None, 0),
            Err(StoreError::HostedZoneAlreadyExists(_))
        ));
        s.change(
            &zone.id,
            &[Change::create(a("www.lab.test", "x", 1))],
            None,
            1,
        )
        .unwrap();
        assert_eq!(s.zone(&zone.id).unwrap().serial, 2);
        assert_eq!(
            s.delete_zone(&zone.id, 2),
            Err(StoreError::HostedZoneNotEmpty)
        );
        s.change(
            &zone.id,
            &[Change::delete(a("www.lab.test", "x", 1))],
            None,
            3,
        )
        .unwrap();
        s.delete_zone(&format!("/hostedzone/{}", zone.id), 4)
            .unwrap();
        assert!(matches!(
            s.zone(&zone.id),
            Err(StoreError::NoSuchHostedZone(_))
        ));
    }

    fn input_error(r: Result<impl std::fmt::Debug, StoreError>) -> String {
        match r {
            Err(StoreError::Change(ChangeError::InvalidInput(m))) => m,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn comments_and_caller_references_have_route53_lengths() {
        let mut s = Store::default();
        let long_ref = "r".repeat(MAX_CALLER_REFERENCE_CHARS + 1);
        let m = input_error(s.create_zone("lab.test", &long_ref, None, 0));
        assert!(m.contains("callerReference") && m.contains("128"), "{m}");
        assert!(!m.contains(&long_ref), "the value is not echoed: {m}");
        input_error(s.create_zone("lab.test", "", None, 0));
        let m = input_error(s.create_zone("lab.test", "r", Some("c".repeat(257)), 0));
        assert!(m.contains("256"), "{m}");
        // At the limits, in characters (not bytes), everything is accepted.
        let (zone, _) = s
            .create_zone(
                "lab.test",
                &"é".repeat(MAX_CALLER_REFERENCE_CHARS),
                Some("é".repeat(MAX_COMMENT_CHARS)),
                0,
            )
            .unwrap();
        let create = [Change::create(a("www.lab.test", "x", 1))];
        let m = input_error(s.change(&zone.id, &create, Some("c".repeat(257)), 1));
        assert!(m.contains("changeBatch.comment"), "{m}");
        assert_eq!(
            s.zone(&zone.id).unwrap().records.len(),
            2,
            "nothing applied"
        );
        s.change(&zone.id, &create, Some("c".repeat(256)), 1)
            .unwrap();
    }

    #[test]
    fn an_account_holds_at_most_500_zones() {
        let mut s = Store::default();
        for i in 0..MAX_HOSTED_ZONES {
            s.create_zone(&format!("z{i}.test"), &format!("r{i}"), None, 0)
                .unwrap();
        }
        assert_eq!(
            s.create_zone("one-more.test", "r-more", None, 0),
            Err(StoreError::TooManyHostedZones)
        );
        let first = s.zones().next().unwrap().id.clone();
        s.delete_zone(&first, 1).unwrap();
        s.create_zone("one-more.test", "r-more", None, 1).unwrap();
    }

    /// Every zone the API creates is served by DNS: a name the API accepts but the DNS view
    /// cannot read would be a zone that silently answers nothing (found by fuzz/api_xml).
    #[test]
    fn every_created_zone_is_served() {
        for name in [
            "-",
            "test",
            "a",
            "_",
            "-.test",
            "a-.test",
            "-a.test",
            "_x.test",
            "ok.test",
            "x--y.test",
        ] {
            let mut s = Store::default();
            if let Ok((zone, _)) = s.create_zone(name, "ref", None, 0) {
                let snap = Snapshot::of_zones(&s, &AnswerCounters::default());
                assert!(
                    snap.zone_for(zone.name.as_str()).is_some(),
                    "{name} is not served"
                );
            }
        }
    }

    /// A zone name of 242–250 characters was accepted but not served: its SOA named
    /// `hostmaster.<zone>`, a name past 253 characters (found by fuzz/api_xml). The lab's SOA
    /// names Route 53's mailbox now, and a zone name leaves room for `ns.<zone>`.
    #[test]
    fn long_zone_names_are_served_up_to_the_labs_bound_and_refused_past_it() {
        let name_of = |len: usize| {
            let mut labels = Vec::new();
            let mut left = len;
            while left > 0 {
                let n = left.min(63);
                labels.push("a".repeat(n));
                left = left.saturating_sub(n + 1);
            }
            let name = labels.join(".");
            assert!(
                name.len() == len || name.len() == len - 1,
                "{len}: {}",
                name.len()
            );
            name
        };
        let mut served = 0;
        for len in 240..=MAX_LAB_ZONE_NAME_CHARS {
            let name = name_of(len);
            let mut s = Store::default();
            let (zone, _) = s.create_zone(&name, "ref", None, 0).unwrap();
            let snap = Snapshot::of_zones(&s, &AnswerCounters::default());
            assert!(
                snap.zone_for(zone.name.as_str()).is_some(),
                "{len} is not served"
            );
            served += 1;
        }
        assert_eq!(served, 11);
        for len in MAX_LAB_ZONE_NAME_CHARS + 2..=253 {
            let name = name_of(len);
            if name.len() <= MAX_LAB_ZONE_NAME_CHARS {
                continue;
            }
            let mut s = Store::default();
            let e = s
                .create_zone(&name, "ref", None, 0)
                .unwrap_err()
                .to_string();
            assert!(e.contains("ns."), "{len}: {e}");
        }
    }
}

//! Test zones: what the unit tests build snapshots from, in place of the Route 53 emulator's
//! store (which depends on this crate). Record rules are `registry::zone`'s, as the store's
//! are; there is no bound, no change log and no validation beyond them.

use std::collections::BTreeMap;
use std::sync::Arc;

use registry::model::{Change, RecordSet, RrType};
use registry::name::Fqdn;
use registry::zone::{ChangeError, ZoneRecords};

use crate::cidr::CidrTable;
use crate::snapshot::{Changed, ZoneRef, Zones};

/// One test zone.
#[derive(Debug, Clone)]
pub(crate) struct LabZone {
    /// `Z1`, `Z2`, … in creation order.
    pub id: String,
    /// The apex.
    pub name: Fqdn,
    /// 1 at creation, one more per change.
    pub serial: u32,
    /// The record sets: an apex NS and SOA, then whatever was changed.
    pub records: ZoneRecords,
}

/// Zones and health check statuses, changed as the store changes them.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabZones {
    zones: Vec<LabZone>,
    health: BTreeMap<String, bool>,
    cidr: BTreeMap<String, Arc<CidrTable>>,
    changed: Changed,
}

impl LabZones {
    /// Creates a zone with an apex NS (`ns.<zone>`) and SOA; the reference, comment and time
    /// are the store's arguments, unused here.
    pub(crate) fn create_zone(
        &mut self,
        name: &str,
        _reference: &str,
        _comment: Option<String>,
        _now_ms: u64,
    ) -> Result<(LabZone, ()), ChangeError> {
        let name = Fqdn::parse(name).map_err(|e| ChangeError::InvalidInput(e.to_string()))?;
        let ns = format!("ns.{name}");
        let records = ZoneRecords::from_sets(
            name.clone(),
            [
                RecordSet::simple(name.clone(), RrType::Ns, 172_800, ns.clone()),
                RecordSet::simple(
                    name.clone(),
                    RrType::Soa,
                    900,
                    format!("{ns} hostmaster.lab.test. 1 7200 900 1209600 86400"),
                ),
            ],
        );
        let zone = LabZone {
            id: format!("Z{}", self.zones.len() + 1),
            name,
            serial: 1,
            records,
        };
        self.zones.push(zone.clone());
        self.changed.everything = true;
        Ok((zone, ()))
    }

    /// Applies `changes` to zone `id` with Route 53's rules and counts the serial up.
    pub(crate) fn change(
        &mut self,
        id: &str,
        changes: &[Change],
        _comment: Option<String>,
        _now_ms: u64,
    ) -> Result<(), ChangeError> {
        let zone = self
            .zones
            .iter_mut()
            .find(|z| z.id == id)
            .ok_or_else(|| ChangeError::InvalidInput(format!("no zone {id}")))?;
        zone.records
            .apply_within(changes, &crate::rdata::check, usize::MAX)?;
        zone.serial += 1;
        let names = self.changed.names.entry(zone.id.clone()).or_default();
        names.extend(changes.iter().map(|c| c.record_set.name.clone()));
        Ok(())
    }

    /// A health check that is unhealthy; its id.
    pub(crate) fn failed_test_check(&mut self, reference: &str) -> String {
        let id = format!("check-{reference}");
        self.health.insert(id.clone(), false);
        self.changed.everything = true;
        id
    }

    /// Puts the CIDR collection `id` with `blocks` (`network/len`, location).
    pub(crate) fn put_collection(&mut self, id: &str, blocks: &[(&str, &str)]) {
        let parsed: Vec<(std::net::IpAddr, u8, &str)> = blocks
            .iter()
            .map(|(cidr, location)| {
                let (addr, len) = cidr.split_once('/').expect("a test's CIDR");
                (
                    addr.parse().expect("a test's address"),
                    len.parse().expect("a test's length"),
                    *location,
                )
            })
            .collect();
        self.cidr
            .insert(id.to_owned(), Arc::new(CidrTable::new(parsed)));
        self.changed.everything = true;
    }

    /// What the changes since the last call touched.
    pub(crate) fn take_touched(&mut self) -> Changed {
        std::mem::take(&mut self.changed)
    }

    /// The zones in creation order.
    pub(crate) fn zones(&self) -> impl Iterator<Item = &LabZone> {
        self.zones.iter()
    }
}

fn zone_ref(z: &LabZone) -> ZoneRef<'_> {
    ZoneRef {
        id: &z.id,
        name: &z.name,
        serial: z.serial,
        records: &z.records,
    }
}

impl Zones for LabZones {
    fn zones(&self) -> impl Iterator<Item = ZoneRef<'_>> {
        self.zones.iter().map(zone_ref)
    }

    fn zone_by_id(&self, id: &str) -> Option<ZoneRef<'_>> {
        self.zones.iter().find(|z| z.id == id).map(zone_ref)
    }

    fn health_statuses(&self) -> BTreeMap<String, bool> {
        self.health.clone()
    }

    fn cidr_tables(&self) -> BTreeMap<String, Arc<CidrTable>> {
        self.cidr.clone()
    }
}

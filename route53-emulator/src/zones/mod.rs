//! Hosted zones: what a zone is and Route 53's bounds on them (here), the store's part
//! ([`store`]: create, get, list, delete), the XML ([`xml`]: CreateHostedZone, `<HostedZone>`,
//! `<DelegationSet>`) and the operations ([`api`]: CreateHostedZone, GetHostedZone,
//! ListHostedZones, ListHostedZonesByName, GetHostedZoneCount, DeleteHostedZone).

use registry::name::Fqdn;
use registry::zone::ZoneRecords;
use serde::{Deserialize, Serialize};

pub mod api;
pub mod store;
pub mod xml;

/// The TTL Route 53 gives a new zone's apex NS record.
const APEX_NS_TTL: u32 = 172_800;
/// The TTL Route 53 gives a new zone's apex SOA record.
const APEX_SOA_TTL: u32 = 900;
/// Route 53's default quota on hosted zones per account.
pub const MAX_HOSTED_ZONES: usize = 500;
/// Route 53's longest `CallerReference`, in characters.
pub const MAX_CALLER_REFERENCE_CHARS: usize = 128;

/// The SOA's RNAME of every zone the lab creates: Route 53's own mailbox, outside the zone.
pub const SOA_RNAME: &str = "awsdns-hostmaster.amazon.com.";

/// The longest zone name the lab creates: `ns.<zone>`, its name server, is a domain name too.
pub const MAX_LAB_ZONE_NAME_CHARS: usize = 250;

/// A hosted zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedZone {
    /// The id, without `/hostedzone/`.
    pub id: String,
    /// Its name.
    pub name: Fqdn,
    /// The caller reference it was created with.
    pub caller_reference: String,
    /// The optional comment.
    pub comment: Option<String>,
    /// The SOA serial served; it increases with every change.
    pub serial: u32,
    /// The record sets.
    pub records: ZoneRecords,
}

impl HostedZone {
    /// The zone as the DNS snapshot reads it.
    pub fn as_served(&self) -> dns::snapshot::ZoneRef<'_> {
        dns::snapshot::ZoneRef {
            id: &self.id,
            name: &self.name,
            serial: self.serial,
            records: &self.records,
        }
    }

    /// The name servers of the zone's delegation set.
    pub fn name_servers(&self) -> Vec<String> {
        vec![format!("ns.{}", self.name)]
    }
}

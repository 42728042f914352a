//! The lab's layout: one zone and pool (`www.lab.test`, four targets), or `--zones N` simulated
//! Wavelength zones, each with a pool of two targets, the zone tier at `edge.lab.test`, and a geo
//! table that places client subnet 10.K.0.0/16 near zone K.

use std::net::{IpAddr, Ipv4Addr};

use geo::{self, Coordinates};
use registry::model::{PoolSpec, RecordType, SetId};
use registry::name::Fqdn;
use registry::tier::{Placement, TierMember, TierSpec};

use super::{OWNER, POOL, TTL, ZONE};

/// The Wavelength zones `--zones N` simulates, in order: spread over the US so that each has a
/// distinct nearest neighbour.
pub(super) const LAB_ZONES: [&str; 8] = [
    "us-east-1-wl1-bos-wlz-1",
    "us-east-1-wl1-nyc-wlz-1",
    "us-east-1-wl1-dfw-wlz-1",
    "us-west-2-wl1-sfo-wlz-1",
    "us-east-1-wl1-atl-wlz-1",
    "us-west-2-wl1-sea-wlz-1",
    "us-east-1-wl1-chi-wlz-1",
    "us-west-2-wl1-den-wlz-1",
];

/// The global name of a multi-zone lab.
pub(super) const GLOBAL: &str = "edge.lab.test";

/// One simulated zone.
pub(super) struct LabZone {
    /// The Wavelength zone id (the tier's SetIdentifier).
    pub id: &'static str,
    /// Its city.
    pub city: &'static str,
    /// Where it is.
    pub place: Coordinates,
    /// Its pool.
    pub pool: PoolSpec,
    /// Its targets' weights and addresses.
    pub targets: Vec<(u8, IpAddr)>,
}

fn pool(name: &str) -> PoolSpec {
    PoolSpec {
        // Names built from literals and table ids: parsing cannot fail.
        name: Fqdn::parse(name).unwrap_or_else(|_| Fqdn::from_api(name)),
        record_type: RecordType::A,
        ttl: TTL,
        owner_id: OWNER.into(),
        ownership_key: None,
    }
}

/// The lab's zones: `n` = 1 is the single pool `www.lab.test` with four targets (weights 10,
/// 20, 30, 40 on 127.0.0.11-14); more are the first `n` of [`LAB_ZONES`], zone K with targets
/// 127.0.K.11-12 (weights 10, 20) in pool `edge.<zone id>.lab.test`.
pub(super) fn layout(n: u8) -> Vec<LabZone> {
    if n <= 1 {
        return vec![LabZone {
            id: "lab",
            city: "loopback",
            place: geo::WAVELENGTH_ZONES[0].coordinates,
            pool: pool(POOL),
            targets: super::WEIGHTS
                .iter()
                .zip(11..)
                .map(|(w, last)| (*w, IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))))
                .collect(),
        }];
    }
    LAB_ZONES
        .iter()
        .zip(1u8..)
        .take(usize::from(n))
        .filter_map(|(id, k)| {
            let w = geo::wavelength_zone(id)?;
            Some(LabZone {
                id: w.id,
                city: w.city,
                place: w.coordinates,
                pool: pool(&format!("edge.{id}.{ZONE}")),
                targets: vec![
                    (10, IpAddr::V4(Ipv4Addr::new(127, 0, k, 11))),
                    (20, IpAddr::V4(Ipv4Addr::new(127, 0, k, 12))),
                ],
            })
        })
        .collect()
}

/// The geo table of a multi-zone lab: 10.K.0.0/16 a few kilometres from zone K's city, and
/// loopback (queries without a Client Subnet) at zone 1.
pub(super) fn geo_table(zones: &[LabZone]) -> String {
    let mut text = String::from("# wavelb lab --zones: CIDR LATITUDE LONGITUDE\n");
    for (k, z) in (1..).zip(zones) {
        text.push_str(&format!(
            "10.{k}.0.0/16 {:.2} {:.2} # clients near {}\n",
            z.place.latitude() + 0.05,
            z.place.longitude(),
            z.city
        ));
    }
    if let Some(first) = zones.first() {
        text.push_str(&format!(
            "127.0.0.0/8 {:.2} {:.2} # loopback: near {}\n::1/128 {:.2} {:.2}\n",
            first.place.latitude(),
            first.place.longitude(),
            first.city,
            first.place.latitude(),
            first.place.longitude()
        ));
    }
    text
}

/// The zone tier over `zones` in the hosted zone `zone_id`.
pub(super) fn tier(zones: &[LabZone], zone_id: &str) -> TierSpec {
    TierSpec {
        name: pool(GLOBAL).name,
        record_type: RecordType::A,
        ttl: TTL,
        hosted_zone_id: zone_id.to_owned(),
        evaluate_target_health: true,
        owner_id: OWNER.into(),
        ownership_key: None,
        members: zones
            .iter()
            .map(|z| TierMember {
                // A zone id from the built-in table: never empty, far under 128 characters.
                id: SetId::new(z.id).expect("a lab zone id is a valid set identifier"),
                pool: z.pool.name.clone(),
                placement: Placement::Geo {
                    place: z.place,
                    bias: 0,
                },
            })
            .collect(),
        fallback: None,
        cidr_collection: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lab_zone_is_in_the_table_and_the_geo_table_places_its_subnet_nearest_to_it() {
        let zones = layout(8);
        assert_eq!(zones.len(), 8);
        let text = geo_table(&zones);
        for (k, z) in (1..).zip(&zones) {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("10.{k}.0.0/16 ")))
                .unwrap();
            let f: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .take(2)
                .map(|v| v.parse().unwrap())
                .collect();
            let client = Coordinates::new(f[0], f[1]).unwrap();
            let nearest = geo::nearest(client, zones.iter().map(|z| (z.id, z.place, 0)));
            assert_eq!(nearest, Some(z.id), "{line}");
        }
        assert_eq!(layout(1)[0].targets.len(), 4);
    }
}

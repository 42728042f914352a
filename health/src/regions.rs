//! The parent Region of each pool of the zone tier, read from its zone's name.
//!
//! Two facts of AWS make it matter. A health controller reaches targets only at their private
//! addresses, inside its own VPC (a Wavelength zone's subnets belong to a VPC of its parent
//! Region); and EC2 answers `DescribeInstances` for its own Region only, so asking the wrong
//! Region about an instance gets `InvalidInstanceID.NotFound`, which garbage collection would
//! read as "gone". So a controller must know each pool's Region to ask EC2 there, and must not
//! be configured to probe pools of several Regions unless the operator says the path exists.
//!
//! Pure: configuration in, Regions out.

use std::collections::BTreeMap;

use geo;
use registry::config::ConfigError;

use crate::global::GlobalConfig;

/// A zone's parent Region: the built-in table's for a zone it knows (by Zone Name or Zone ID),
/// else the Region its name starts with (`us-west-2-wl1-xyz-wlz-1` → `us-west-2`); `None` for a
/// name that says nothing of a Region (`bos`).
pub fn zone_region(zone: &str) -> Option<&'static str> {
    geo::wavelength_zone(zone)
        .map(|w| w.region)
        .or_else(|| geo::parent_region(zone).map(|r| r.id))
}

/// The parent Region of each tier pool whose zone names one, by pool name (lowercase, without
/// the final dot, as [`registry::name::Fqdn::without_dot`] gives it).
pub fn pool_regions(global: &GlobalConfig) -> BTreeMap<String, &'static str> {
    global
        .zones
        .iter()
        .filter_map(|z| {
            let pool = z.pool.trim_end_matches('.').to_ascii_lowercase();
            zone_region(z.zone_name()).map(|region| (pool, region))
        })
        .collect()
}

/// Refuses a tier whose `watched` pools (those this process probes) lie in more than one parent
/// Region, unless `across` (the operator's `[health] probe_across_regions = true`): a controller
/// reaches private addresses only inside its own VPC. The tier's other pools are read from
/// their recorded health, wherever their controllers run.
pub fn check_one_region(
    global: &GlobalConfig,
    across: bool,
    watched: impl Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    if across {
        return Ok(());
    }
    let mut by_region: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for z in global.zones.iter().filter(|z| watched(&z.pool)) {
        if let Some(region) = zone_region(z.zone_name()) {
            by_region.entry(region).or_default().push(z.zone_name());
        }
    }
    if by_region.len() <= 1 {
        return Ok(());
    }
    let spans: Vec<String> = by_region
        .iter()
        .map(|(region, zones)| format!("{region} ({})", zones.join(", ")))
        .collect();
    Err(ConfigError::new(
        "global.zone.wavelength_zone",
        spans.join(" and "),
        "the tier's zones are in more than one parent Region, and this controller probes them \
         all at their private addresses, which it reaches only inside its own VPC: run one \
         controller per Region over its pools and let the tier's controller read their recorded \
         health ([health] watch = [] beside [global]), or set [health] probe_across_regions = \
         true if this VPC reaches the others (VPC peering, a Transit Gateway)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(zones: &[(&str, &str)]) -> GlobalConfig {
        let mut text = String::from("name = \"edge.lab.test\"\n");
        for (pool, zone) in zones {
            text.push_str(&format!(
                "[[zone]]\npool = \"{pool}\"\nwavelength_zone = \"{zone}\"\ncoordinates = [1, 2]\n"
            ));
        }
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn a_zone_names_its_region_by_zone_name_zone_id_or_prefix() {
        assert_eq!(zone_region("us-east-1-wl1-bos-wlz-1"), Some("us-east-1"));
        assert_eq!(zone_region("usw2-wl1-las-wlz1"), Some("us-west-2"));
        assert_eq!(zone_region("us-west-2-wl1-xyz-wlz-1"), Some("us-west-2"));
        assert_eq!(zone_region("bos"), None);
        assert_eq!(zone_region("us-east-1"), None);
    }

    #[test]
    fn pools_get_their_zones_regions() {
        let g = tier(&[
            ("Edge.Bos.lab.test.", "use1-wl1-bos-wlz1"),
            ("edge.las.lab.test", "us-west-2-wl1-las-wlz-1"),
            ("edge.x.lab.test", "x"),
        ]);
        assert_eq!(
            pool_regions(&g),
            BTreeMap::from([
                ("edge.bos.lab.test".to_owned(), "us-east-1"),
                ("edge.las.lab.test".to_owned(), "us-west-2"),
            ])
        );
    }

    #[test]
    fn a_tier_over_two_regions_is_refused_unless_the_path_exists() {
        let one = tier(&[
            ("a.lab.test", "us-east-1-wl1-bos-wlz-1"),
            ("b.lab.test", "us-east-1-wl1-nyc-wlz-1"),
            ("c.lab.test", "somewhere"),
        ]);
        let all = |_: &str| true;
        assert_eq!(check_one_region(&one, false, all), Ok(()));
        let two = tier(&[
            ("a.lab.test", "us-east-1-wl1-bos-wlz-1"),
            ("b.lab.test", "usw2-wl1-las-wlz1"),
        ]);
        let e = check_one_region(&two, false, all).unwrap_err().to_string();
        assert!(
            e.contains(
                "us-east-1 (us-east-1-wl1-bos-wlz-1) and us-west-2 (us-west-2-wl1-las-wlz-1)"
            ) && e.contains("probe_across_regions = true"),
            "{e}"
        );
        assert_eq!(check_one_region(&two, true, all), Ok(()));
        // A tier controller that watches none of them (or one Region's) probes no other Region.
        assert_eq!(check_one_region(&two, false, |_| false), Ok(()));
        assert_eq!(check_one_region(&two, false, |p| p == "a.lab.test"), Ok(()));
    }
}

//! The `[global]` configuration section: one global name over several zones' pools (the zone
//! tier), turned into a [`TierSpec`] and a [`TierPolicy`].
//!
//! ```toml
//! [global]
//! name = "edge.example.com"
//! min_healthy = 1            # targets, or a fraction of the pool: "50%"
//! leave_after = "0s"         # below min_healthy this long → out of the tier
//! return_after = "30s"       # at or above it this long → back in
//! fallback = { addresses = ["198.51.100.7"], region = "us-east-1" }   # optional
//!
//! [[global.zone]]
//! pool = "edge.us-east-1-wl1-bos-wlz-1.example.com"
//! wavelength_zone = "us-east-1-wl1-bos-wlz-1"   # placed by geo's table
//! bias = 0
//! ```

use std::net::IpAddr;
use std::time::Duration;

use geo::{self, Coordinates};
use registry::config::ConfigError;
use registry::model::{PoolSpec, SetId};
use registry::name::Fqdn;
use registry::tier::{Fallback, FallbackTarget, Placement, TierMember, TierSpec};
use serde::Deserialize;

use crate::tier::{MinHealthy, TierPolicy};

/// Route 53's quota on geoproximity record sets with the same name and type, which the tier's
/// zones and its fallback share: "Geoproximity records per record name and type: 30" (Route 53
/// Developer Guide, "Quotas", quotas on records:
/// <https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html>). The lab
/// refuses the 31st with the same rule ([`registry::zone::MAX_GEO_PER_GROUP`]).
pub const MAX_MEMBERS: usize = registry::zone::MAX_GEO_PER_GROUP;

/// `[global]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// The global name clients resolve.
    pub name: String,
    /// Healthy targets (an integer ≥ 1) or a fraction of the pool (`"50%"`) that keep a zone in
    /// the tier. Default 1.
    #[serde(default = "default_min_healthy")]
    pub min_healthy: MinHealthySetting,
    /// How long a zone stays below `min_healthy` before it leaves. Default `0s` (the targets'
    /// own `fall` already filtered blips).
    #[serde(
        default = "default_leave_after",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub leave_after: Duration,
    /// How long a zone that left must meet `min_healthy` before it returns. Default `30s`.
    #[serde(
        default = "default_return_after",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub return_after: Duration,
    /// TTL of the tier's ownership records and of a fallback with addresses. Default 60.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// `EvaluateTargetHealth` on the alias records. Default true.
    #[serde(default = "default_true")]
    pub evaluate_target_health: bool,
    /// The owner id of the tier's records. Default: the first zone's pool's `owner_id`.
    pub owner_id: Option<String>,
    /// Used only while every zone is out of the tier.
    pub fallback: Option<FallbackConfig>,
    /// `[[global.zone]]`: the zones, at least one.
    #[serde(rename = "zone", default)]
    pub zones: Vec<GlobalZoneConfig>,
}

/// `min_healthy`: an integer or a percentage string.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum MinHealthySetting {
    /// A number of targets.
    Targets(u64),
    /// `"NN%"`.
    Text(String),
}

/// `[[global.zone]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalZoneConfig {
    /// The zone's pool: one of this file's `[[pool]]` names.
    pub pool: String,
    /// The Wavelength zone: its Zone Name (`us-east-1-wl1-bos-wlz-1`) or, for a zone in the
    /// built-in table, its Zone ID (`use1-wl1-bos-wlz1`), which means the same zone. The Zone
    /// Name is the record's SetIdentifier ([`GlobalZoneConfig::zone_name`]); the table places it
    /// when `coordinates` is not given.
    pub wavelength_zone: String,
    /// `[latitude, longitude]`, overriding the built-in table.
    pub coordinates: Option<[f64; 2]>,
    /// Route 53's bias, −99 to 99. Default 0.
    #[serde(default)]
    pub bias: i32,
}

impl GlobalZoneConfig {
    /// The zone's SetIdentifier: the Zone Name of a zone in the built-in table, whichever
    /// spelling the file used, so a Zone ID and its Zone Name are one member; otherwise the
    /// value as written.
    pub fn zone_name(&self) -> &str {
        geo::wavelength_zone(&self.wavelength_zone).map_or(self.wavelength_zone.as_str(), |w| w.id)
    }
}

/// `[global] fallback`: exactly one of `addresses` and `name`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// Addresses to answer with.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// A name in the same hosted zone to alias to.
    pub name: Option<String>,
    /// The AWS Region whose location the record gets. Default: the first zone's Region.
    pub region: Option<String>,
    /// `[latitude, longitude]`, overriding `region`.
    pub coordinates: Option<[f64; 2]>,
}

fn default_min_healthy() -> MinHealthySetting {
    MinHealthySetting::Targets(1)
}
fn default_leave_after() -> Duration {
    Duration::ZERO
}
fn default_return_after() -> Duration {
    Duration::from_secs(30)
}
fn default_ttl() -> u32 {
    60
}
fn default_true() -> bool {
    true
}

fn place(key: &str, at: [f64; 2]) -> Result<Coordinates, ConfigError> {
    Coordinates::new(at[0], at[1])
        .map_err(|e| ConfigError::new(key, format!("{at:?}"), e.to_string()))
}

/// The warning `wavelb health` gives (with `--check-config`, and at start) about a tier whose
/// records are not signed; `None` when the tier has an ownership key (the first zone's pool's
/// `ownership_key_file`).
pub fn unsigned_tier_warning(spec: &TierSpec) -> Option<String> {
    if spec.ownership_key.is_some() {
        return None;
    }
    let first = spec.members.first().map_or("", |m| m.pool.without_dot());
    Some(format!(
        "[global] {}: the zone tier runs without an ownership key, so its ownership records are \
         a claim anyone with write access to the hosted zone can forge. A forged record makes a \
         zone foreign, and a foreign zone is never changed by wavelb: it can stay published, and \
         answered, with dead targets (a pinned zone). Set ownership_key_file in the [[pool]] \
         {first} (its key signs the tier's records) and give every writer of the tier and its \
         pools the same file; see docs/record-protocol.md, \"Authentication\"",
        spec.name.without_dot()
    ))
}

impl GlobalConfig {
    /// The parsed `min_healthy`.
    pub fn min_healthy(&self) -> Result<MinHealthy, ConfigError> {
        let bad = |v: String| {
            ConfigError::new(
                "global.min_healthy",
                v,
                "expected a number of targets (at least 1) or a percentage such as \"50%\"",
            )
        };
        match &self.min_healthy {
            MinHealthySetting::Targets(0) => Err(bad("0".into())),
            MinHealthySetting::Targets(n) => usize::try_from(*n)
                .map(MinHealthy::Targets)
                .map_err(|_| bad(n.to_string())),
            MinHealthySetting::Text(t) => t
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .map(|p| MinHealthy::Fraction(p / 100.0))
                .ok_or_else(|| bad(format!("{t:?}"))),
        }
    }

    /// The tier's rules.
    pub fn policy(&self) -> Result<TierPolicy, ConfigError> {
        Ok(TierPolicy {
            min_healthy: self.min_healthy()?,
            leave_after: self.leave_after.as_secs(),
            return_after: self.return_after.as_secs(),
            fallback: self.fallback.is_some(),
        })
    }

    /// Checks everything that does not need the pools.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Fqdn::parse(&self.name)
            .map_err(|e| ConfigError::new("global.name", &self.name, e.to_string()))?;
        self.policy()?;
        let fallback = usize::from(self.fallback.is_some());
        if self.zones.is_empty() || self.zones.len() + fallback > MAX_MEMBERS {
            return Err(ConfigError::new(
                "global.zone",
                self.zones.len().to_string(),
                format!(
                    "expected 1 to {} [[global.zone]] sections{}: Route 53 allows {MAX_MEMBERS} \
                     geoproximity records per name and type (its quotas page, \"Geoproximity \
                     records per record name and type\"), the fallback included",
                    MAX_MEMBERS - fallback,
                    if fallback == 1 {
                        " with a fallback"
                    } else {
                        ""
                    },
                ),
            ));
        }
        if self.ttl == 0 || self.ttl > 86_400 {
            return Err(ConfigError::new(
                "global.ttl",
                self.ttl.to_string(),
                "expected 1 to 86400 seconds",
            ));
        }
        let mut ids: Vec<&str> = Vec::new();
        for z in &self.zones {
            let id = z.zone_name();
            if !registry::txt::is_token(id) || id == registry::tier::FALLBACK_ID {
                return Err(ConfigError::new(
                    "global.zone.wavelength_zone",
                    id,
                    "expected a zone id: 1-64 letters, digits, '.', '_' or '-' (and not \"fallback\")",
                ));
            }
            if ids.contains(&id) {
                return Err(ConfigError::new(
                    "global.zone.wavelength_zone",
                    id,
                    "each [[global.zone]] needs its own wavelength_zone",
                ));
            }
            ids.push(id);
            geo::check_bias(z.bias).map_err(|e| {
                ConfigError::new("global.zone.bias", z.bias.to_string(), e.to_string())
            })?;
            self.zone_place(z)?;
            Fqdn::parse(&z.pool)
                .map_err(|e| ConfigError::new("global.zone.pool", &z.pool, e.to_string()))?;
        }
        if let Some(f) = &self.fallback {
            self.fallback_target(f)?;
            self.fallback_place(f)?;
        }
        Ok(())
    }

    fn zone_place(&self, z: &GlobalZoneConfig) -> Result<Coordinates, ConfigError> {
        match z.coordinates {
            Some(at) => place("global.zone.coordinates", at),
            None => geo::wavelength_zone(&z.wavelength_zone)
                .map(|w| w.coordinates)
                .ok_or_else(|| {
                    ConfigError::new(
                        "global.zone.wavelength_zone",
                        &z.wavelength_zone,
                        "not in the built-in table of Wavelength zones (geo); set \
                         coordinates = [latitude, longitude] for it",
                    )
                }),
        }
    }

    fn fallback_target(&self, f: &FallbackConfig) -> Result<FallbackTarget, ConfigError> {
        match (f.addresses.as_slice(), &f.name) {
            ([], Some(name)) => Fqdn::parse(name)
                .map(FallbackTarget::Alias)
                .map_err(|e| ConfigError::new("global.fallback.name", name, e.to_string())),
            (addrs, None) if !addrs.is_empty() && addrs.len() <= 400 => {
                Ok(FallbackTarget::Addresses(addrs.to_vec()))
            }
            _ => Err(ConfigError::new(
                "global.fallback",
                format!("addresses = {:?}, name = {:?}", f.addresses, f.name),
                "expected exactly one of addresses (1 to 400) and name",
            )),
        }
    }

    fn fallback_place(&self, f: &FallbackConfig) -> Result<Coordinates, ConfigError> {
        if let Some(at) = f.coordinates {
            return place("global.fallback.coordinates", at);
        }
        let region = match &f.region {
            Some(r) => r.clone(),
            None => self
                .zones
                .first()
                .and_then(|z| geo::wavelength_zone(z.zone_name()))
                .map(|w| w.region.to_owned())
                .unwrap_or_default(),
        };
        geo::aws_region(&region)
            .map(|r| r.coordinates)
            .ok_or_else(|| {
                ConfigError::new(
                    "global.fallback.region",
                    region,
                    "not a Region in the built-in table (geo); set region or \
                     coordinates = [latitude, longitude]",
                )
            })
    }

    /// The tier over `pools` (the file's pools, already built), in the hosted zone
    /// `hosted_zone_id`. Every zone's pool must be one of them, all of one record type.
    pub fn spec(&self, pools: &[PoolSpec], hosted_zone_id: &str) -> Result<TierSpec, ConfigError> {
        self.validate()?;
        let mut members = Vec::with_capacity(self.zones.len());
        let mut first: Option<&PoolSpec> = None;
        for z in &self.zones {
            let pool = pools
                .iter()
                .find(|p| {
                    p.name
                        .without_dot()
                        .eq_ignore_ascii_case(z.pool.trim_end_matches('.'))
                })
                .ok_or_else(|| {
                    ConfigError::new(
                        "global.zone.pool",
                        &z.pool,
                        "not one of this file's [[pool]] names: the health controller must \
                         watch every pool of the tier",
                    )
                })?;
            if first.is_some_and(|f| f.record_type != pool.record_type) {
                return Err(ConfigError::new(
                    "global.zone.pool",
                    &z.pool,
                    "every pool of the tier needs the same record type",
                ));
            }
            first.get_or_insert(pool);
            let id = SetId::new(z.zone_name()).map_err(|e| {
                ConfigError::new(
                    "global.zone.wavelength_zone",
                    &z.wavelength_zone,
                    e.to_string(),
                )
            })?;
            members.push(TierMember {
                id,
                pool: pool.name.clone(),
                placement: Placement::Geo {
                    place: self.zone_place(z)?,
                    bias: z.bias,
                },
            });
        }
        // validate() guarantees at least one zone, so `first` is set.
        let Some(first) = first else {
            return Err(ConfigError::new(
                "global.zone",
                "0",
                "expected at least one",
            ));
        };
        let fallback = match &self.fallback {
            None => None,
            Some(f) => Some(Fallback {
                placement: Placement::Geo {
                    place: self.fallback_place(f)?,
                    bias: 0,
                },
                target: self.fallback_target(f)?,
            }),
        };
        Ok(TierSpec {
            name: Fqdn::parse(&self.name)
                .map_err(|e| ConfigError::new("global.name", &self.name, e.to_string()))?,
            record_type: first.record_type,
            ttl: self.ttl,
            hosted_zone_id: hosted_zone_id.to_owned(),
            evaluate_target_health: self.evaluate_target_health,
            owner_id: self
                .owner_id
                .clone()
                .unwrap_or_else(|| first.owner_id.clone()),
            ownership_key: first.ownership_key.clone(),
            members,
            fallback,
            cidr_collection: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::model::RecordType;

    const TWO_ZONES: &str = r#"
name = "edge.lab.test"
min_healthy = "50%"
fallback = { addresses = ["198.51.100.7"] }

[[zone]]
pool = "edge.bos.lab.test"
wavelength_zone = "us-east-1-wl1-bos-wlz-1"

[[zone]]
pool = "edge.nyc.lab.test"
wavelength_zone = "nyc"
coordinates = [40.71, -74.01]
bias = 10
"#;

    fn pool(name: &str) -> PoolSpec {
        PoolSpec {
            name: Fqdn::parse(name).unwrap(),
            record_type: RecordType::A,
            ttl: 5,
            owner_id: "lab".into(),
            ownership_key: None,
        }
    }

    fn parse(text: &str) -> GlobalConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_tier_without_an_ownership_key_is_warned_about() {
        let g = parse(TWO_ZONES);
        let pools = [pool("edge.bos.lab.test"), pool("edge.nyc.lab.test")];
        let warning = unsigned_tier_warning(&g.spec(&pools, "Z1").unwrap()).unwrap();
        assert!(
            warning.contains("edge.lab.test")
                && warning.contains("without an ownership key")
                && warning.contains("ownership_key_file in the [[pool]] edge.bos.lab.test"),
            "{warning}"
        );
        let key = registry::mac::OwnershipKey::from_bytes(b"a shared key of 32 bytes, really");
        let keyed = [
            PoolSpec {
                ownership_key: Some(key.unwrap()),
                ..pool("edge.bos.lab.test")
            },
            pool("edge.nyc.lab.test"),
        ];
        assert_eq!(unsigned_tier_warning(&g.spec(&keyed, "Z1").unwrap()), None);
    }

    #[test]
    fn a_tier_is_built_from_the_table_overrides_and_the_pools() {
        let g = parse(TWO_ZONES);
        let pools = [pool("edge.bos.lab.test"), pool("edge.nyc.lab.test")];
        let spec = g.spec(&pools, "Z1").unwrap();
        assert_eq!(spec.members.len(), 2);
        let bos = geo::wavelength_zone("us-east-1-wl1-bos-wlz-1").unwrap();
        assert!(
            matches!(spec.members[0].placement, Placement::Geo { place, .. } if place == bos.coordinates)
        );
        assert!(matches!(
            spec.members[1].placement,
            Placement::Geo { bias: 10, .. }
        ));
        assert_eq!(spec.owner_id, "lab");
        // The fallback sits at the first zone's Region.
        let region = geo::aws_region(bos.region).unwrap().coordinates;
        assert!(
            matches!(spec.fallback.unwrap().placement, Placement::Geo { place, .. } if place == region)
        );
        let p = g.policy().unwrap();
        assert_eq!((p.leave_after, p.return_after, p.fallback), (0, 30, true));
        assert_eq!(p.min_healthy, MinHealthy::Fraction(0.5));
    }

    /// Route 53 allows 30 geoproximity records per name and type (issue 25, item 4): 30 zones,
    /// or 29 and the fallback; one more is refused, naming the quota.
    #[test]
    fn a_tier_has_at_most_thirty_members_counting_the_fallback() {
        let tier = |zones: usize, fallback: bool| {
            let mut text = String::from("name = \"edge.lab.test\"\n");
            if fallback {
                text.push_str(
                    "fallback = { addresses = [\"198.51.100.7\"], region = \"us-east-1\" }\n",
                );
            }
            for i in 0..zones {
                text.push_str(&format!(
                    "[[zone]]\npool = \"p{i}.lab.test\"\nwavelength_zone = \"z{i}\"\ncoordinates = [1, 2]\n"
                ));
            }
            parse(&text).validate()
        };
        assert_eq!(MAX_MEMBERS, 30);
        tier(30, false).unwrap();
        tier(29, true).unwrap();
        for (zones, fallback) in [(31, false), (30, true)] {
            let e = tier(zones, fallback).unwrap_err().to_string();
            assert!(
                e.contains("global.zone")
                    && e.contains("Geoproximity records per record name and type")
                    && e.contains(&format!("expected 1 to {}", 30 - usize::from(fallback))),
                "{e}"
            );
        }
    }

    #[test]
    fn a_zone_id_means_its_zone_name() {
        let by_id = TWO_ZONES.replace("us-east-1-wl1-bos-wlz-1", "use1-wl1-bos-wlz1");
        let pools = [pool("edge.bos.lab.test"), pool("edge.nyc.lab.test")];
        let spec = parse(&by_id).spec(&pools, "Z1").unwrap();
        // The same SetIdentifier and place as the Zone Name gives: one member, either spelling.
        assert_eq!(
            spec.members,
            parse(TWO_ZONES).spec(&pools, "Z1").unwrap().members
        );
        assert_eq!(spec.members[0].id, "us-east-1-wl1-bos-wlz-1");
        // Two spellings of one zone are one zone twice.
        let twice = format!(
            "{TWO_ZONES}\n[[zone]]\npool = \"edge.nyc.lab.test\"\nwavelength_zone = \"use1-wl1-bos-wlz1\"\n"
        );
        let e = parse(&twice).validate().unwrap_err().to_string();
        assert!(e.contains("its own wavelength_zone"), "{e}");
    }

    #[test]
    fn bad_tiers_say_which_key_and_why() {
        let bad = |text: &str| parse(text).validate().unwrap_err().to_string();
        let e = bad(
            "name = \"edge.lab.test\"\n[[zone]]\npool = \"p.lab.test\"\nwavelength_zone = \"atlantis\"",
        );
        assert!(
            e.contains("global.zone.wavelength_zone") && e.contains("coordinates"),
            "{e}"
        );
        let e = bad(
            "name = \"edge.lab.test\"\nmin_healthy = \"150%\"\n[[zone]]\npool = \"p.lab.test\"\nwavelength_zone = \"x\"\ncoordinates = [1, 2]",
        );
        assert!(e.contains("global.min_healthy"), "{e}");
        let e = bad(
            "name = \"edge.lab.test\"\nmin_healthy = 0\n[[zone]]\npool = \"p.lab.test\"\nwavelength_zone = \"x\"\ncoordinates = [1, 2]",
        );
        assert!(e.contains("global.min_healthy"), "{e}");
        let e = bad(
            "name = \"edge.lab.test\"\n[[zone]]\npool = \"p.lab.test\"\nwavelength_zone = \"x\"\ncoordinates = [91, 2]",
        );
        assert!(e.contains("global.zone.coordinates"), "{e}");
        let e = bad(
            "name = \"edge.lab.test\"\n[[zone]]\npool = \"p.lab.test\"\nwavelength_zone = \"x\"\ncoordinates = [1, 2]\nbias = 100",
        );
        assert!(e.contains("global.zone.bias"), "{e}");
        let e = bad("name = \"edge.lab.test\"");
        assert!(e.contains("global.zone"), "{e}");
        let e = bad(
            "name = \"edge.lab.test\"\nfallback = { addresses = [\"192.0.2.1\"], name = \"r.lab.test\" }\n[[zone]]\npool = \"p.lab.test\"\nwavelength_zone = \"x\"\ncoordinates = [1, 2]",
        );
        assert!(e.contains("exactly one of addresses"), "{e}");
        let e = bad(
            "name = \"edge.lab.test\"\n[[zone]]\npool = \"p.lab.test\"\nwavelength_zone = \"x\"\ncoordinates = [1, 2]\n[[zone]]\npool = \"q.lab.test\"\nwavelength_zone = \"x\"\ncoordinates = [1, 2]",
        );
        assert!(e.contains("its own wavelength_zone"), "{e}");
        // A zone whose pool the controller does not watch.
        let e = parse(TWO_ZONES)
            .spec(&[pool("edge.bos.lab.test")], "Z1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("edge.nyc.lab.test") && e.contains("[[pool]]"),
            "{e}"
        );
    }
}

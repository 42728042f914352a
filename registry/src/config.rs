//! The `[pool]` and `[route53]` configuration sections, shared by every subcommand that touches
//! a pool, and their validation. Every error names the key, the bad value and what is allowed.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::mac::OwnershipKey;
use crate::model::{PoolSpec, RecordType};
use crate::name::Fqdn;

/// A configuration value that is well-formed TOML but not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value}: {problem}")]
pub struct ConfigError {
    /// The dotted key (`pool.ttl`).
    pub key: String,
    /// The bad value, as written.
    pub value: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl ConfigError {
    /// A new error about `key`.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            problem: problem.into(),
        }
    }
}

/// Deserialises a TTL in whole seconds, written as an integer (`30`) or as a duration (`"30s"`,
/// `"1m"`). The range is checked by [`PoolConfig::validate`].
fn ttl_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct Ttl;
    impl serde::de::Visitor<'_> for Ttl {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(TTL_EXPECTED)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            // Out of range either way: validation says so with the value.
            Ok(i64::try_from(v).unwrap_or(i64::MAX))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<i64, E> {
            parse_ttl(v).map_err(E::custom)
        }
    }
    d.deserialize_any(Ttl)
}

/// What a TTL may be written as.
const TTL_EXPECTED: &str = "whole seconds, as an integer (30) or a duration (\"30s\", \"1m\")";

/// A TTL written as a duration (`"30s"`, `"1m"`, `"1h 30m"`), in whole seconds.
fn parse_ttl(text: &str) -> Result<i64, TtlError> {
    let duration = humantime::parse_duration(text).map_err(|source| TtlError::NotADuration {
        text: text.to_owned(),
        source,
    })?;
    if duration.subsec_nanos() != 0 {
        return Err(TtlError::Fraction(text.to_owned()));
    }
    Ok(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX))
}

/// A TTL written as text that is not one.
#[derive(Debug, thiserror::Error)]
enum TtlError {
    /// Not a duration at all.
    #[error("{text:?} is not a TTL ({source}); expected {TTL_EXPECTED}")]
    NotADuration {
        text: String,
        source: humantime::DurationError,
    },
    /// A duration with a fraction of a second.
    #[error("{0:?} is not a TTL: DNS TTLs are whole seconds; expected {TTL_EXPECTED}")]
    Fraction(String),
}

/// Where the pool's hosted zone is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneRef {
    /// A hosted zone id (`Z0123…`).
    Id(String),
    /// A zone name, looked up with ListHostedZonesByName.
    Name(Fqdn),
}

/// The placeholders a pool name may use, and the values to fill in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    /// `{wavelength_zone}`: the Wavelength Zone, e.g. `us-east-1-wl1-bos-wlz-1`.
    pub wavelength_zone: Option<String>,
    /// `{region}`: the AWS region.
    pub region: Option<String>,
    /// `{az}`: the availability zone name.
    pub az: Option<String>,
}

/// `[ec2]`: the EC2 API the agent (Carrier IP discovery) and the health controller (whether
/// an instance is gone) call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2Config {
    /// An endpoint override (an emulator such as moto); unset, the region's public endpoint.
    pub endpoint_url: Option<String>,
    /// The region to ask. Unset: the agent uses its instance's region from IMDS; the health
    /// controller uses the SDK's region chain (`AWS_REGION`, the profile) and refuses to
    /// start without one.
    pub region: Option<String>,
}

/// `[pool]`: the weighted name and how its records look.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// The weighted name; may contain `{wavelength_zone}`, `{region}` and `{az}`.
    pub name: String,
    /// `A` or `AAAA`.
    #[serde(default = "default_record_type")]
    pub record_type: RecordType,
    /// TTL of every record set, 1–2147483647 seconds: an integer (`30`) or a duration
    /// (`"30s"`, `"1m"`).
    #[serde(default = "default_ttl", deserialize_with = "ttl_seconds")]
    pub ttl: i64,
    /// The hosted zone id.
    pub hosted_zone_id: Option<String>,
    /// The hosted zone name (instead of `hosted_zone_id`).
    pub zone: Option<String>,
    /// Who owns the records this process writes.
    #[serde(default = "default_owner")]
    pub owner_id: String,
    /// A file holding the shared ownership key (16–4096 bytes; surrounding white space is
    /// ignored). When set, every ownership record written is signed (`mac=`) and only records
    /// whose MAC verifies are treated as this owner's. The key is never written in the config.
    pub ownership_key_file: Option<PathBuf>,
}

fn default_record_type() -> RecordType {
    RecordType::A
}
fn default_ttl() -> i64 {
    30
}
fn default_owner() -> String {
    "wavelb".into()
}

const PLACEHOLDERS: [&str; 3] = ["wavelength_zone", "region", "az"];

impl PoolConfig {
    /// Validates everything that does not depend on placeholders.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.zone_ref()?;
        self.checked_ttl()?;
        check_owner_id(&self.owner_id)?;
        // Fill every placeholder with a valid label so the rest of the name is checked now.
        let sample = Placeholders {
            wavelength_zone: Some("x".into()),
            region: Some("x".into()),
            az: Some("x".into()),
        };
        self.spec(&sample).map(|_| ())
    }

    /// Where the hosted zone is. Exactly one of `zone` and `hosted_zone_id` must be set.
    pub fn zone_ref(&self) -> Result<ZoneRef, ConfigError> {
        match (&self.hosted_zone_id, &self.zone) {
            (Some(id), None) => {
                let id = id.trim_start_matches("/hostedzone/");
                if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(ConfigError::new(
                        "pool.hosted_zone_id",
                        format!("{id:?}"),
                        "expected a hosted zone id such as \"Z0123456789ABCDEFGHIJ\"",
                    ));
                }
                Ok(ZoneRef::Id(id.to_owned()))
            }
            (None, Some(name)) => Fqdn::parse(name)
                .map(ZoneRef::Name)
                .map_err(|e| ConfigError::new("pool.zone", format!("{name:?}"), e.to_string())),
            (Some(_), Some(_)) => Err(ConfigError::new(
                "pool.zone",
                "(set together with pool.hosted_zone_id)",
                "set either pool.zone or pool.hosted_zone_id, not both",
            )),
            (None, None) => Err(ConfigError::new(
                "pool.zone",
                "(missing)",
                "set pool.zone (a zone name) or pool.hosted_zone_id",
            )),
        }
    }

    fn checked_ttl(&self) -> Result<u32, ConfigError> {
        u32::try_from(self.ttl)
            .ok()
            .filter(|t| (1..=2_147_483_647).contains(t))
            .ok_or_else(|| {
                ConfigError::new(
                    "pool.ttl",
                    self.ttl.to_string(),
                    "expected 1 to 2147483647 seconds: an integer (30) or a duration (\"30s\", \"1m\")",
                )
            })
    }

    /// The pool with placeholders filled in. A placeholder without a value is an error that
    /// says which subcommand can fill it in.
    pub fn spec(&self, vars: &Placeholders) -> Result<PoolSpec, ConfigError> {
        let name = render(&self.name, vars)?;
        let name = Fqdn::parse(&name).map_err(|e| {
            ConfigError::new("pool.name", format!("{:?}", self.name), e.to_string())
        })?;
        if let ZoneRef::Name(zone) = self.zone_ref()?
            && (!name.is_within(&zone) || name == zone)
        {
            return Err(ConfigError::new(
                "pool.name",
                format!("{:?}", self.name),
                format!("the pool name must lie below pool.zone ({zone})"),
            ));
        }
        Ok(PoolSpec {
            name,
            record_type: self.record_type,
            ttl: self.checked_ttl()?,
            owner_id: self.owner_id.clone(),
            ownership_key: self.ownership_key()?,
        })
    }

    /// Reads `ownership_key_file`, when set.
    fn ownership_key(&self) -> Result<Option<OwnershipKey>, ConfigError> {
        let Some(path) = &self.ownership_key_file else {
            return Ok(None);
        };
        OwnershipKey::from_file(path).map(Some).map_err(|e| {
            ConfigError::new(
                "pool.ownership_key_file",
                format!("{:?}", path.display().to_string()),
                e.to_string(),
            )
        })
    }
}

fn render(template: &str, vars: &Placeholders) -> Result<String, ConfigError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            ConfigError::new(
                "pool.name",
                format!("{template:?}"),
                "a '{' is not closed; placeholders are {wavelength_zone}, {region} and {az}",
            )
        })?;
        let key = &after[..close];
        let value = match key {
            "wavelength_zone" => vars.wavelength_zone.as_deref(),
            "region" => vars.region.as_deref(),
            "az" => vars.az.as_deref(),
            _ => {
                return Err(ConfigError::new(
                    "pool.name",
                    format!("{template:?}"),
                    format!(
                        "unknown placeholder {{{key}}}; allowed are {}",
                        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                    ),
                ));
            }
        };
        let value = value.ok_or_else(|| {
            ConfigError::new(
                "pool.name",
                format!("{template:?}"),
                format!(
                    "the placeholder {{{key}}} is only known to `wavelb agent` on an instance; \
                     write the concrete name here"
                ),
            )
        })?;
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An owner id goes into TXT strings unquoted: letters, digits, `.`, `_`, `-`; 1–64 characters.
pub fn check_owner_id(owner: &str) -> Result<(), ConfigError> {
    if crate::txt::is_token(owner) {
        Ok(())
    } else {
        Err(ConfigError::new(
            "pool.owner_id",
            format!("{owner:?}"),
            "expected 1-64 characters of letters, digits, '.', '_' or '-'",
        ))
    }
}

/// `[route53]`: how to reach Route 53 (or the lab resolver, or an emulator).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Config {
    /// An endpoint override (`http://127.0.0.1:8053`).
    pub endpoint_url: Option<String>,
    /// The signing region. Route 53 is global; `us-east-1` is right for it.
    #[serde(default = "default_region")]
    pub region: String,
    /// The client-side request rate limit.
    #[serde(default = "default_rate")]
    pub max_requests_per_second: f64,
    /// Attempts per request, including the first. Throttled attempts do not count: they are
    /// retried for up to two minutes.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// The longest wait between retries of a throttled request (jittered, from 200ms up).
    #[serde(
        default = "default_throttle_max_delay",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub throttle_max_delay: Duration,
    /// Poll GetChange after every batch until the change is INSYNC.
    #[serde(default)]
    pub wait_for_insync: bool,
    /// How long to wait for INSYNC before giving up.
    #[serde(
        default = "default_insync_timeout",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub insync_timeout: Duration,
    /// How long one HTTP attempt may take before it is abandoned and retried.
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub request_timeout: Duration,
    /// The account's quota of record sets per hosted zone: Route 53's 10 000 unless AWS raised
    /// it on request. Only counted against (`wavelb health --check-config`), never enforced.
    #[serde(default = "default_zone_quota")]
    pub max_record_sets_per_zone: usize,
    /// The share of the account's 5 requests/s this fleet may plan to spend in steady state:
    /// `wavelb health --check-config` warns above it ([`crate::budget`]). Never enforced.
    #[serde(default = "default_budget_share")]
    pub budget_share: f64,
}

fn default_region() -> String {
    "us-east-1".into()
}
fn default_rate() -> f64 {
    4.0
}
fn default_attempts() -> u32 {
    8
}
fn default_throttle_max_delay() -> Duration {
    Duration::from_secs(3)
}
fn default_insync_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_budget_share() -> f64 {
    0.5
}
fn default_zone_quota() -> usize {
    crate::quota::DEFAULT_QUOTA
}

impl Default for Route53Config {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            region: default_region(),
            max_requests_per_second: default_rate(),
            max_attempts: default_attempts(),
            throttle_max_delay: default_throttle_max_delay(),
            wait_for_insync: false,
            insync_timeout: default_insync_timeout(),
            request_timeout: default_request_timeout(),
            max_record_sets_per_zone: default_zone_quota(),
            budget_share: default_budget_share(),
        }
    }
}

impl Route53Config {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.endpoint_url {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.len() > "https://".len();
            if !ok {
                return Err(ConfigError::new(
                    "route53.endpoint_url",
                    format!("{url:?}"),
                    "expected an http:// or https:// URL such as \"http://127.0.0.1:8053\"",
                ));
            }
        }
        if self.region.is_empty() {
            return Err(ConfigError::new(
                "route53.region",
                "\"\"",
                "expected a region such as \"us-east-1\"",
            ));
        }
        if self.max_record_sets_per_zone == 0 {
            return Err(ConfigError::new(
                "route53.max_record_sets_per_zone",
                "0",
                "expected the quota of record sets per hosted zone, 10000 unless AWS raised it",
            ));
        }
        if !(self.budget_share > 0.0 && self.budget_share <= 1.0) {
            return Err(ConfigError::new(
                "route53.budget_share",
                self.budget_share.to_string(),
                "expected a fraction above 0 and at most 1 of the account's 5 requests/s",
            ));
        }
        if !(self.max_requests_per_second > 0.0 && self.max_requests_per_second <= 1000.0) {
            return Err(ConfigError::new(
                "route53.max_requests_per_second",
                self.max_requests_per_second.to_string(),
                "expected a number above 0 and at most 1000 (Route 53 allows about 5 per second per account)",
            ));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(ConfigError::new(
                "route53.max_attempts",
                self.max_attempts.to_string(),
                "expected an integer from 1 to 100",
            ));
        }
        for (key, value) in [
            ("route53.insync_timeout", self.insync_timeout),
            ("route53.request_timeout", self.request_timeout),
            ("route53.throttle_max_delay", self.throttle_max_delay),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(
                    key,
                    "\"0s\"",
                    "expected a duration above zero",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(toml_text: &str) -> PoolConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn defaults_and_spec() {
        let p = pool("name = \"Edge.Example.com\"\nzone = \"example.com\"");
        let spec = p.spec(&Placeholders::default()).unwrap();
        assert_eq!(spec.name.as_str(), "edge.example.com.");
        assert_eq!(spec.ttl, 30);
        assert_eq!(spec.owner_id, "wavelb");
        assert_eq!(spec.record_type, RecordType::A);
        assert_eq!(spec.ownership_key, None);
    }

    #[test]
    fn the_ownership_key_is_read_from_its_file() {
        let dir = std::env::temp_dir().join(format!("wavelb-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, "0123456789abcdef0123456789abcdef\n").unwrap();
        let short = dir.join("short");
        std::fs::write(&short, "tiny").unwrap();
        let with = |path: &std::path::Path| {
            pool(&format!(
                "name = \"a.example.com\"\nzone = \"example.com\"\nownership_key_file = {:?}",
                path.display().to_string()
            ))
        };
        let spec = with(&good).spec(&Placeholders::default()).unwrap();
        assert_eq!(
            spec.ownership_key,
            Some(OwnershipKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap())
        );
        for bad in [short, dir.join("missing")] {
            let e = with(&bad).validate().unwrap_err();
            assert_eq!(e.key, "pool.ownership_key_file", "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn placeholders() {
        let p = pool("name = \"edge.{wavelength_zone}.example.com\"\nzone = \"example.com\"");
        p.validate().unwrap();
        let err = p.spec(&Placeholders::default()).unwrap_err();
        assert_eq!(err.key, "pool.name");
        assert!(err.problem.contains("{wavelength_zone}"), "{err}");
        let vars = Placeholders {
            wavelength_zone: Some("us-east-1-wl1-bos-wlz-1".into()),
            ..Placeholders::default()
        };
        assert_eq!(
            p.spec(&vars).unwrap().name.as_str(),
            "edge.us-east-1-wl1-bos-wlz-1.example.com."
        );
        let bad = pool("name = \"edge.{zone}.example.com\"\nzone = \"example.com\"");
        assert!(
            bad.validate()
                .unwrap_err()
                .problem
                .contains("unknown placeholder {zone}")
        );
    }

    /// Issue 24, item 9: `ttl = "30s"` used to fail with "expected i64".
    #[test]
    fn ttl_is_seconds_or_a_duration() {
        let ttl = |value: &str| {
            toml::from_str::<PoolConfig>(&format!(
                "name = \"a.example.com\"\nzone = \"example.com\"\nttl = {value}"
            ))
            .map(|p| p.ttl)
            .map_err(|e| e.to_string())
        };
        assert_eq!(ttl("30"), Ok(30));
        assert_eq!(ttl("\"30s\""), Ok(30));
        assert_eq!(ttl("\"1m\""), Ok(60));
        assert_eq!(ttl("\"1h 30m\""), Ok(5400));
        for (bad, says) in [
            ("\"30\"", "\"30\" is not a TTL"),
            ("\"fast\"", "\"fast\" is not a TTL"),
            ("\"1500ms\"", "DNS TTLs are whole seconds"),
            ("1.5", "invalid type: floating point `1.5`"),
            ("true", "invalid type: boolean `true`"),
        ] {
            let e = ttl(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains("an integer (30) or a duration"), "{bad}: {e}");
        }
        // The range is checked as for an integer.
        let e = pool("name = \"a.example.com\"\nzone = \"example.com\"\nttl = \"0s\"")
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "pool.ttl");
        let e = pool("name = \"a.example.com\"\nzone = \"example.com\"\nttl = \"100y\"")
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "pool.ttl");
        assert_eq!(
            pool("name = \"a.example.com\"\nzone = \"example.com\"\nttl = \"5m\"")
                .spec(&Placeholders::default())
                .unwrap()
                .ttl,
            300
        );
    }

    #[test]
    fn errors_name_key_value_and_allowed() {
        let e = pool("name = \"a.example.com\"\nzone = \"example.com\"\nttl = 0")
            .validate()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pool.ttl = 0: expected 1 to 2147483647 seconds: an integer (30) or a duration (\"30s\", \"1m\")"
        );
        let e = pool("name = \"a.example.com\"").validate().unwrap_err();
        assert_eq!(e.key, "pool.zone");
        let e = pool("name = \"a.other.com\"\nzone = \"example.com\"")
            .validate()
            .unwrap_err();
        assert!(e.problem.contains("below pool.zone"));
        let e = pool("name = \"a.example.com\"\nzone = \"example.com\"\nowner_id = \"a b\"")
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "pool.owner_id");
        let r: Route53Config = toml::from_str("max_requests_per_second = 0").unwrap();
        assert_eq!(
            r.validate().unwrap_err().key,
            "route53.max_requests_per_second"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err =
            toml::from_str::<PoolConfig>("name = \"a.b\"\nzone = \"b\"\ntll = 5").unwrap_err();
        assert!(err.to_string().contains("tll"), "{err}");
    }
}

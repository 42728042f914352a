//! Route 53 health checks as the lab keeps them: the configuration (`HealthCheckConfig`), its
//! validation with Route 53's rules and messages, UpdateHealthCheck's merge, and the pure status
//! step: probe results in (through `probe::state`'s hysteresis, `FailureThreshold` both ways),
//! healthy or unhealthy out, `Disabled`, `Inverted` and `CALCULATED` applied. No I/O and no clock:
//! [`checker`] probes and passes the results and times in.
//!
//! The feature's other parts: [`address`] (which addresses a check may reach), [`store`] (the
//! store's health checks and what the probes found), [`xml`] and [`api`] (the operations).

use std::collections::BTreeMap;
use std::net::IpAddr;

use probe::state::{Health, TargetHealth, Thresholds};
use serde::{Deserialize, Serialize};

pub mod address;
pub mod api;
pub mod checker;
pub mod store;
pub mod xml;

/// Route 53's default quota on health checks per account (`MAX_HEALTH_CHECKS_BY_OWNER`); the lab
/// keeps the same bound.
pub const MAX_HEALTH_CHECKS: usize = 200;
/// Route 53's longest `ResourcePath`, `FullyQualifiedDomainName` and `SearchString`.
pub const MAX_STRING_CHARS: usize = 255;
/// Route 53's longest health check id (`ChildHealthCheck`, `HealthCheckId`).
pub const MAX_ID_CHARS: usize = 64;
/// Route 53's most children of a CALCULATED health check (and largest `HealthThreshold`).
pub const MAX_CHILDREN: usize = 256;
/// Route 53's longest `CallerReference` of a health check.
pub const MAX_CALLER_REFERENCE_CHARS: usize = 64;
/// Route 53's fewest `Regions` of a health check, when the element is given (API reference,
/// `HealthCheckConfig`: "Array Members: Minimum number of 3 items. Maximum number of 64 items").
pub const MIN_REGIONS: usize = 3;
/// Route 53's most `Regions` of a health check.
pub const MAX_REGIONS: usize = 64;
/// The Regions Route 53's health checkers run in: the valid values of `HealthCheckRegion` (API
/// reference, `HealthCheckConfig`, `Regions`). A check without `Regions` is checked from all
/// of them.
pub const CHECKER_REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];

/// A health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// The id: a random UUID, as Route 53 gives.
    pub id: String,
    /// The caller reference it was created with.
    pub caller_reference: String,
    /// Its settings.
    pub config: HealthCheckConfig,
    /// `HealthCheckVersion`: 1 at creation, one more with every update.
    pub version: u64,
}

/// The kinds of health check the lab runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckType {
    /// An HTTP GET; healthy on a 2xx or 3xx status.
    #[serde(rename = "HTTP")]
    Http,
    /// An HTTPS GET (the certificate is not verified, as Route 53 does not).
    #[serde(rename = "HTTPS")]
    Https,
    /// HTTP, and the first 5 120 bytes of the body contain `SearchString`.
    #[serde(rename = "HTTP_STR_MATCH")]
    HttpStrMatch,
    /// HTTPS, and the first 5 120 bytes of the body contain `SearchString`.
    #[serde(rename = "HTTPS_STR_MATCH")]
    HttpsStrMatch,
    /// A TCP connection within ten seconds.
    #[serde(rename = "TCP")]
    Tcp,
    /// The status of other health checks (`ChildHealthChecks`, `HealthThreshold`).
    #[serde(rename = "CALCULATED")]
    Calculated,
}

impl CheckType {
    /// Route 53's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
            Self::HttpStrMatch => "HTTP_STR_MATCH",
            Self::HttpsStrMatch => "HTTPS_STR_MATCH",
            Self::Tcp => "TCP",
            Self::Calculated => "CALCULATED",
        }
    }

    /// The type named `s`; `Err` with Route 53's message for anything else.
    pub fn parse(s: &str) -> Result<Self, InvalidConfig> {
        Ok(match s {
            "HTTP" => Self::Http,
            "HTTPS" => Self::Https,
            "HTTP_STR_MATCH" => Self::HttpStrMatch,
            "HTTPS_STR_MATCH" => Self::HttpsStrMatch,
            "TCP" => Self::Tcp,
            "CALCULATED" => Self::Calculated,
            "CLOUDWATCH_METRIC" | "RECOVERY_CONTROL" => {
                return Err(InvalidConfig::UnsupportedType(s.to_owned()));
            }
            other => return Err(invalid("type", other, Constraint::OneOf(&ROUTE53_TYPES))),
        })
    }

    /// True for the types that probe an endpoint (all but CALCULATED).
    pub fn probes(self) -> bool {
        self != Self::Calculated
    }

    /// True for HTTPS and HTTPS_STR_MATCH.
    pub fn tls(self) -> bool {
        matches!(self, Self::Https | Self::HttpsStrMatch)
    }

    /// True for the types that search the body.
    pub fn matches_string(self) -> bool {
        matches!(self, Self::HttpStrMatch | Self::HttpsStrMatch)
    }

    /// The port used when `Port` is absent (Route 53: 80 for HTTP, 443 for HTTPS).
    fn default_port(self) -> Option<u16> {
        match self {
            Self::Http | Self::HttpStrMatch => Some(80),
            Self::Https | Self::HttpsStrMatch => Some(443),
            Self::Tcp | Self::Calculated => None,
        }
    }
}

/// A health check's settings (`HealthCheckConfig`), defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckConfig {
    /// `Type`.
    pub check_type: CheckType,
    /// `IPAddress`: the address probed (the lab requires it for endpoint checks).
    pub ip_address: Option<IpAddr>,
    /// `Port` (default 80 for HTTP, 443 for HTTPS; required for TCP).
    pub port: Option<u16>,
    /// `ResourcePath` (HTTP and HTTPS types).
    pub resource_path: Option<String>,
    /// `FullyQualifiedDomainName`: sent as `Host` (and as the TLS server name).
    pub fqdn: Option<String>,
    /// `SearchString` of the `*_STR_MATCH` types.
    pub search_string: Option<String>,
    /// `RequestInterval`, 10 or 30 seconds (default 30); it cannot be updated.
    pub request_interval: u32,
    /// `FailureThreshold`, 1–10 (default 3): consecutive results to change the status.
    pub failure_threshold: u32,
    /// `MeasureLatency` (accepted and echoed; the lab keeps no latency graphs).
    pub measure_latency: bool,
    /// `Inverted`: the status is reversed.
    pub inverted: bool,
    /// `Disabled`: no probes; the check counts as healthy (before `Inverted`).
    pub disabled: bool,
    /// `HealthThreshold` of a CALCULATED check: healthy children needed (0–256).
    pub health_threshold: Option<u32>,
    /// `ChildHealthChecks` of a CALCULATED check.
    pub children: Vec<String>,
    /// `EnableSNI` (HTTPS types; default true).
    pub enable_sni: Option<bool>,
    /// `Regions`: 3–64 of [`CHECKER_REGIONS`], or none (all of them). The lab probes from one
    /// place and names each probe after the next of them in turn ([`Self::checker_regions`]).
    pub regions: Vec<String>,
}

/// A request's `HealthCheckConfig` or UpdateHealthCheck fields as written, before defaults and
/// validation. Numbers are kept as text so that a bad one gets Route 53's message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigInput {
    /// `Type` (absent in UpdateHealthCheck).
    pub check_type: Option<String>,
    /// `IPAddress`.
    pub ip_address: Option<String>,
    /// `Port`.
    pub port: Option<String>,
    /// `ResourcePath`.
    pub resource_path: Option<String>,
    /// `FullyQualifiedDomainName`.
    pub fqdn: Option<String>,
    /// `SearchString`.
    pub search_string: Option<String>,
    /// `RequestInterval`.
    pub request_interval: Option<String>,
    /// `FailureThreshold`.
    pub failure_threshold: Option<String>,
    /// `MeasureLatency`.
    pub measure_latency: Option<String>,
    /// `Inverted`.
    pub inverted: Option<String>,
    /// `Disabled`.
    pub disabled: Option<String>,
    /// `HealthThreshold`.
    pub health_threshold: Option<String>,
    /// `ChildHealthChecks`, when the element is present.
    pub children: Option<Vec<String>>,
    /// `EnableSNI`.
    pub enable_sni: Option<String>,
    /// `Regions`, when the element is present.
    pub regions: Option<Vec<String>>,
    /// UpdateHealthCheck's `ResetElements` (`FullyQualifiedDomainName`, `Regions`,
    /// `ResourcePath`, `ChildHealthChecks`).
    pub reset: Vec<String>,
}

/// `Regions` as Route 53 validates it: 3–64 members, each one of [`CHECKER_REGIONS`].
fn checked_regions(regions: Vec<String>) -> Result<Vec<String>, InvalidConfig> {
    let n = regions.len();
    if !(MIN_REGIONS..=MAX_REGIONS).contains(&n) {
        let bound = if n < MIN_REGIONS {
            Bound::AtLeast(MIN_REGIONS)
        } else {
            Bound::AtMost(MAX_REGIONS)
        };
        return Err(InvalidConfig::Length {
            field: "regions",
            bound,
            count: n,
            unit: " members",
        });
    }
    for r in &regions {
        let r = bounded("regions.member", r.clone(), MAX_ID_CHARS)?;
        if !CHECKER_REGIONS.contains(&r.as_str()) {
            return Err(invalid(
                "regions.member",
                &r.escape_default().to_string(),
                Constraint::OneOf(&CHECKER_REGIONS),
            ));
        }
    }
    Ok(regions)
}

/// The `Type` values Route 53 knows (the lab runs all but the last two).
const ROUTE53_TYPES: [&str; 8] = [
    "HTTP",
    "HTTPS",
    "HTTP_STR_MATCH",
    "HTTPS_STR_MATCH",
    "TCP",
    "CALCULATED",
    "CLOUDWATCH_METRIC",
    "RECOVERY_CONTROL",
];

/// The elements UpdateHealthCheck's `ResetElements` may name.
const RESET_ELEMENTS: [&str; 4] = [
    "FullyQualifiedDomainName",
    "Regions",
    "ResourcePath",
    "ChildHealthChecks",
];

/// A health check configuration Route 53 refuses, as its `InvalidInput`: the field, the value
/// and the rule. Displayed as Route 53's message, which the API returns verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidConfig {
    /// CreateHealthCheck without `Type`.
    #[error("HealthCheckConfig lacks Type")]
    MissingType,
    /// A type Route 53 has and the lab does not run.
    #[error(
        "health checks of type {0} are not supported by the lab resolver (it runs HTTP, HTTPS, \
         HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP and CALCULATED)"
    )]
    UnsupportedType(String),
    /// A value that breaks a field's rule (`healthCheckConfig.<field>`).
    #[error(
        "1 validation error detected: Value '{value}' at 'healthCheckConfig.{field}' failed to \
         satisfy constraint: {constraint}"
    )]
    Constraint {
        /// The field, as Route 53 names it (`requestInterval`, `regions.member`).
        field: &'static str,
        /// The value as written (escaped where it may hold control characters).
        value: String,
        /// The rule.
        constraint: Constraint,
    },
    /// A list or text outside its length bound.
    #[error(
        "1 validation error detected: Value at 'healthCheckConfig.{field}' failed to satisfy \
         constraint: Member must have length {bound} (it has {count}{unit})"
    )]
    Length {
        /// The field, as Route 53 names it.
        field: &'static str,
        /// The bound broken.
        bound: Bound,
        /// The length it has.
        count: usize,
        /// What is counted (` members`, ` characters`), or nothing.
        unit: &'static str,
    },
    /// `IPAddress` is not an address.
    #[error("Invalid IP address '{0}': IPAddress must be an IPv4 or IPv6 address")]
    NotAnAddress(String),
    /// `IPAddress` is one Route 53 never probes ([`address::refused`]).
    #[error(
        "Invalid IP address '{written}': {refused}. Route 53 does not check link-local, \
         multicast, broadcast, reserved or unspecified addresses, however they are written (the \
         lab allows loopback and private ones)"
    )]
    RefusedAddress {
        /// The address as written.
        written: String,
        /// What it reaches, and why that is refused.
        refused: address::Refused,
    },
    /// UpdateHealthCheck with `Type` or `RequestInterval`.
    #[error(
        "UpdateHealthCheck cannot change Type or RequestInterval; create a new health check \
         instead"
    )]
    Immutable,
    /// An endpoint check without `IPAddress` (the lab does not resolve names).
    #[error(
        "A health check of type {} needs IPAddress in the lab resolver (it does not resolve \
         FullyQualifiedDomainName; set both to send the name as Host)",
        .0.as_str()
    )]
    NeedsAddress(CheckType),
    /// A TCP check without `Port`.
    #[error("Port is required for a health check of type TCP")]
    TcpNeedsPort,
    /// `HealthThreshold` or `ChildHealthChecks` on an endpoint check.
    #[error(
        "HealthThreshold and ChildHealthChecks are only valid for CALCULATED health checks, not \
         {}",
        .0.as_str()
    )]
    ChildrenNeedCalculated(CheckType),
    /// An endpoint's fields on a CALCULATED check.
    #[error(
        "IPAddress, Port and FullyQualifiedDomainName are not valid for a CALCULATED health check"
    )]
    EndpointOnCalculated,
    /// A `*_STR_MATCH` type without `SearchString`.
    #[error("SearchString is required for type {}", .0.as_str())]
    SearchStringRequired(CheckType),
    /// `SearchString` on a type that does not match strings.
    #[error("SearchString is not valid for type {}", .0.as_str())]
    SearchStringInvalid(CheckType),
    /// `ResourcePath` on a TCP check.
    #[error("ResourcePath is not valid for a health check of type TCP")]
    TcpResourcePath,
}

/// A rule a field's value breaks, in Route 53's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Constraint {
    /// One of a fixed set.
    #[error("Member must satisfy enum value set: [{}]", .0.join(", "))]
    OneOf(&'static [&'static str]),
    /// A number in a range.
    #[error("Member must have value between {0} and {1}")]
    Between(u32, u32),
    /// `RequestInterval`.
    #[error("Member must be 10 or 30 (seconds)")]
    TenOrThirty,
    /// A boolean.
    #[error("Member must be true or false")]
    Boolean,
    /// One token of an HTTP request line.
    #[error("Member must not contain spaces or control characters")]
    OneToken,
    /// Not empty.
    #[error("Member must have length greater than or equal to 1")]
    NotEmpty,
}

/// A length bound, in Route 53's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Bound {
    /// At least this many.
    #[error("greater than or equal to {0}")]
    AtLeast(usize),
    /// At most this many.
    #[error("less than or equal to {0}")]
    AtMost(usize),
}

fn invalid(field: &'static str, value: &str, constraint: Constraint) -> InvalidConfig {
    InvalidConfig::Constraint {
        field,
        value: value.to_owned(),
        constraint,
    }
}

fn number(field: &'static str, value: &str, min: u32, max: u32) -> Result<u32, InvalidConfig> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| invalid(field, value, Constraint::Between(min, max)))
}

fn boolean(field: &'static str, value: &str) -> Result<bool, InvalidConfig> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(invalid(field, other, Constraint::Boolean)),
    }
}

fn bounded(field: &'static str, value: String, max: usize) -> Result<String, InvalidConfig> {
    let count = value.chars().count();
    if count > max {
        return Err(InvalidConfig::Length {
            field,
            bound: Bound::AtMost(max),
            count,
            unit: " characters",
        });
    }
    Ok(value)
}

/// `value` when it is one token of an HTTP request line or `Host` header: no whitespace or
/// control characters (which would end the line and start another header).
fn one_token(field: &'static str, value: String) -> Result<String, InvalidConfig> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            field,
            &value.escape_default().to_string(),
            Constraint::OneToken,
        ));
    }
    Ok(value)
}

impl ConfigInput {
    /// The configuration of a new health check: Route 53's defaults filled in and its rules
    /// checked (except that children exist: [`crate::store`] knows the other checks).
    ///
    /// # Errors
    ///
    /// An `InvalidInput` message naming the field and the rule.
    pub fn create(self) -> Result<HealthCheckConfig, InvalidConfig> {
        let type_text = self.check_type.clone().ok_or(InvalidConfig::MissingType)?;
        let check_type = CheckType::parse(&type_text)?;
        let request_interval = match &self.request_interval {
            None => 30,
            Some(v) if v == "10" || v == "30" => number("requestInterval", v, 10, 30)?,
            Some(v) => {
                return Err(invalid("requestInterval", v, Constraint::TenOrThirty));
            }
        };
        let blank = HealthCheckConfig {
            check_type,
            ip_address: None,
            port: None,
            resource_path: None,
            fqdn: None,
            search_string: None,
            request_interval,
            failure_threshold: 3,
            measure_latency: false,
            inverted: false,
            disabled: false,
            health_threshold: None,
            children: Vec::new(),
            enable_sni: check_type.tls().then_some(true),
            regions: Vec::new(),
        };
        let measure_latency = self
            .measure_latency
            .as_deref()
            .map(|v| boolean("measureLatency", v))
            .transpose()?;
        let mut config = self.apply(blank)?;
        if let Some(m) = measure_latency {
            config.measure_latency = m;
        }
        config.check()?;
        Ok(config)
    }

    /// `current` with this UpdateHealthCheck's fields applied (and its `ResetElements`), checked
    /// as a new configuration is. `Type` and `RequestInterval` cannot change (Route 53's
    /// UpdateHealthCheck has neither).
    ///
    /// # Errors
    ///
    /// An `InvalidInput` message naming the field and the rule.
    pub fn update(self, current: &HealthCheckConfig) -> Result<HealthCheckConfig, InvalidConfig> {
        if self.check_type.is_some() || self.request_interval.is_some() {
            return Err(InvalidConfig::Immutable);
        }
        let config = self.apply(current.clone())?;
        config.check()?;
        Ok(config)
    }

    /// The fields both requests share, written over `config`.
    fn apply(self, mut config: HealthCheckConfig) -> Result<HealthCheckConfig, InvalidConfig> {
        for element in &self.reset {
            match element.as_str() {
                "FullyQualifiedDomainName" => config.fqdn = None,
                "Regions" => config.regions.clear(),
                "ResourcePath" => config.resource_path = None,
                "ChildHealthChecks" => config.children.clear(),
                other => {
                    return Err(invalid(
                        "resetElements",
                        other,
                        Constraint::OneOf(&RESET_ELEMENTS),
                    ));
                }
            }
        }
        if let Some(ip) = self.ip_address {
            let Ok(parsed) = ip.parse::<IpAddr>() else {
                return Err(InvalidConfig::NotAnAddress(ip));
            };
            if let Some(refused) = address::refused(parsed) {
                return Err(InvalidConfig::RefusedAddress {
                    written: ip,
                    refused,
                });
            }
            config.ip_address = Some(parsed);
        }
        if let Some(p) = self.port {
            config.port =
                Some(number("port", &p, 1, 65_535).map(|p| u16::try_from(p).unwrap_or(u16::MAX))?);
        }
        if let Some(path) = self.resource_path {
            let path = bounded("resourcePath", path, MAX_STRING_CHARS)?;
            config.resource_path = Some(one_token("resourcePath", path)?);
        }
        if let Some(name) = self.fqdn {
            let name = bounded("fullyQualifiedDomainName", name, MAX_STRING_CHARS)?;
            config.fqdn = Some(one_token("fullyQualifiedDomainName", name)?);
        }
        if let Some(s) = self.search_string {
            if s.is_empty() {
                return Err(invalid("searchString", &s, Constraint::NotEmpty));
            }
            config.search_string = Some(bounded("searchString", s, MAX_STRING_CHARS)?);
        }
        if let Some(v) = self.failure_threshold {
            config.failure_threshold = number("failureThreshold", &v, 1, 10)?;
        }
        if let Some(v) = self.inverted {
            config.inverted = boolean("inverted", &v)?;
        }
        if let Some(v) = self.disabled {
            config.disabled = boolean("disabled", &v)?;
        }
        if let Some(v) = self.health_threshold {
            let max = u32::try_from(MAX_CHILDREN).unwrap_or(u32::MAX);
            config.health_threshold = Some(number("healthThreshold", &v, 0, max)?);
        }
        if let Some(v) = self.enable_sni {
            config.enable_sni = Some(boolean("enableSNI", &v)?);
        }
        if let Some(children) = self.children {
            if children.len() > MAX_CHILDREN {
                return Err(InvalidConfig::Length {
                    field: "childHealthChecks",
                    bound: Bound::AtMost(MAX_CHILDREN),
                    count: children.len(),
                    unit: "",
                });
            }
            config.children = children
                .into_iter()
                .map(|c| bounded("childHealthChecks.member", c, MAX_ID_CHARS))
                .collect::<Result<_, _>>()?;
        }
        if let Some(regions) = self.regions {
            config.regions = checked_regions(regions)?;
        }
        Ok(config)
    }
}

impl HealthCheckConfig {
    /// Route 53's rules on which fields go with which type.
    fn check(&self) -> Result<(), InvalidConfig> {
        let t = self.check_type;
        if t.probes() {
            if self.ip_address.is_none() {
                return Err(InvalidConfig::NeedsAddress(t));
            }
            if t == CheckType::Tcp && self.port.is_none() {
                return Err(InvalidConfig::TcpNeedsPort);
            }
            if self.health_threshold.is_some() || !self.children.is_empty() {
                return Err(InvalidConfig::ChildrenNeedCalculated(t));
            }
        } else if self.ip_address.is_some() || self.port.is_some() || self.fqdn.is_some() {
            return Err(InvalidConfig::EndpointOnCalculated);
        }
        if t.matches_string() != self.search_string.is_some() {
            return Err(if t.matches_string() {
                InvalidConfig::SearchStringRequired(t)
            } else {
                InvalidConfig::SearchStringInvalid(t)
            });
        }
        if t == CheckType::Tcp && self.resource_path.is_some() {
            return Err(InvalidConfig::TcpResourcePath);
        }
        Ok(())
    }

    /// The port probed: `Port`, or the type's default.
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or(self.check_type.default_port())
    }

    /// The checker Regions the probes are named after, in turn: `Regions` without repeats, or
    /// every one of [`CHECKER_REGIONS`] when it is empty. A stored Region the API refuses now
    /// (an older version accepted any) is skipped; never empty.
    pub fn checker_regions(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for r in &self.regions {
            if let Some(known) = CHECKER_REGIONS.iter().find(|k| **k == r.as_str())
                && !out.contains(known)
            {
                out.push(*known);
            }
        }
        if out.is_empty() {
            out = CHECKER_REGIONS.to_vec();
        }
        out
    }
}

/// One probe's outcome, as GetHealthCheckStatus reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The checker Region the probe is named after (one of [`CHECKER_REGIONS`]).
    pub region: &'static str,
    /// True when the probe succeeded.
    pub success: bool,
    /// Route 53's status text: `Success: HTTP Status Code 200, OK`, `Failure: …`.
    pub report: String,
    /// When the probe finished, in unix milliseconds.
    pub at_ms: u64,
}

/// What the lab knows of one health check's endpoint: the hysteresis of its results, the last
/// result of each checker Region, and when the next probe is due. Runtime only (a restarted
/// resolver starts again healthy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckState {
    health: TargetHealth,
    /// The last outcome of each checker Region, newest first (at most one per Region).
    observations: Vec<Observation>,
    /// Probes named so far: the next one is named after Region `named % regions`.
    named: usize,
    /// When the next probe is due, in milliseconds of the checker's monotonic clock (0: now).
    pub next_due_ms: u64,
}

impl CheckState {
    /// True when a probe is due at `now_ms`; then marks the next one `interval` seconds later.
    pub fn take_due(&mut self, now_ms: u64, interval_s: u32) -> bool {
        if now_ms < self.next_due_ms {
            return false;
        }
        self.next_due_ms = now_ms.saturating_add(u64::from(interval_s) * 1000);
        true
    }

    /// The checker Region the next probe is named after: each of `regions` in turn (see
    /// [`HealthCheckConfig::checker_regions`]).
    pub fn next_region(&mut self, regions: &[&'static str]) -> &'static str {
        let Some(n) = self.named.checked_rem(regions.len()) else {
            return CHECKER_REGIONS[0];
        };
        self.named = self.named.wrapping_add(1);
        regions[n]
    }

    /// The last outcome of each checker Region, newest first.
    pub fn observations(&self) -> &[Observation] {
        &self.observations
    }

    /// The newest outcome.
    pub fn last(&self) -> Option<&Observation> {
        self.observations.first()
    }

    /// Forgets the outcomes of Regions no longer in `regions` (after an update changed them).
    pub fn keep_regions(&mut self, regions: &[&'static str]) {
        self.observations.retain(|o| regions.contains(&o.region));
    }

    /// Feeds one probe result; `FailureThreshold` consecutive results of the other kind change
    /// the endpoint's status. Returns true when the status changed.
    pub fn observe(&mut self, observation: Observation, failure_threshold: u32) -> bool {
        let before = self.endpoint_healthy();
        let thresholds = Thresholds {
            rise: failure_threshold,
            fall: failure_threshold,
        };
        self.health.observe(observation.success, thresholds);
        self.observations.retain(|o| o.region != observation.region);
        self.observations.insert(0, observation);
        before != self.endpoint_healthy()
    }

    /// The endpoint's status before `Disabled` and `Inverted`: healthy until `FailureThreshold`
    /// failures in a row (a new check is healthy, as in Route 53).
    pub fn endpoint_healthy(&self) -> bool {
        self.health.state() != Health::Unhealthy
    }
}

/// The status of every health check in `configs`, as DNS answers use it: endpoint checks from
/// their state (healthy without one), CALCULATED ones from their children's statuses (a missing
/// child counts as healthy; a CALCULATED child as its own status, evaluated first when it is an
/// endpoint check and healthy otherwise), then `Disabled` (healthy) and `Inverted` (reversed).
pub fn statuses(
    configs: &BTreeMap<String, HealthCheckConfig>,
    states: &BTreeMap<String, CheckState>,
) -> BTreeMap<String, bool> {
    let endpoint = |id: &str, c: &HealthCheckConfig| {
        let raw = c.disabled || states.get(id).is_none_or(CheckState::endpoint_healthy);
        raw != c.inverted
    };
    let mut out: BTreeMap<String, bool> = configs
        .iter()
        .filter(|(_, c)| c.check_type.probes())
        .map(|(id, c)| (id.clone(), endpoint(id, c)))
        .collect();
    for (id, c) in configs.iter().filter(|(_, c)| !c.check_type.probes()) {
        let healthy_children = c
            .children
            .iter()
            .filter(|child| out.get(child.as_str()).copied().unwrap_or(true))
            .count();
        let threshold = usize::try_from(c.health_threshold.unwrap_or(0)).unwrap_or(usize::MAX);
        let raw = c.disabled || healthy_children >= threshold;
        out.insert(id.clone(), raw != c.inverted);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(t: &str) -> ConfigInput {
        ConfigInput {
            check_type: Some(t.into()),
            ip_address: Some("127.0.0.1".into()),
            ..ConfigInput::default()
        }
    }

    fn obs(success: bool, at_ms: u64) -> Observation {
        Observation {
            region: CHECKER_REGIONS[0],
            success,
            report: String::new(),
            at_ms,
        }
    }

    #[test]
    fn defaults_are_route53s() {
        let c = input("HTTP").create().unwrap();
        assert_eq!(
            (c.request_interval, c.failure_threshold, c.effective_port()),
            (30, 3, Some(80))
        );
        assert_eq!(c.enable_sni, None);
        let c = input("HTTPS").create().unwrap();
        assert_eq!((c.effective_port(), c.enable_sni), (Some(443), Some(true)));
    }

    #[test]
    fn validation_names_the_field() {
        let err = |mut i: ConfigInput, f: fn(&mut ConfigInput)| {
            f(&mut i);
            i.create().unwrap_err().to_string()
        };
        let e = err(input("HTTP"), |i| i.request_interval = Some("20".into()));
        assert!(e.contains("requestInterval"), "{e}");
        let e = err(input("HTTP"), |i| i.failure_threshold = Some("11".into()));
        assert!(
            e.contains("failureThreshold") && e.contains("1 and 10"),
            "{e}"
        );
        let e = err(input("TCP"), |_| {});
        assert!(e.contains("Port is required"), "{e}");
        let e = err(input("HTTP_STR_MATCH"), |_| {});
        assert!(e.contains("SearchString is required"), "{e}");
        let e = err(input("HTTP"), |i| i.resource_path = Some("/".repeat(256)));
        assert!(e.contains("255") && !e.contains("//"), "{e}");
        let e = err(input("HTTP"), |i| i.ip_address = Some("nope".into()));
        assert!(e.contains("nope"), "{e}");
        // EC2's metadata service (link-local), and the other addresses Route 53 never probes.
        for ip in REFUSED {
            let e = err(input("HTTP"), |i| i.ip_address = Some("x".into()));
            assert!(e.contains("'x'"), "{e}");
            let mut i = input("HTTP");
            i.ip_address = Some(ip.into());
            let e = i.create().unwrap_err().to_string();
            assert!(e.contains(ip) && e.contains("link-local"), "{ip}: {e}");
        }
        for ip in ["127.0.0.1", "::1", "10.1.2.3", "192.0.2.7"] {
            let mut i = input("HTTP");
            i.ip_address = Some(ip.into());
            assert!(i.create().is_ok(), "{ip} is refused");
        }
        // A path or name that would end the request line or add a header.
        let e = err(input("HTTP"), |i| {
            i.resource_path = Some("/ok HTTP/1.1\r\nX-Injected: 1".into())
        });
        assert!(e.contains("resourcePath") && e.contains("control"), "{e}");
        let e = err(input("HTTP"), |i| i.fqdn = Some("a.test\r\nX: y".into()));
        assert!(e.contains("fullyQualifiedDomainName"), "{e}");
        let e = err(input("HTTP_STR_MATCH"), |i| {
            i.search_string = Some(String::new())
        });
        assert!(
            e.contains("searchString") && e.contains("greater than"),
            "{e}"
        );
        let e = err(input("CALCULATED"), |_| {});
        assert!(e.contains("CALCULATED"), "{e}");
        let e = err(input("CLOUDWATCH_METRIC"), |_| {});
        assert!(e.contains("not supported"), "{e}");
        let e = err(input("PING"), |_| {});
        assert!(e.contains("enum value set"), "{e}");
        let mut calc = ConfigInput {
            check_type: Some("CALCULATED".into()),
            health_threshold: Some("1".into()),
            children: Some(vec!["a".into()]),
            ..ConfigInput::default()
        };
        assert!(calc.clone().create().is_ok());
        calc.health_threshold = Some("257".into());
        assert!(
            calc.create()
                .unwrap_err()
                .to_string()
                .contains("healthThreshold")
        );
    }

    /// The metadata services and the other refused addresses in the spellings of issue #23.
    const REFUSED: [&str; 16] = [
        "169.254.169.254",
        "::ffff:169.254.169.254",
        "::ffff:a9fe:a9fe",
        "0:0:0:0:0:ffff:a9fe:a9fe",
        "::ffff:169.254.170.2",
        "::169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "::ffff:0.0.0.0",
        "0.1.2.3",
        "fd00:ec2::254",
        "fe80::1",
        "224.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "::",
        "169.254.170.2",
    ];

    #[test]
    fn regions_take_three_to_sixty_four_of_the_eight_checker_regions() {
        let with = |regions: &[&str]| {
            let mut i = input("HTTP");
            i.regions = Some(regions.iter().map(|r| (*r).to_owned()).collect());
            i.create()
        };
        let three = ["us-east-1", "eu-west-1", "sa-east-1"];
        assert_eq!(with(&three).unwrap().regions, three);
        assert_eq!(with(&CHECKER_REGIONS).unwrap().regions, CHECKER_REGIONS);
        let e = with(&three[..2]).unwrap_err().to_string();
        assert!(e.contains("greater than or equal to 3"), "{e}");
        let e = with(&[]).unwrap_err().to_string();
        assert!(e.contains("greater than or equal to 3"), "{e}");
        let many: Vec<&str> = CHECKER_REGIONS.iter().copied().cycle().take(65).collect();
        let e = with(&many).unwrap_err().to_string();
        assert!(e.contains("less than or equal to 64"), "{e}");
        assert!(with(&many[..64]).is_ok());
        for bad in ["lab", "us-east-2", "US-EAST-1", "eu-west-1\n"] {
            let e = with(&["us-east-1", "us-west-1", bad])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("regions.member") && e.contains("enum value set"),
                "{bad}: {e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
        // UpdateHealthCheck: the same rule; ResetElements Regions goes back to all of them.
        let c = with(&three).unwrap();
        let update = |regions: Option<Vec<String>>, reset: Vec<String>| {
            ConfigInput {
                regions,
                reset,
                ..ConfigInput::default()
            }
            .update(&c)
        };
        assert!(update(Some(vec!["us-east-1".into()]), vec![]).is_err());
        let reset = update(None, vec!["Regions".into()]).unwrap();
        assert!(reset.regions.is_empty());
        assert_eq!(reset.checker_regions(), CHECKER_REGIONS);
    }

    #[test]
    fn probes_are_named_after_each_checker_region_in_turn() {
        let mut c = input("HTTP").create().unwrap();
        let mut s = CheckState::default();
        let all = c.checker_regions();
        let named: Vec<&str> = (0..10).map(|_| s.next_region(&all)).collect();
        assert_eq!(&named[..8], &CHECKER_REGIONS);
        assert_eq!(&named[8..], &CHECKER_REGIONS[..2]);
        // Configured Regions, repeats once; one stored by an older version and now refused is
        // skipped.
        c.regions = ["sa-east-1", "lab", "us-west-2", "sa-east-1", "eu-west-1"]
            .map(String::from)
            .to_vec();
        assert_eq!(c.checker_regions(), ["sa-east-1", "us-west-2", "eu-west-1"]);
        c.regions = vec!["lab".into()];
        assert_eq!(c.checker_regions(), CHECKER_REGIONS);
        // One outcome per Region, newest first; a Region removed by an update is forgotten.
        let mut s = CheckState::default();
        let regions = ["us-east-1", "eu-west-1", "sa-east-1"];
        for at in 1..=4 {
            let region = s.next_region(&regions);
            s.observe(
                Observation {
                    region,
                    ..obs(at % 2 == 0, at)
                },
                1,
            );
        }
        let seen: Vec<(&str, u64)> = s
            .observations()
            .iter()
            .map(|o| (o.region, o.at_ms))
            .collect();
        assert_eq!(seen, [("us-east-1", 4), ("sa-east-1", 3), ("eu-west-1", 2)]);
        assert_eq!(s.last().map(|o| o.region), Some("us-east-1"));
        s.keep_regions(&["eu-west-1", "sa-east-1"]);
        assert_eq!(s.observations().len(), 2);
    }

    #[test]
    fn updates_refuse_every_spelling_of_a_refused_address() {
        let c = input("HTTP").create().unwrap();
        for ip in REFUSED {
            let e = ConfigInput {
                ip_address: Some(ip.into()),
                ..ConfigInput::default()
            }
            .update(&c)
            .unwrap_err()
            .to_string();
            assert!(e.contains(ip) && e.contains("link-local"), "{ip}: {e}");
        }
        let moved = ConfigInput {
            ip_address: Some("::ffff:127.0.0.2".into()),
            ..ConfigInput::default()
        };
        assert!(moved.update(&c).is_ok());
    }

    #[test]
    fn a_name_alone_is_never_probed() {
        // The lab resolves no name: an endpoint check needs IPAddress, and no update removes it.
        let named = ConfigInput {
            check_type: Some("HTTP".into()),
            fqdn: Some("instance-data.ec2.internal".into()),
            ..ConfigInput::default()
        };
        assert!(
            named
                .create()
                .unwrap_err()
                .to_string()
                .contains("needs IPAddress")
        );
        let c = input("HTTP").create().unwrap();
        let reset = ConfigInput {
            reset: vec!["FullyQualifiedDomainName".into()],
            ..ConfigInput::default()
        };
        assert!(reset.update(&c).unwrap().ip_address.is_some());
        let e = ConfigInput {
            reset: vec!["IPAddress".into()],
            ..ConfigInput::default()
        }
        .update(&c)
        .unwrap_err()
        .to_string();
        assert!(e.contains("resetElements"), "{e}");
    }

    #[test]
    fn updates_merge_reset_and_keep_type_and_interval() {
        let mut i = input("HTTP");
        i.resource_path = Some("/health".into());
        i.request_interval = Some("10".into());
        let c = i.create().unwrap();
        let u = ConfigInput {
            failure_threshold: Some("1".into()),
            reset: vec!["ResourcePath".into()],
            ..ConfigInput::default()
        }
        .update(&c)
        .unwrap();
        assert_eq!(
            (u.failure_threshold, u.resource_path, u.request_interval),
            (1, None, 10)
        );
        let bad = ConfigInput {
            request_interval: Some("30".into()),
            ..ConfigInput::default()
        };
        assert!(
            bad.update(&c)
                .unwrap_err()
                .to_string()
                .contains("RequestInterval")
        );
    }

    #[test]
    fn the_status_changes_after_failure_threshold_results_in_a_row() {
        let mut s = CheckState::default();
        assert!(s.endpoint_healthy(), "a new check is healthy");
        assert!(!s.observe(obs(false, 1), 2));
        assert!(!s.observe(obs(true, 2), 2), "the streak is broken");
        assert!(!s.observe(obs(false, 3), 2));
        assert!(s.observe(obs(false, 4), 2), "two failures in a row");
        assert!(!s.endpoint_healthy());
        assert_eq!(s.last().map(|o| o.at_ms), Some(4));
        assert!(!s.observe(obs(true, 5), 2));
        assert!(s.observe(obs(true, 6), 2));
        assert!(s.endpoint_healthy());
    }

    #[test]
    fn probes_are_due_once_per_interval() {
        let mut s = CheckState::default();
        assert!(s.take_due(1_000, 10));
        assert!(!s.take_due(10_999, 10));
        assert!(s.take_due(11_000, 10));
    }

    #[test]
    fn calculated_disabled_and_inverted() {
        let endpoint = input("HTTP").create().unwrap();
        let mut configs = BTreeMap::new();
        configs.insert("a".to_owned(), endpoint.clone());
        configs.insert("b".to_owned(), endpoint.clone());
        let calc = |threshold: &str, inverted: bool| {
            let mut c = ConfigInput {
                check_type: Some("CALCULATED".into()),
                health_threshold: Some(threshold.into()),
                children: Some(vec!["a".into(), "b".into()]),
                ..ConfigInput::default()
            }
            .create()
            .unwrap();
            c.inverted = inverted;
            c
        };
        configs.insert("all".to_owned(), calc("2", false));
        configs.insert("any".to_owned(), calc("1", false));
        configs.insert("none".to_owned(), calc("1", true));
        let mut states = BTreeMap::new();
        let mut down = CheckState::default();
        down.observe(obs(false, 1), 1);
        states.insert("a".to_owned(), down);
        let s = statuses(&configs, &states);
        assert_eq!(
            (s["a"], s["b"], s["all"], s["any"], s["none"]),
            (false, true, false, true, false)
        );
        configs.get_mut("a").unwrap().disabled = true;
        assert!(
            statuses(&configs, &states)["all"],
            "disabled counts as healthy"
        );
        configs.get_mut("b").unwrap().inverted = true;
        assert!(!statuses(&configs, &states)["b"], "inverted");
    }
}

//! The `[agent]` configuration section (with `[agent.self_check]`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use probe::ProbeConfig;
use registry::config::ConfigError;
use registry::model::{ProbeAddr, SetId};
use serde::Deserialize;

/// Which network interfaces' public addresses are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interfaces {
    /// The primary interface (device number 0).
    Primary,
    /// Every attached interface.
    All,
}

/// `[agent]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The weight this instance wants (0–255).
    #[serde(default = "default_weight")]
    pub weight: u8,
    /// Publish this address instead of discovering the Carrier IP (labs, non-EC2 hosts).
    pub address: Option<IpAddr>,
    /// The set identifier to use instead of the instance id (with `address`, IMDS is not needed).
    pub target_id: Option<SetId>,
    /// The IMDS endpoint (`http://169.254.169.254`, or `http://[fd00:ec2::254]` for IPv6).
    #[serde(default = "default_imds")]
    pub imds_endpoint: String,
    /// Which interfaces count for discovery.
    #[serde(default = "default_interfaces")]
    pub interfaces: Interfaces,
    /// How often the agent re-reads its records and repairs drift (±20 % jitter; stretched up to
    /// 8× while Route 53 throttles). Each reconcile costs one API call from the account's 5/s.
    #[serde(
        default = "default_reconcile",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub reconcile_interval: Duration,
    /// The bound on the whole drain.
    #[serde(
        default = "default_drain_timeout",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub drain_timeout: Duration,
    /// A random wait of up to this long before registering.
    #[serde(
        default = "default_jitter",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub startup_jitter: Duration,
    /// How often IMDS is polled for a Spot interruption or a lifecycle `Terminated`.
    #[serde(
        default = "default_notice_poll",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub notice_poll_interval: Duration,
    /// `/metrics` and `/healthz`.
    #[serde(default = "default_metrics")]
    pub metrics_listen: SocketAddr,
    /// Publish `probe=<private ip>` so health controllers probe the private address (the only
    /// one they can reach from the Region: a Wavelength zone admits no inbound traffic from
    /// outside the carrier network).
    #[serde(default = "default_publish_probe")]
    pub publish_probe: bool,
    /// The port in `probe=` (`probe=<private ip>:<port>`); without it, controllers probe at
    /// their `[health.probe] port`.
    pub probe_port: Option<u16>,
    /// Quarantine itself when the self-check fails `fall` times (and restore when it passes).
    #[serde(default)]
    pub self_quarantine: bool,
    /// `[agent.self_check]` (the keys of `[health.probe]`): gate registration, and optionally
    /// quarantine, on a probe of the local service at 127.0.0.1.
    pub self_check: Option<ProbeConfig>,
    /// Self-check passes in a row before registering (and before a self-restore).
    #[serde(default = "default_rise")]
    pub self_check_rise: u32,
    /// Self-check failures in a row before a self-quarantine.
    #[serde(default = "default_fall")]
    pub self_check_fall: u32,
    /// How often the self-check runs.
    #[serde(
        default = "default_check_interval",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub self_check_interval: Duration,
}

fn default_publish_probe() -> bool {
    true
}
fn default_weight() -> u8 {
    100
}
fn default_imds() -> String {
    "http://169.254.169.254".into()
}
fn default_interfaces() -> Interfaces {
    Interfaces::Primary
}
fn default_reconcile() -> Duration {
    Duration::from_secs(300)
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_jitter() -> Duration {
    Duration::from_secs(3)
}
fn default_notice_poll() -> Duration {
    Duration::from_secs(5)
}
fn default_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}
fn default_rise() -> u32 {
    2
}
fn default_fall() -> u32 {
    3
}
fn default_check_interval() -> Duration {
    Duration::from_secs(5)
}

impl AgentConfig {
    /// The `probe=` to publish for an instance whose private address is `private_ip`.
    pub fn probe_address(&self, private_ip: Option<IpAddr>) -> Option<ProbeAddr> {
        let ip = private_ip.filter(|_| self.publish_probe)?;
        Some(ProbeAddr {
            ip,
            port: self.probe_port,
        })
    }

    /// Checks value ranges and the self-check probe.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url_ok = self.imds_endpoint.starts_with("http://") && self.imds_endpoint.len() > 7;
        if !url_ok {
            return Err(ConfigError::new(
                "agent.imds_endpoint",
                format!("{:?}", self.imds_endpoint),
                "expected an http:// URL such as \"http://169.254.169.254\"",
            ));
        }
        for (key, d, min) in [
            (
                "agent.reconcile_interval",
                self.reconcile_interval,
                Duration::from_secs(1),
            ),
            (
                "agent.drain_timeout",
                self.drain_timeout,
                Duration::from_millis(1),
            ),
            (
                "agent.notice_poll_interval",
                self.notice_poll_interval,
                Duration::from_millis(100),
            ),
        ] {
            if d < min {
                return Err(ConfigError::new(
                    key,
                    format!("\"{}\"", humantime::format_duration(d)),
                    format!("expected at least {}", humantime::format_duration(min)),
                ));
            }
        }
        for (key, v) in [
            ("agent.self_check_rise", self.self_check_rise),
            ("agent.self_check_fall", self.self_check_fall),
        ] {
            if !(1..=100).contains(&v) {
                return Err(ConfigError::new(
                    key,
                    v.to_string(),
                    "expected an integer from 1 to 100",
                ));
            }
        }
        if let Some(port) = self.probe_port
            && !self.publish_probe
        {
            return Err(ConfigError::new(
                "agent.probe_port",
                port.to_string(),
                "goes with publish_probe = true (the default); remove one of them",
            ));
        }
        if let Some(sc) = &self.self_check {
            probe::Prober::new(sc)
                .map_err(|e| ConfigError::new("agent.self_check", "(section)", e.to_string()))?;
            if sc.port.is_none() {
                // The agent probes its local service on 127.0.0.1 at this port.
                return Err(ConfigError::new(
                    "agent.self_check.port",
                    "(missing)",
                    "set the port the local service listens on",
                ));
            }
        } else if self.self_quarantine {
            return Err(ConfigError::new(
                "agent.self_quarantine",
                "true",
                "needs an [agent.self_check] section to decide with",
            ));
        }
        Ok(())
    }
}

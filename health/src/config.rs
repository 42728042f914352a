//! The `[health]` configuration section (with `[health.probe]`).

use std::net::SocketAddr;
use std::time::Duration;

use registry::config::ConfigError;
use serde::Deserialize;

use crate::decide::AllDown;
use probe::ProbeConfig;

/// Where a target is probed. Wavelength zones admit no inbound traffic from the internet, so a
/// controller outside the carrier network reaches a target only at its private address: the
/// `probe=` the agent publishes by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeVia {
    /// The published address, at `[health.probe] port`.
    Published,
    /// The `probe=` address from the target's ownership record, at its port or else
    /// `[health.probe] port` (falling back to the published address when a target has none).
    /// The default.
    Probe,
}

/// `[health]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// How often every target is probed (at least 100ms).
    #[serde(
        default = "default_interval",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub interval: Duration,
    /// The bound on one probe; overrides `[health.probe] timeout`.
    #[serde(default, deserialize_with = "vocab::duration::deserialize_optional")]
    pub timeout: Option<Duration>,
    /// Consecutive successes to become healthy.
    #[serde(default = "default_rise")]
    pub rise: u32,
    /// Consecutive failures to become unhealthy.
    #[serde(default = "default_fall")]
    pub fall: u32,
    /// How often a target is probed while it is failing, unhealthy or recovering (everything
    /// but a clean healthy streak), as HAProxy's `fastinter`: detection and recovery take
    /// `fall` or `rise` fast probes after the first slow one. Default `interval / 4`, at least
    /// 100ms; at most `interval`.
    #[serde(default, deserialize_with = "vocab::duration::deserialize_optional")]
    pub fast_interval: Option<Duration>,
    /// The hold after a target's first flap (it failed again within `readmit_backoff_max` of
    /// being readmitted), doubled at each further flap; `"0s"` turns the back-off off.
    #[serde(
        default = "default_readmit_backoff",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub readmit_backoff: Duration,
    /// The longest re-admission hold, and the window that makes a failure a flap.
    #[serde(
        default = "default_readmit_backoff_max",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub readmit_backoff_max: Duration,
    /// How often the pool is read and written (also right after a verdict changes).
    #[serde(
        default = "default_poll",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub poll_interval: Duration,
    /// `/metrics` and `/healthz`.
    #[serde(default = "default_metrics")]
    pub metrics_listen: SocketAddr,
    /// Probe the published address or the TXT's `probe=`.
    #[serde(default = "default_via")]
    pub probe_via: ProbeVia,
    /// Never quarantine more than this fraction of the pool.
    #[serde(default = "default_fraction")]
    pub max_quarantined_fraction: f64,
    /// What to do when every target is down.
    #[serde(default = "default_all_down")]
    pub all_down: AllDown,
    /// Delete targets quarantined this long whose instance is gone.
    #[serde(
        default = "default_gc_after",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub gc_after: Duration,
    /// How long a leader lease lasts unless renewed (renewed every round).
    #[serde(
        default = "default_lease_ttl",
        deserialize_with = "vocab::duration::deserialize"
    )]
    pub lease_ttl: Duration,
    /// At most this many probes run at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// This controller's name in the leader lease (default: host name and process id).
    pub controller_id: Option<String>,
    /// Set when this controller's VPC reaches the private addresses of every parent Region its
    /// zone tier spans (VPC peering, a Transit Gateway). Unset, a tier over zones of more than
    /// one parent Region is refused ([`crate::regions::check_one_region`]).
    #[serde(default)]
    pub probe_across_regions: bool,
    /// The `[[pool]]` names this process watches (probes, and writes as the leader); default
    /// every pool of the file. A zone tier's pools this process does not watch are read from the
    /// health their own controllers record (`_wavelb-health.<pool>`), so a tier controller can
    /// run anywhere: `watch = []` with `[global]` runs only the tier.
    #[serde(default)]
    pub watch: Option<Vec<String>>,
    /// `[health.probe]`: how to probe.
    pub probe: ProbeConfig,
}

fn default_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_rise() -> u32 {
    2
}
fn default_fall() -> u32 {
    3
}
fn default_readmit_backoff() -> Duration {
    Duration::from_secs(10)
}
fn default_readmit_backoff_max() -> Duration {
    Duration::from_secs(300)
}
fn default_poll() -> Duration {
    Duration::from_secs(5)
}
fn default_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9465))
}
fn default_via() -> ProbeVia {
    ProbeVia::Probe
}
fn default_fraction() -> f64 {
    0.5
}
fn default_all_down() -> AllDown {
    AllDown::FailOpen
}
fn default_gc_after() -> Duration {
    Duration::from_secs(600)
}
fn default_lease_ttl() -> Duration {
    Duration::from_secs(15)
}
fn default_concurrency() -> usize {
    256
}

impl HealthConfig {
    /// Checks value ranges and the probe keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ms = |d: Duration| format!("\"{}ms\"", d.as_millis());
        if self.interval < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "health.interval",
                ms(self.interval),
                "expected at least 100ms",
            ));
        }
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::new(
                "health.timeout",
                "\"0s\"",
                "expected a duration above zero",
            ));
        }
        if let Some(fast) = self.fast_interval
            && (fast < Duration::from_millis(100) || fast > self.interval)
        {
            return Err(ConfigError::new(
                "health.fast_interval",
                ms(fast),
                format!(
                    "expected from 100ms to health.interval ({})",
                    ms(self.interval)
                ),
            ));
        }
        if self.readmit_backoff > self.readmit_backoff_max {
            return Err(ConfigError::new(
                "health.readmit_backoff",
                ms(self.readmit_backoff),
                format!(
                    "expected at most health.readmit_backoff_max ({})",
                    ms(self.readmit_backoff_max)
                ),
            ));
        }
        for (key, v) in [("health.rise", self.rise), ("health.fall", self.fall)] {
            if !(1..=100).contains(&v) {
                return Err(ConfigError::new(
                    key,
                    v.to_string(),
                    "expected an integer from 1 to 100",
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.max_quarantined_fraction) {
            return Err(ConfigError::new(
                "health.max_quarantined_fraction",
                self.max_quarantined_fraction.to_string(),
                "expected a fraction from 0 to 1",
            ));
        }
        if self.poll_interval < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "health.poll_interval",
                ms(self.poll_interval),
                "expected at least 100ms",
            ));
        }
        if self.lease_ttl < Duration::from_secs(2) {
            return Err(ConfigError::new(
                "health.lease_ttl",
                ms(self.lease_ttl),
                "expected at least 2s (its expiry is written in whole seconds)",
            ));
        }
        if self.lease_ttl > Duration::from_secs(1800) {
            return Err(ConfigError::new(
                "health.lease_ttl",
                ms(self.lease_ttl),
                "expected at most 30m (the pools' recorded health lives two lease TTLs, and a \
                 reader believes no record that expires more than an hour ahead)",
            ));
        }
        if self.lease_ttl < self.poll_interval * 2 {
            return Err(ConfigError::new(
                "health.lease_ttl",
                ms(self.lease_ttl),
                format!(
                    "expected at least twice health.poll_interval ({}): the rounds renew the lease \
                     once half of it is left, so one must come in time",
                    ms(self.poll_interval)
                ),
            ));
        }
        if self.concurrency == 0 {
            return Err(ConfigError::new(
                "health.concurrency",
                "0",
                "expected at least 1",
            ));
        }
        if let Some(id) = &self.controller_id
            && !registry::txt::is_token(id)
        {
            return Err(ConfigError::new(
                "health.controller_id",
                format!("{id:?}"),
                "expected 1-64 letters, digits, '.', '_' or '-'",
            ));
        }
        probe::Prober::new(&self.effective_probe())
            .map(|_| ())
            .map_err(|e| ConfigError::new("health.probe", "(section)", e.to_string()))
    }

    /// The probe interval while a target is not cleanly healthy (`fast_interval` or its default).
    pub fn fast_interval(&self) -> Duration {
        self.fast_interval.unwrap_or_else(|| {
            (self.interval / 4)
                .max(Duration::from_millis(100))
                .min(self.interval)
        })
    }

    /// The re-admission back-off.
    pub fn backoff(&self) -> crate::readmit::Backoff {
        crate::readmit::Backoff {
            base: self.readmit_backoff,
            max: self.readmit_backoff_max,
        }
    }

    /// The probe configuration with `[health] timeout` applied.
    pub fn effective_probe(&self) -> ProbeConfig {
        let mut p = self.probe.clone();
        if let Some(t) = self.timeout {
            p.timeout = t;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
interval = "1s"
timeout = "500ms"
rise = 2
fall = 3
poll_interval = "5s"
metrics_listen = "127.0.0.1:9465"

[probe]
kind = "udp"
port = 4000
send = "ping"
expect = "ping"
"#;

    #[test]
    fn the_minimal_config_works_as_written() {
        let c: HealthConfig = toml::from_str(MINIMAL).unwrap();
        c.validate().unwrap();
        assert_eq!(c.effective_probe().timeout, Duration::from_millis(500));
        assert_eq!(c.max_quarantined_fraction, 0.5);
        assert_eq!(c.all_down, AllDown::FailOpen);
        assert_eq!(
            c.probe_via,
            ProbeVia::Probe,
            "the private address by default"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let c: HealthConfig =
            toml::from_str(&MINIMAL.replace("interval = \"1s\"", "interval = \"10ms\"")).unwrap();
        assert_eq!(c.validate().unwrap_err().key, "health.interval");
        let c: HealthConfig = toml::from_str(&MINIMAL.replace(
            "poll_interval = \"5s\"",
            "poll_interval = \"5s\"\nlease_ttl = \"2s\"",
        ))
        .unwrap();
        assert_eq!(c.validate().unwrap_err().key, "health.lease_ttl");
        let c: HealthConfig = toml::from_str(&MINIMAL.replace("send = \"ping\"", "")).unwrap();
        assert_eq!(c.validate().unwrap_err().key, "health.probe");
        assert!(
            toml::from_str::<HealthConfig>(&MINIMAL.replace("rise = 2", "rise = 2\nrsie = 3"))
                .is_err()
        );
    }

    #[test]
    fn fast_interval_and_readmit_backoff_have_defaults_and_bounds() {
        let c: HealthConfig = toml::from_str(MINIMAL).unwrap();
        assert_eq!(
            c.fast_interval(),
            Duration::from_millis(250),
            "interval / 4"
        );
        assert_eq!(c.backoff().base, Duration::from_secs(10));
        assert_eq!(c.backoff().max, Duration::from_secs(300));
        let with = |line: &str| -> HealthConfig {
            toml::from_str(&MINIMAL.replace("rise = 2", &format!("rise = 2\n{line}"))).unwrap()
        };
        // Below 100ms or above interval.
        for bad in ["fast_interval = \"50ms\"", "fast_interval = \"2s\""] {
            assert_eq!(
                with(bad).validate().unwrap_err().key,
                "health.fast_interval",
                "{bad}"
            );
        }
        with("fast_interval = \"1s\"").validate().unwrap();
        let e = with("readmit_backoff = \"10m\"").validate().unwrap_err();
        assert_eq!(e.key, "health.readmit_backoff");
        with("readmit_backoff = \"0s\"").validate().unwrap();
    }
}

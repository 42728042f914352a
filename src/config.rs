//! The configuration file: one TOML document whose sections belong to the crates that use them.

use std::path::Path;

use registry::config::{ConfigError, PoolConfig, Route53Config};
use serde::Deserialize;

use crate::exit::UsageError;

/// The whole configuration file. Unknown keys are errors, so typos fail loudly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[pool]`
    pub pool: Option<PoolConfig>,
    /// `[route53]`
    #[serde(default)]
    pub route53: Route53Config,
    /// `[resolver]`
    #[serde(default)]
    pub resolver: resolver::config::ResolverConfig,
    /// `[health]`
    pub health: Option<health::config::HealthConfig>,
    /// `[agent]`
    pub agent: Option<agent::config::AgentConfig>,
    /// `[ec2]`
    pub ec2: Option<agent::config::Ec2Config>,
}

impl Config {
    /// Reads, parses and validates `path`. Every failure is a [`UsageError`] naming the file and
    /// the key.
    pub fn load(path: &Path) -> Result<Self, UsageError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UsageError(format!(
                "cannot read the configuration file {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))
    }

    /// Parses and validates a configuration document.
    pub fn parse(text: &str) -> Result<Self, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(pool) = &self.pool {
            pool.validate()?;
        }
        if let Some(health) = &self.health {
            health.validate()?;
        }
        if let Some(agent) = &self.agent {
            agent.validate()?;
        }
        self.route53.validate()
    }

    /// The `[pool]` section, which `command` cannot run without.
    pub fn require_pool(&self, command: &str) -> Result<&PoolConfig, UsageError> {
        self.pool.as_ref().ok_or_else(|| {
            UsageError(format!(
                "`wavelb {command}` needs a [pool] section (name, zone) in the configuration file"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_sections_name_the_key() {
        let err =
            Config::parse("[pool]\nname = \"a.example.com\"\nzone = \"example.com\"\nttll = 3\n")
                .unwrap_err();
        assert!(err.contains("ttll"), "{err}");
        let err = Config::parse("[pools]\n").unwrap_err();
        assert!(err.contains("pools"), "{err}");
    }

    #[test]
    fn wrong_types_and_values_name_the_key() {
        let err = Config::parse("[route53]\nmax_attempts = \"many\"\n").unwrap_err();
        assert!(err.contains("max_attempts"), "{err}");
        let err = Config::parse("[route53]\ninsync_timeout = \"soon\"\n").unwrap_err();
        assert!(
            err.contains("insync_timeout") && err.contains("\"soon\""),
            "{err}"
        );
        let err = Config::parse(
            "[pool]\nname = \"a.example.com\"\nzone = \"example.com\"\nrecord_type = \"MX\"\n",
        )
        .unwrap_err();
        assert!(err.contains("record_type") && err.contains("MX"), "{err}");
    }

    /// The health issue's minimal configuration must work exactly as written.
    #[test]
    fn the_minimal_health_config_works_as_written() {
        let text = r#"
[pool]
name = "www.lab.test"
zone = "lab.test"
ttl = 30
owner_id = "wavelb-lab"

[route53]
endpoint_url = "http://127.0.0.1:8053"

[health]
interval = "1s"
timeout = "500ms"
rise = 2
fall = 3
poll_interval = "5s"
metrics_listen = "127.0.0.1:9465"

[health.probe]
kind = "udp"
port = 4000
send = "ping"
expect = "ping"
"#;
        let cfg = Config::parse(text).unwrap();
        let h = cfg.health.unwrap();
        assert_eq!(
            h.effective_probe().timeout,
            std::time::Duration::from_millis(500)
        );
        assert_eq!(h.metrics_listen.port(), 9465);
    }

    /// The agent issue's configuration keys must keep working: scripts rely on them.
    #[test]
    fn the_agent_config_keys_work_as_written() {
        let text = r#"
[pool]
name = "edge.{wavelength_zone}.example.com"
zone = "example.com"
ttl = 30
owner_id = "wavelb"

[route53]
# endpoint_url = "http://127.0.0.1:8053"

[ec2]
# endpoint_url = "http://127.0.0.1:5000"

[agent]
weight = 100
# address = "203.0.113.10"
reconcile_interval = "60s"
drain_timeout = "120s"
startup_jitter = "3s"
metrics_listen = "127.0.0.1:9464"

[agent.self_check]
kind = "quic"
port = 4433
alpn = ["h3"]
insecure = true
"#;
        let cfg = Config::parse(text).unwrap();
        let agent = cfg.agent.unwrap();
        assert_eq!(agent.weight, 100);
        assert_eq!(agent.drain_timeout, std::time::Duration::from_secs(120));
        assert_eq!(agent.self_check.unwrap().alpn, ["h3"]);
        assert!(cfg.ec2.is_some());
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let cfg = Config::parse("[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\n").unwrap();
        assert_eq!(cfg.route53.max_requests_per_second, 4.0);
        assert_eq!(cfg.pool.unwrap().ttl, 30);
    }
}

//! The configuration file: one TOML document whose sections belong to the crates that use them.

use std::path::Path;

use registry::config::{ConfigError, PoolConfig, Route53Config};
use serde::Deserialize;

use crate::exit::UsageError;

/// The whole configuration file. Unknown keys are errors, so typos fail loudly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// `[pool]`, or several `[[pool]]` sections (only `wavelb health` watches more than one).
    #[serde(default, deserialize_with = "one_or_many")]
    pub pool: Vec<PoolConfig>,
    /// `[route53]`
    #[serde(default)]
    pub route53: Route53Config,
    /// `[resolver]`
    #[serde(default)]
    pub resolver: route53_emulator::config::ResolverConfig,
    /// `[health]`
    pub health: Option<health::config::HealthConfig>,
    /// `[global]`: one name over several zones' pools (read by `wavelb health`).
    pub global: Option<health::global::GlobalConfig>,
    /// `[agent]`
    pub agent: Option<agent::config::AgentConfig>,
    /// `[ec2]`
    pub ec2: Option<registry::config::Ec2Config>,
}

impl Config {
    /// Reads, parses and validates `path`. Every failure is a [`UsageError`] naming the file and
    /// the key.
    pub(crate) fn load(path: &Path) -> Result<Self, UsageError> {
        let text = registry::file::read_text(path, registry::file::MAX_CONFIG_BYTES)
            .map_err(|e| UsageError(format!("cannot read the configuration file: {e}")))?;
        Self::parse(&text).map_err(|e| UsageError(format!("{}: {e}", registry::file::shown(path))))
    }

    /// Parses and validates a configuration document. A syntax or type error is one line: its
    /// line, column and a bounded, escaped excerpt ([`registry::file::error_at`]).
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let cfg: Config = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!(registry::file::error_at(text, e.span(), e.message())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for pool in &self.pool {
            pool.validate()?;
        }
        let mut names: Vec<&str> = self.pool.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0].eq_ignore_ascii_case(w[1])) {
            return Err(ConfigError::new(
                "pool.name",
                format!("{:?}", w[0]),
                "each [[pool]] section needs its own name",
            ));
        }
        if let Some(health) = &self.health {
            health.validate()?;
        }
        if let Some(global) = &self.global {
            global.validate()?;
        }
        if let Some(agent) = &self.agent {
            agent.validate()?;
        }
        self.route53.validate()
    }

    /// The one `[pool]` section, which `command` cannot run without.
    pub(crate) fn require_pool(&self, command: &str) -> Result<&PoolConfig, UsageError> {
        match self.require_pools(command)? {
            [one] => Ok(one),
            many => Err(UsageError(format!(
                "`wavelb {command}` works on one pool, but the configuration file has {} [[pool]] \
                 sections; give it a file with one [pool] section",
                many.len()
            ))),
        }
    }

    /// The `[pool]` or `[[pool]]` sections, at least one.
    pub(crate) fn require_pools(&self, command: &str) -> Result<&[PoolConfig], UsageError> {
        if self.pool.is_empty() {
            return Err(UsageError(format!(
                "`wavelb {command}` needs a [pool] section (name, zone) in the configuration file"
            )));
        }
        Ok(&self.pool)
    }

    /// Every `[pool]`/`[[pool]]` section as a pool and the hosted zone it lives in (`command`
    /// needs at least one).
    pub(crate) fn pool_specs(
        &self,
        command: &str,
    ) -> Result<Vec<(registry::model::PoolSpec, registry::config::ZoneRef)>, UsageError> {
        self.require_pools(command)?
            .iter()
            .map(|p| {
                Ok((
                    p.spec(&registry::config::Placeholders::default())?,
                    p.zone_ref()?,
                ))
            })
            .collect::<Result<Vec<_>, ConfigError>>()
            .map_err(|e| UsageError(e.to_string()))
    }
}

/// `[pool]` (one table) or `[[pool]]` (an array of tables); each parsed with its own key checks.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PoolConfig>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<PoolConfig>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a [pool] section or [[pool]] sections")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            PoolConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                .map(|p| vec![p])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::<PoolConfig>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(Visitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_sections_name_the_key() {
        let err =
            Config::parse("[pool]\nname = \"a.example.com\"\nzone = \"example.com\"\nttll = 3\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("ttll"), "{err}");
        let err = Config::parse("[pools]\n").unwrap_err().to_string();
        assert!(err.contains("pools"), "{err}");
        let err = Config::parse(
            "[[pool]]\nname = \"a.example.com\"\nzone = \"example.com\"\n\
             [[pool]]\nname = \"b.example.com\"\nzone = \"example.com\"\nttll = 3\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ttll"), "{err}");
    }

    #[test]
    fn one_pool_or_several() {
        let one =
            Config::parse("[pool]\nname = \"a.example.com\"\nzone = \"example.com\"\n").unwrap();
        assert_eq!(one.require_pool("agent").unwrap().name, "a.example.com");
        let text = "[[pool]]\nname = \"a.example.com\"\nzone = \"example.com\"\n\
                    [[pool]]\nname = \"b.example.com\"\nhosted_zone_id = \"Z1\"\n";
        let two = Config::parse(text).unwrap();
        assert_eq!(two.require_pools("health").unwrap().len(), 2);
        let err = two.require_pool("agent").unwrap_err().0;
        assert!(
            err.contains("one pool") && err.contains("2 [[pool]]"),
            "{err}"
        );
        let none = Config::parse("").unwrap();
        assert!(
            none.require_pools("health")
                .unwrap_err()
                .0
                .contains("[pool]")
        );
        let dup = Config::parse(
            "[[pool]]\nname = \"a.example.com\"\nzone = \"example.com\"\n\
             [[pool]]\nname = \"A.example.com\"\nzone = \"example.com\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            dup.contains("pool.name") && dup.contains("own name"),
            "{dup}"
        );
    }

    #[test]
    fn wrong_types_and_values_name_the_key() {
        let err = Config::parse("[route53]\nmax_attempts = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_attempts"), "{err}");
        let err = Config::parse("[route53]\ninsync_timeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("insync_timeout") && err.contains("\"soon\""),
            "{err}"
        );
        let err = Config::parse(
            "[pool]\nname = \"a.example.com\"\nzone = \"example.com\"\nrecord_type = \"MX\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("record_type") && err.contains("MX"), "{err}");
        // A set identifier Route 53 would not take is refused where the file is read.
        for id in [String::new(), "i".repeat(129)] {
            let err = Config::parse(&format!("[agent]\ntarget_id = \"{id}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("target_id") && err.contains("set identifier"),
                "{err}"
            );
        }
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
        assert_eq!(agent.self_check.as_ref().unwrap().alpn, ["h3"]);
        assert!(cfg.ec2.is_some());
        // The private address is published for probes by default, without a port.
        let private: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(
            agent.probe_address(Some(private)),
            Some(registry::model::ProbeAddr {
                ip: private,
                port: None
            })
        );
        assert_eq!(agent.probe_address(None), None);
        let pinned =
            Config::parse(&text.replace("weight = 100", "weight = 100\nprobe_port = 4433"))
                .unwrap()
                .agent
                .unwrap();
        assert_eq!(
            pinned.probe_address(Some(private)).map(|p| p.to_string()),
            Some("10.0.0.5:4433".to_owned())
        );
        let off =
            Config::parse(&text.replace("weight = 100", "weight = 100\npublish_probe = false"))
                .unwrap()
                .agent
                .unwrap();
        assert_eq!(off.probe_address(Some(private)), None);
        let e = Config::parse(&text.replace(
            "weight = 100",
            "weight = 100\npublish_probe = false\nprobe_port = 4433",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("agent.probe_port"), "{e}");
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let cfg = Config::parse("[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\n").unwrap();
        assert_eq!(cfg.route53.max_requests_per_second, 4.0);
        assert_eq!(cfg.pool[0].ttl, 30);
    }
}

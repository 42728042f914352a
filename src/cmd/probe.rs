//! `wavelb probe`: run one health probe against a target and print the verdict.
//!
//! The flags are built from the probe crate's key table ([`Key::ALL`]: name, value, help), set
//! the same [`ProbeConfig`] as a `[health.probe]` table, and go through the same validation
//! ([`Prober::new`]); a rejected flag is bad usage (exit 2) and the message, rendered with
//! [`Naming::Cli`], names the flag. Exit codes: 0 healthy, 1 unhealthy (or the host name does not
//! resolve), 2 bad usage.

use std::net::SocketAddr;

use clap::builder::TypedValueParser;
use clap::{Arg, ArgAction, ArgMatches, FromArgMatches};
use probe::key::Cli;
use probe::{Key, Naming, ProbeConfig, ProbeKind, ProbeResult, Prober};

use crate::exit::UsageError;

/// The target's argument id.
const TARGET: &str = "target";
/// The `--json` switch's id.
const JSON: &str = "json";

/// `wavelb probe <kind> <host:port> [options]`: the kind, the target, and the flags given, in
/// the probe crate's keys (each checked by [`ProbeConfig::set`] and [`Prober::new`] in [`run`]).
///
/// Exit codes: 0 healthy, 1 unhealthy, 2 bad usage.
#[derive(Debug)]
pub(crate) struct ProbeArgs {
    /// The probe kind.
    pub kind: ProbeKind,
    /// The target: IP:PORT, [IPv6]:PORT or HOSTNAME:PORT.
    pub target: String,
    /// The flags given, as (key, value) in key order; a switch's value is `true`.
    pub settings: Vec<(Key, String)>,
    /// Print one JSON object instead of a line of text.
    pub json: bool,
}

/// The kind's parser: one of [`ProbeKind::ALL`], listed as possible values so that `--help`
/// and the shell completions offer them.
fn kind_parser() -> impl TypedValueParser<Value = ProbeKind> {
    clap::builder::PossibleValuesParser::new(ProbeKind::ALL.map(ProbeKind::as_str))
        .try_map(|text| text.parse::<ProbeKind>())
}

/// The command-line argument of `key`, or `None` for a positional one (declared by hand).
fn flag_arg(key: Key) -> Option<Arg> {
    let spec = key.spec();
    let (long, action) = match spec.cli {
        Cli::Positional(_) => return None,
        Cli::Switch(long) => (long, ArgAction::SetTrue),
        Cli::One(long) => (long, ArgAction::Set),
        Cli::Many(long) => (long, ArgAction::Append),
    };
    let arg = Arg::new(spec.toml)
        .long(long)
        .action(action)
        .help(spec.help);
    Some(match spec.cli {
        Cli::Switch(_) => arg,
        _ => arg
            .value_name(spec.value_name)
            .allow_hyphen_values(spec.hyphen_values),
    })
}

impl clap::Args for ProbeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let cmd = cmd
            .arg(
                Arg::new(Key::Kind.spec().toml)
                    .value_name(Key::Kind.spec().value_name)
                    .required(true)
                    .value_parser(kind_parser())
                    .help(Key::Kind.spec().help),
            )
            .arg(
                Arg::new(TARGET)
                    .value_name("HOST:PORT")
                    .required(true)
                    .help(
                        "The target: IP:PORT, [IPv6]:PORT or HOSTNAME:PORT (the first address \
                         it resolves to)",
                    ),
            );
        Key::ALL
            .into_iter()
            .filter_map(flag_arg)
            .fold(cmd, clap::Command::arg)
            .arg(
                Arg::new(JSON)
                    .long(JSON)
                    .action(ArgAction::SetTrue)
                    .help("Print one JSON object instead of a line of text"),
            )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for ProbeArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let missing = |id: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::MissingRequiredArgument,
                format!("<{id}> is required"),
            )
        };
        let kind = *m
            .get_one::<ProbeKind>(Key::Kind.spec().toml)
            .ok_or_else(|| missing("KIND"))?;
        let target = m
            .get_one::<String>(TARGET)
            .ok_or_else(|| missing("HOST:PORT"))?
            .clone();
        let mut settings = Vec::new();
        for key in Key::ALL {
            let id = key.spec().toml;
            match key.spec().cli {
                Cli::Positional(_) => {}
                Cli::Switch(_) => {
                    if m.get_flag(id) {
                        settings.push((key, "true".to_owned()));
                    }
                }
                Cli::One(_) | Cli::Many(_) => {
                    let values = m.get_many::<String>(id).into_iter().flatten();
                    settings.extend(values.map(|v| (key, v.clone())));
                }
            }
        }
        Ok(Self {
            kind,
            target,
            settings,
            json: m.get_flag(JSON),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl ProbeArgs {
    /// The probe configuration the flags describe; a bad value names its flag.
    fn config(&self) -> Result<ProbeConfig, UsageError> {
        let mut cfg = ProbeConfig::new(self.kind);
        for (key, value) in &self.settings {
            cfg.set(*key, value)
                .map_err(|e| UsageError(e.render(Naming::Cli)))?;
        }
        Ok(cfg)
    }
}

/// Splits `HOST:PORT` and resolves it. A malformed target is bad usage; a name that does not
/// resolve is a runtime failure.
async fn resolve(target: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = target.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(UsageError(format!("<HOST:PORT>: {target:?} has port 0")).into());
        }
        return Ok(addr);
    }
    let bad = |why: &str| -> anyhow::Error {
        UsageError(format!(
            "<HOST:PORT>: {target:?} {why}; write e.g. 192.0.2.1:443, [2001:db8::1]:443 or host.example:443"
        ))
        .into()
    };
    let Some((host, port)) = target.rsplit_once(':') else {
        return Err(bad("has no port"));
    };
    if host.is_empty() || host.contains(':') || host.starts_with('[') {
        return Err(bad("is not an address or host name with a port"));
    }
    let port: u16 = match port.parse() {
        Ok(p) if p != 0 => p,
        _ => return Err(bad("has no valid port (1-65535)")),
    };
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot resolve {host}: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} resolves to no address"))
}

/// The verdict as one line of text.
fn human(kind: ProbeKind, target: SocketAddr, r: &ProbeResult) -> String {
    let ms = r.latency.as_secs_f64() * 1000.0;
    // The detail may quote the target's reply: escaped.
    let detail = registry::escape::Escaped(&r.detail);
    match r.reason {
        None => format!("healthy: {kind} {target} in {ms:.1} ms ({detail})"),
        Some(reason) => format!("unhealthy: {kind} {target} after {ms:.1} ms: {reason}: {detail}"),
    }
}

/// The verdict as one JSON object.
fn json(kind: ProbeKind, target: SocketAddr, r: &ProbeResult) -> serde_json::Value {
    serde_json::json!({
        "kind": kind.as_str(),
        "target": target.to_string(),
        "healthy": r.healthy,
        "latency_ms": (r.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        "reason": r.reason.map(|x| x.as_str()),
        "detail": r.detail,
    })
}

/// Runs `wavelb probe`.
pub(crate) async fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let prober = Prober::new(&args.config()?).map_err(|e| UsageError(e.render(Naming::Cli)))?;
    let target = resolve(&args.target).await?;
    let result = prober.probe(target).await;
    prober.shutdown().await;
    if args.json {
        let text = json(args.kind, target, &result).to_string();
        println!("{}", registry::escape::json_safe(&text));
    } else {
        println!("{}", human(args.kind, target, &result));
    }
    match result.reason {
        None => Ok(()),
        Some(reason) => Err(anyhow::anyhow!("unhealthy ({reason})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Args as _;

    fn args(line: &[&str]) -> ProbeArgs {
        let cmd = ProbeArgs::augment_args(clap::Command::new("probe"));
        let m = cmd
            .try_get_matches_from(["probe"].iter().chain(line))
            .unwrap_or_else(|e| panic!("{line:?}: {e}"));
        ProbeArgs::from_arg_matches(&m).unwrap()
    }

    #[test]
    fn the_flags_from_the_key_table_are_a_valid_command() {
        ProbeArgs::augment_args(clap::Command::new("probe")).debug_assert();
    }

    #[test]
    fn every_flag_sets_its_key() {
        let a = args(&[
            "quic",
            "h:1",
            "--alpn",
            "h3",
            "--alpn",
            "hq",
            "--insecure",
            "--sni",
            "edge.test",
            "--timeout",
            "2s",
            "--json",
        ]);
        assert_eq!(
            (a.kind, a.target.as_str(), a.json),
            (ProbeKind::Quic, "h:1", true)
        );
        let cfg = a.config().unwrap();
        assert_eq!(cfg.alpn, ["h3", "hq"]);
        assert!(cfg.insecure);
        assert_eq!(cfg.sni.as_deref(), Some("edge.test"));
        assert_eq!(cfg.timeout, std::time::Duration::from_secs(2));
        let a = args(&["udp", "h:1", "--send", "-ping", "--expect-regex", "^-"]);
        let cfg = a.config().unwrap();
        assert_eq!(
            (cfg.send.as_deref(), cfg.expect_regex.as_deref()),
            (Some("-ping"), Some("^-")),
            "free text may start with a hyphen"
        );
    }

    #[test]
    fn config_errors_speak_in_flags() {
        let a = args(&["udp", "h:1", "--send", "a", "--send-hex", "00"]);
        let err = Prober::new(&a.config().unwrap()).unwrap_err();
        assert_eq!(
            err.render(Naming::Cli),
            "--send-hex: conflicts with --send; give at most one of --send, --send-hex or \
             --send-base64"
        );
        let err = args(&["tcp", "h:1", "--timeout", "soon"])
            .config()
            .unwrap_err();
        assert!(
            err.0.starts_with("--timeout: \"soon\" is not a duration"),
            "{err}"
        );
        assert!(err.0.ends_with("write e.g. --timeout 500ms"), "{err}");
    }

    #[tokio::test]
    async fn targets() {
        assert_eq!(
            resolve("127.0.0.1:53").await.unwrap(),
            "127.0.0.1:53".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(resolve("[::1]:443").await.unwrap().port(), 443);
        assert_eq!(resolve("localhost:8443").await.unwrap().port(), 8443);
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "host:",
            ":53",
            "::1:53",
            "h:99999",
        ] {
            let err = resolve(bad).await.unwrap_err();
            assert!(err.downcast_ref::<UsageError>().is_some(), "{bad}: {err}");
        }
    }
}

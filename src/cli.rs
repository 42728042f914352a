//! The command line: global options and one subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// DNS-based load balancing for UDP services in AWS Wavelength Zones.
///
/// Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration.
#[derive(Debug, Parser)]
#[command(
    name = "wavelb",
    version,
    propagate_version = true,
    after_help = DOCS_HELP,
)]
pub(crate) struct Cli {
    /// Configuration file (TOML). Every key: /usr/share/doc/wavelb/configuration.md, or
    /// docs/configuration.md in the source.
    #[arg(
        long,
        global = true,
        env = "WAVELB_CONFIG",
        value_name = "PATH",
        help_heading = GLOBAL_HEADING
    )]
    pub config: Option<PathBuf>,

    /// Log line format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = LogFormat::Text,
        help_heading = GLOBAL_HEADING
    )]
    pub log_format: LogFormat,

    /// More log detail (-v debug, -vv trace). RUST_LOG overrides both -v and -q.
    #[arg(
        short,
        long,
        global = true,
        action = clap::ArgAction::Count,
        help_heading = GLOBAL_HEADING
    )]
    pub verbose: u8,

    /// Less log detail (-q warnings only, -qq errors only).
    #[arg(
        short,
        long,
        global = true,
        action = clap::ArgAction::Count,
        conflicts_with = "verbose",
        help_heading = GLOBAL_HEADING
    )]
    pub quiet: u8,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The heading of the options every subcommand takes (`--config`, `--log-format`, `-v`, `-q`),
/// apart from its own.
pub(crate) const GLOBAL_HEADING: &str = "Global options";

/// Where the documentation is, installed and in the source: the end of `wavelb --help`, and of
/// every man page (`src/cmd/manpages.rs`).
pub(crate) const DOCS_HELP: &str = "Documentation: /usr/share/doc/wavelb/ (the Debian package), or docs/ \
in the source: configuration.md (every key of the configuration file), metrics.md, \
record-protocol.md, route53-compatibility.md, robustness.md; README.md for the whole tour.";

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Keep this instance's weighted record in Route 53, and drain it on the way out.
    Agent(AgentArgs),
    /// Probe every target of a pool and quarantine the failed ones.
    Health(HealthArgs),
    /// Serve a local authoritative DNS zone with a Route 53-compatible API (labs and tests).
    Resolver(Box<ResolverArgs>),
    /// Run the whole system on loopback: resolver, demo targets, registration, health checks.
    Lab(LabArgs),
    /// Inspect and change a pool's records by hand.
    Records(RecordsArgs),
    /// Run one health probe against a target.
    Probe(crate::cmd::probe::ProbeArgs),
    /// Print the version and how this binary was built: git commit, cargo features, target,
    /// profile.
    Version,
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) to standard output.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (wavelb.1 and one per subcommand) into a directory.
    Manpages {
        /// The directory (created if missing), e.g. /usr/local/share/man/man1.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// `wavelb resolver`. Each flag overrides the `[resolver]` key of the same name.
#[derive(Debug, Args)]
pub(crate) struct ResolverArgs {
    /// Validate the configuration file and exit.
    #[arg(long)]
    pub check_config: bool,
    /// DNS address, UDP and TCP (repeatable; port 0 picks one) [default: 127.0.0.1:5353].
    #[arg(long, value_name = "ADDR:PORT")]
    pub dns_listen: Vec<std::net::SocketAddr>,
    /// Route 53 API address [default: 127.0.0.1:8053].
    #[arg(long, value_name = "ADDR:PORT")]
    pub api_listen: Option<std::net::SocketAddr>,
    /// Prometheus /metrics and /healthz address [default: 127.0.0.1:9153].
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// A hosted zone to create at start if missing (repeatable).
    #[arg(long = "zone", value_name = "NAME")]
    pub zones: Vec<String>,
    /// Directory for the durable state (state.sqlite3); without it, state lives in memory only.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Record sets all hosted zones hold together at most [default: 200000].
    #[arg(long, value_name = "N")]
    pub max_record_sets: Option<usize>,
    /// Record sets one hosted zone holds at most: Route 53's quota per hosted zone, which AWS
    /// raises on request [default: 10000].
    #[arg(long, value_name = "N")]
    pub max_record_sets_per_zone: Option<usize>,
    /// MiB all record sets hold together at most (names, set ids, values) [default: 128].
    #[arg(long, value_name = "MIB")]
    pub max_state_mib: Option<u64>,
    /// How long a change stays PENDING before INSYNC, e.g. 2s [default: 0s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub propagation_delay: Option<std::time::Duration>,
    /// API requests per second before Throttling errors [default: unlimited].
    #[arg(long, value_name = "N")]
    pub api_rate_limit: Option<f64>,
    /// TOML file of SigV4 keys ([[credentials]] access_key_id, secret_access_key, and optionally
    /// policy: an IAM policy JSON file the key is held to) the API requires.
    #[arg(long, value_name = "FILE")]
    pub api_credentials: Option<PathBuf>,
    /// Serve an unauthenticated API on a non-loopback address.
    #[arg(long)]
    pub api_insecure: bool,
    /// Accept SigV4 requests that leave the body unsigned (x-amz-content-sha256: UNSIGNED-PAYLOAD).
    #[arg(long)]
    pub api_allow_unsigned_payload: bool,
    /// Open DNS-over-TCP connections at most; past it a newcomer takes the place of the least
    /// recently active connection of the source network holding the most [default: 512].
    #[arg(long, value_name = "N")]
    pub dns_tcp_max_connections: Option<usize>,
    /// Open DNS-over-TCP connections at most from one /24 (IPv4) or /56 (IPv6); more are closed
    /// at once [default: 64].
    #[arg(long, value_name = "N")]
    pub dns_tcp_max_per_source: Option<usize>,
    /// DNS-over-TCP idle, read and write timeout [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub dns_tcp_timeout: Option<std::time::Duration>,
    /// Queries answered on one DNS-over-TCP connection before it is closed [default: 1000].
    #[arg(long, value_name = "N")]
    pub dns_tcp_max_queries: Option<usize>,
    /// How long a DNS-over-TCP connection may stay open, however active [default: 2m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub dns_tcp_lifetime: Option<std::time::Duration>,
    /// Open API connections at most; more are closed at once [default: 256].
    #[arg(long, value_name = "N")]
    pub api_max_connections: Option<usize>,
    /// Open API connections at most from one /24 (IPv4) or /56 (IPv6) [default: 64].
    #[arg(long, value_name = "N")]
    pub api_max_per_source: Option<usize>,
    /// Time for a client to send an API request's head, and the API's keep-alive idle timeout
    /// [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub api_header_timeout: Option<std::time::Duration>,
    /// File of `CIDR LATITUDE LONGITUDE [# comment]` lines placing clients (by EDNS Client
    /// Subnet or source address) for geoproximity answers [default: the built-in lab table].
    #[arg(long, value_name = "FILE")]
    pub geo_table: Option<PathBuf>,
}

/// `wavelb agent`: register this instance, keep its record right, drain on stop, Spot
/// interruption or Auto Scaling termination.
#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// Validate the configuration file and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Register, wait for INSYNC, exit (for user-data scripts).
    #[arg(long)]
    pub once: bool,
    /// Drain (weight 0, wait, delete), then exit.
    #[arg(long)]
    pub deregister: bool,
    /// With --deregister: delete at once, without the weight-0 phase.
    #[arg(long)]
    pub now: bool,
    /// `/metrics` address (overrides `[agent] metrics_listen`; port 0 picks one).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// `wavelb health`: the health controller for the configured `[pool]`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// Validate the configuration file and exit.
    #[arg(long)]
    pub check_config: bool,
    /// This controller's name in the leader lease (overrides `[health] controller_id`).
    #[arg(long, value_name = "ID")]
    pub controller_id: Option<String>,
    /// `/metrics` address (overrides `[health] metrics_listen`; port 0 picks one).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// With --check-config: the health controllers that will watch these pools (for the
    /// request budget).
    #[arg(long, value_name = "N", default_value_t = 2, requires = "check_config",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub controllers: u16,
    /// With --check-config: targets per pool (one agent each), for the request budget.
    #[arg(long, value_name = "N", default_value_t = 100, requires = "check_config",
          value_parser = clap::value_parser!(u16).range(1..=100))]
    pub targets_per_pool: u16,
    /// With --check-config: the agents' `reconcile_interval`, for the request budget.
    #[arg(long, value_name = "DURATION", default_value = "300s", requires = "check_config",
          value_parser = parse_duration)]
    pub agent_reconcile_interval: std::time::Duration,
}

// The lab's default addresses: none is in /etc/services or used by a common service, and all
// lie below Linux's ephemeral range (32768-60999), so no outgoing connection holds them. They are
// `wavelb resolver`'s defaults plus 10000: the lab runs on desktops, where 5353 is multicast DNS
// (Avahi and systemd-resolved hold it), 8053 often a BIND statistics channel and 9153 CoreDNS's
// metrics port. README.md's lab lines, deploy/lab/pool.toml and the banner follow them.
/// The lab's default DNS address.
pub(crate) const LAB_DNS_LISTEN: &str = "127.0.0.1:15353";
/// The lab's default Route 53 API address.
pub(crate) const LAB_API_LISTEN: &str = "127.0.0.1:18053";
/// The lab's default metrics address.
pub(crate) const LAB_METRICS_LISTEN: &str = "127.0.0.1:19153";

/// `wavelb lab`: everything on loopback, no configuration needed.
///
/// A health controller probes the targets over UDP and takes a killed one out of the answers
/// in about a second (fall 3 probes, the failing ones at the fast interval of 250ms). Stdin
/// commands: kill N, revive N (stop/start demo target N's echo server); quarantine N, restore N,
/// weight N W (change its record through the Route 53 API); help; quit.
#[derive(Debug, Args)]
pub(crate) struct LabArgs {
    /// DNS address of the lab resolver (UDP and TCP).
    #[arg(long, value_name = "ADDR:PORT", default_value = LAB_DNS_LISTEN)]
    pub dns_listen: std::net::SocketAddr,
    /// Route 53 API address of the lab resolver.
    #[arg(long, value_name = "ADDR:PORT", default_value = LAB_API_LISTEN)]
    pub api_listen: std::net::SocketAddr,
    /// Prometheus /metrics and /healthz address.
    #[arg(long, value_name = "ADDR:PORT", default_value = LAB_METRICS_LISTEN)]
    pub metrics_listen: std::net::SocketAddr,
    /// UDP port of the demo echo targets on 127.0.0.11-14 (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 4000)]
    pub target_port: u16,
    /// How often the live table is printed.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub refresh: std::time::Duration,
    /// How often the health controller probes each demo target (fall 3, rise 2).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub probe_interval: std::time::Duration,
    /// Do not run the health controller (targets then stay in rotation when killed).
    #[arg(long)]
    pub no_health: bool,
    /// Simulated Wavelength zones (1-8). With 2 or more: two targets per zone, one pool per zone
    /// (`edge.<zone id>.lab.test`), the zone tier at `edge.lab.test` (geoproximity, nearest
    /// healthy zone), and a geo table placing client subnet 10.K.0.0/16 near zone K.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub zones: u8,
    /// Plain lines instead of the terminal UI, even on a terminal (the UI is used only when
    /// stdin and stdout are a terminal). Commands come from stdin; its end stops the lab.
    #[arg(long)]
    pub plain: bool,
    /// Read no commands: print the table as plain lines when it changes and serve until Ctrl-C
    /// or SIGTERM (for a service, or stdin that ends).
    #[arg(long)]
    pub headless: bool,
}

/// Parses a duration flag such as `500ms` or `2s`.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, NotADuration> {
    humantime::parse_duration(text).map_err(|source| NotADuration {
        text: text.to_owned(),
        source,
    })
}

/// A duration flag's value that is not a duration.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a duration ({source}); write e.g. 500ms or 2s")]
pub(crate) struct NotADuration {
    text: String,
    source: humantime::DurationError,
}

/// `wavelb records`.
#[derive(Debug, Args)]
#[command(subcommand_required = false, arg_required_else_help = true)]
pub(crate) struct RecordsArgs {
    /// Validate the configuration file and exit.
    #[arg(long)]
    pub check_config: bool,
    /// The operation.
    #[command(subcommand)]
    pub action: Option<RecordsAction>,
}

/// Operations of `wavelb records`. Changes are conditional: they fail rather than overwrite a
/// record that changed since it was read, and they refuse foreign records without --force.
#[derive(Debug, Subcommand)]
pub(crate) enum RecordsAction {
    /// List the pool's targets, foreign ones marked.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set a target's wanted weight (published at once when it is active).
    SetWeight {
        /// The target's set identifier.
        set_id: String,
        /// The weight, 0-255.
        #[arg(value_parser = clap::value_parser!(u8))]
        weight: u8,
        /// Change a foreign record too.
        #[arg(long)]
        force: bool,
    },
    /// Take a target out of rotation (weight 0), keeping its wanted weight.
    Quarantine {
        /// The target's set identifier.
        set_id: String,
        /// Change a foreign record too.
        #[arg(long)]
        force: bool,
    },
    /// Put a quarantined or draining target back with its wanted weight.
    Restore {
        /// The target's set identifier.
        set_id: String,
        /// Change a foreign record too.
        #[arg(long)]
        force: bool,
    },
    /// Change the pool's TTL on purpose: rewrite every target this owner controls with it.
    /// (Every other write keeps the TTL the pool has in Route 53, which applies one TTL to the
    /// whole weighted group.) Set the same `pool.ttl` in every agent and controller afterwards.
    SetTtl {
        /// The TTL in seconds, 1-2147483647.
        #[arg(value_parser = clap::value_parser!(u32).range(1..=2_147_483_647))]
        ttl: u32,
    },
    /// Delete a target's address and ownership records.
    Remove {
        /// The target's set identifier.
        set_id: String,
        /// Delete a foreign record too.
        #[arg(long)]
        force: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The help of `wavelb ARGS… --help`.
    fn help(args: &[&str]) -> String {
        let argv = std::iter::once("wavelb")
            .chain(args.iter().copied())
            .chain(["--help"]);
        Cli::command()
            .try_get_matches_from(argv)
            .unwrap_err()
            .to_string()
    }

    /// Issue 24, item 9: a subcommand's help lists its own options apart from the global ones.
    #[test]
    fn global_options_have_a_heading_of_their_own() {
        for sub in [&["lab"][..], &["health"], &["records", "list"]] {
            let text = help(sub);
            let (own, global) = text
                .split_once(&format!("{GLOBAL_HEADING}:"))
                .unwrap_or_else(|| panic!("no {GLOBAL_HEADING:?} in {sub:?}:\n{text}"));
            assert!(own.contains("Options:"), "{sub:?}:\n{text}");
            for flag in ["--config", "--log-format", "--verbose", "--quiet"] {
                assert!(global.contains(flag), "{flag} in {sub:?}:\n{text}");
                assert!(!own.contains(flag), "{flag} in {sub:?}:\n{text}");
            }
        }
        let lab = help(&["lab"]);
        let own = lab.split_once(GLOBAL_HEADING).unwrap().0;
        assert!(own.contains("--zones"), "{lab}");
        assert!(
            help(&[]).contains("/usr/share/doc/wavelb/"),
            "wavelb --help names the installed docs"
        );
        assert!(
            help(&["health"]).contains("/usr/share/doc/wavelb/configuration.md"),
            "--config names the installed configuration reference"
        );
    }
}

//! The `[resolver]` configuration section and the `--api-credentials` file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::sigv4::Credentials;

/// `[resolver]`: every key has a command-line flag of the same name that overrides it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverConfig {
    /// `--dns-listen`: UDP and TCP addresses (default `127.0.0.1:5353`).
    pub dns_listen: Option<Vec<SocketAddr>>,
    /// `--api-listen` (default `127.0.0.1:8053`).
    pub api_listen: Option<SocketAddr>,
    /// `--metrics-listen` (default `127.0.0.1:9153`).
    pub metrics_listen: Option<SocketAddr>,
    /// `--zone`: zones created at start when missing.
    pub zones: Option<Vec<String>>,
    /// `--state-dir`: where acknowledged changes are kept.
    pub state_dir: Option<PathBuf>,
    /// `--max-record-sets`: record sets all zones hold together at most.
    pub max_record_sets: Option<usize>,
    /// `--max-record-sets-per-zone`: record sets one hosted zone holds at most (Route 53's
    /// quota per hosted zone, 10 000 unless AWS raised it).
    pub max_record_sets_per_zone: Option<usize>,
    /// `--max-state-mib`: MiB all record sets hold together at most.
    pub max_state_mib: Option<u64>,
    /// `--propagation-delay`: how long changes stay PENDING.
    #[serde(default, deserialize_with = "optional_duration")]
    pub propagation_delay: Option<Duration>,
    /// `--api-rate-limit`: requests per second before `Throttling`.
    pub api_rate_limit: Option<f64>,
    /// `--api-credentials`: a TOML file of SigV4 keys the API accepts.
    pub api_credentials: Option<PathBuf>,
    /// `--api-insecure`: allow an unauthenticated API on a non-loopback address.
    pub api_insecure: Option<bool>,
    /// `--api-allow-unsigned-payload`: accept signed requests whose body is not signed
    /// (`x-amz-content-sha256: UNSIGNED-PAYLOAD`).
    pub api_allow_unsigned_payload: Option<bool>,
    /// `--dns-tcp-max-connections`: open DNS-over-TCP connections at most.
    pub dns_tcp_max_connections: Option<usize>,
    /// `--dns-tcp-max-per-source`: open DNS-over-TCP connections at most from one source
    /// network (a /24 for IPv4, a /56 for IPv6).
    pub dns_tcp_max_per_source: Option<usize>,
    /// `--dns-tcp-timeout`: DNS-over-TCP idle, read and write timeout.
    #[serde(default, deserialize_with = "optional_duration")]
    pub dns_tcp_timeout: Option<Duration>,
    /// `--dns-tcp-max-queries`: queries answered on one DNS-over-TCP connection.
    pub dns_tcp_max_queries: Option<usize>,
    /// `--dns-tcp-lifetime`: how long a DNS-over-TCP connection may stay open.
    #[serde(default, deserialize_with = "optional_duration")]
    pub dns_tcp_lifetime: Option<Duration>,
    /// `--api-max-connections`: open API connections at most.
    pub api_max_connections: Option<usize>,
    /// `--api-max-per-source`: open API connections at most from one source network (/24, /56).
    pub api_max_per_source: Option<usize>,
    /// `--api-header-timeout`: time to send a request's head; the keep-alive idle timeout.
    #[serde(default, deserialize_with = "optional_duration")]
    pub api_header_timeout: Option<Duration>,
    /// `--geo-table`: a file of `CIDR LATITUDE LONGITUDE` lines placing clients for
    /// geoproximity answers ([`crate::geotable`]); the built-in lab table without it.
    pub geo_table: Option<PathBuf>,
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    registry::config::duration(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    credentials: Vec<CredentialEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialEntry {
    access_key_id: String,
    secret_access_key: String,
}

/// Reads an `--api-credentials` file:
///
/// ```toml
/// [[credentials]]
/// access_key_id = "AKIDLAB"
/// secret_access_key = "…"
/// ```
pub fn load_credentials(path: &Path) -> Result<Vec<Credentials>, String> {
    let shown = registry::file::shown(path);
    let bytes = registry::file::read_secret(path, registry::file::MAX_CREDENTIALS_BYTES)
        .map_err(|e| format!("cannot read the API credentials file: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{shown}: not UTF-8 text"))?;
    let file: CredentialsFile = toml::from_str(&text).map_err(|e| {
        format!(
            "{shown}: {}",
            registry::file::error_at(&text, e.span(), e.message())
        )
    })?;
    if file.credentials.is_empty() {
        return Err(format!("{shown}: no [[credentials]] entries"));
    }
    file.credentials
        .into_iter()
        .map(|c| {
            if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                Err(format!(
                    "{shown}: access_key_id and secret_access_key must not be empty"
                ))
            } else {
                Ok(Credentials {
                    access_key_id: c.access_key_id,
                    secret_access_key: c.secret_access_key,
                })
            }
        })
        .collect()
}

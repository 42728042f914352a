//! The `[resolver]` configuration section and the `--api-credentials` file (its keys, and the IAM
//! policy each may carry).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use aws_auth::iam::{Policy, PolicyError};
use aws_auth::sigv4::Credentials;

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
    #[serde(default, deserialize_with = "vocab::duration::deserialize_optional")]
    pub propagation_delay: Option<Duration>,
    /// `--api-rate-limit`: requests per second before `Throttling`.
    pub api_rate_limit: Option<f64>,
    /// `--api-credentials`: a TOML file of SigV4 keys the API accepts, each optionally held to an
    /// IAM policy ([`load_credentials`]).
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
    #[serde(default, deserialize_with = "vocab::duration::deserialize_optional")]
    pub dns_tcp_timeout: Option<Duration>,
    /// `--dns-tcp-max-queries`: queries answered on one DNS-over-TCP connection.
    pub dns_tcp_max_queries: Option<usize>,
    /// `--dns-tcp-lifetime`: how long a DNS-over-TCP connection may stay open.
    #[serde(default, deserialize_with = "vocab::duration::deserialize_optional")]
    pub dns_tcp_lifetime: Option<Duration>,
    /// `--api-max-connections`: open API connections at most.
    pub api_max_connections: Option<usize>,
    /// `--api-max-per-source`: open API connections at most from one source network (/24, /56).
    pub api_max_per_source: Option<usize>,
    /// `--api-header-timeout`: time to send a request's head; the keep-alive idle timeout.
    #[serde(default, deserialize_with = "vocab::duration::deserialize_optional")]
    pub api_header_timeout: Option<Duration>,
    /// `--geo-table`: a file of `CIDR LATITUDE LONGITUDE` lines placing clients for
    /// geoproximity answers (`dns::geotable`); the built-in lab table without it.
    pub geo_table: Option<PathBuf>,
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
    /// An IAM policy document (JSON) the key's requests are evaluated against; relative to the
    /// credentials file's directory.
    policy: Option<PathBuf>,
}

/// The keys the API accepts (`--api-credentials`), and the IAM policy each may carry.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    /// The SigV4 keys.
    pub credentials: Vec<Credentials>,
    /// The policy of each key that has one, by access key id. A key without one may do anything.
    pub policies: HashMap<String, Arc<Policy>>,
}

impl ApiKeys {
    /// The policy `access_key_id`'s requests are evaluated against, if it has one.
    pub fn policy(&self, access_key_id: &str) -> Option<&Policy> {
        self.policies.get(access_key_id).map(Arc::as_ref)
    }
}

/// Why an `--api-credentials` file cannot be used. Paths are shown escaped.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file cannot be read (or is not a regular file, or is too large).
    #[error("cannot read the API credentials file: {0}")]
    Read(registry::file::FileError),
    /// Not UTF-8.
    #[error("{path}: not UTF-8 text")]
    NotText {
        /// The file.
        path: String,
    },
    /// Not the TOML the file must hold: one line naming the place.
    #[error("{path}: {detail}")]
    Toml {
        /// The file.
        path: String,
        /// Line, column, message and an excerpt (`registry::file::error_at`).
        detail: String,
    },
    /// No `[[credentials]]` entry.
    #[error("{path}: no [[credentials]] entries")]
    NoEntries {
        /// The file.
        path: String,
    },
    /// An entry with an empty key id or secret.
    #[error("{path}: access_key_id and secret_access_key must not be empty")]
    EmptyKey {
        /// The file.
        path: String,
    },
    /// Two entries for one access key id (which policy would apply?).
    #[error("{path}: access key {key:?} is listed twice")]
    Duplicate {
        /// The file.
        path: String,
        /// The access key id.
        key: String,
    },
    /// A key's policy file cannot be read.
    #[error("{path}: the policy of access key {key:?}: {source}")]
    PolicyFile {
        /// The credentials file.
        path: String,
        /// The access key id.
        key: String,
        /// Why.
        source: registry::file::FileError,
    },
    /// A key's policy is not one the lab can evaluate.
    #[error("{path}: the policy of access key {key:?} ({policy}): {source}")]
    Policy {
        /// The credentials file.
        path: String,
        /// The access key id.
        key: String,
        /// The policy file.
        policy: String,
        /// Why.
        source: Box<PolicyError>,
    },
}

/// Reads an `--api-credentials` file, and the policy files it names:
///
/// ```toml
/// [[credentials]]
/// access_key_id = "AKIDLAB"
/// secret_access_key = "…"
/// policy = "agent-policy.json"   # optional; relative to this file's directory
/// ```
///
/// A policy file is read through `registry::file` within [`aws_auth::iam::MAX_POLICY_BYTES`].
///
/// # Errors
///
/// A [`CredentialsError`] naming the file and, for a policy, the key and the policy file.
pub fn load_credentials(path: &Path) -> Result<ApiKeys, CredentialsError> {
    let shown = registry::file::shown(path);
    let bytes = registry::file::read_secret(path, registry::file::MAX_CREDENTIALS_BYTES)
        .map_err(CredentialsError::Read)?;
    let text = String::from_utf8(bytes).map_err(|_| CredentialsError::NotText {
        path: shown.clone(),
    })?;
    let file: CredentialsFile = toml::from_str(&text).map_err(|e| CredentialsError::Toml {
        path: shown.clone(),
        detail: registry::file::error_at(&text, e.span(), e.message()),
    })?;
    if file.credentials.is_empty() {
        return Err(CredentialsError::NoEntries { path: shown });
    }
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    let mut keys = ApiKeys::default();
    for c in file.credentials {
        if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
            return Err(CredentialsError::EmptyKey { path: shown });
        }
        if keys
            .credentials
            .iter()
            .any(|k| k.access_key_id == c.access_key_id)
        {
            return Err(CredentialsError::Duplicate {
                path: shown,
                key: c.access_key_id,
            });
        }
        if let Some(policy) = &c.policy {
            let policy_path = dir.join(policy);
            let text = registry::file::read_text(&policy_path, aws_auth::iam::MAX_POLICY_BYTES)
                .map_err(|source| CredentialsError::PolicyFile {
                    path: shown.clone(),
                    key: c.access_key_id.clone(),
                    source,
                })?;
            let parsed = Policy::parse(&text).map_err(|source| CredentialsError::Policy {
                path: shown.clone(),
                key: c.access_key_id.clone(),
                policy: registry::file::shown(&policy_path),
                source: Box::new(source),
            })?;
            keys.policies
                .insert(c.access_key_id.clone(), Arc::new(parsed));
        }
        keys.credentials.push(Credentials {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        // A secret others could read is warned about; these are the owner's only.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        path
    }

    const ALLOW_ALL: &str = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#;

    #[test]
    fn a_key_may_carry_a_policy_named_relative_to_the_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        write(&dir.path().join("policies"), "all.json", ALLOW_ALL);
        let creds = write(
            dir.path(),
            "creds.toml",
            "[[credentials]]\naccess_key_id = \"AKIDA\"\nsecret_access_key = \"a\"\n\
             policy = \"policies/all.json\"\n\n\
             [[credentials]]\naccess_key_id = \"AKIDB\"\nsecret_access_key = \"b\"\n",
        );
        let keys = load_credentials(&creds).unwrap();
        assert_eq!(keys.credentials.len(), 2);
        assert!(keys.policy("AKIDA").is_some());
        assert!(
            keys.policy("AKIDB").is_none(),
            "no policy: everything allowed"
        );
    }

    #[test]
    fn a_policy_the_lab_cannot_read_or_evaluate_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |policy: &str| {
            format!(
                "[[credentials]]\naccess_key_id = \"AKIDA\"\nsecret_access_key = \"a\"\npolicy = \"{policy}\"\n"
            )
        };
        let missing = write(dir.path(), "missing.toml", &entry("nope.json"));
        let e = load_credentials(&missing).unwrap_err().to_string();
        assert!(
            e.contains("the policy of access key \"AKIDA\"") && e.contains("nope.json"),
            "{e}"
        );

        write(
            dir.path(),
            "ip.json",
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*",
                "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}}"#,
        );
        let ip = write(dir.path(), "ip.toml", &entry("ip.json"));
        let e = load_credentials(&ip).unwrap_err();
        assert!(matches!(e, CredentialsError::Policy { .. }), "{e}");
        assert!(e.to_string().contains("IpAddress"), "{e}");

        let huge = "x".repeat(usize::try_from(aws_auth::iam::MAX_POLICY_BYTES).unwrap() + 1);
        write(dir.path(), "huge.json", &huge);
        let big = write(dir.path(), "big.toml", &entry("huge.json"));
        let e = load_credentials(&big).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");

        let twice = write(
            dir.path(),
            "twice.toml",
            "[[credentials]]\naccess_key_id = \"AKIDA\"\nsecret_access_key = \"a\"\n\
             [[credentials]]\naccess_key_id = \"AKIDA\"\nsecret_access_key = \"b\"\n",
        );
        assert!(matches!(
            load_credentials(&twice).unwrap_err(),
            CredentialsError::Duplicate { .. }
        ));
    }
}

//! A small IMDSv2 client: a session token from `PUT /latest/api/token`, then token-authenticated
//! GETs, with short timeouts, retries with backoff, and errors that name the endpoint.

use std::time::{Duration, Instant};

use registry::retry::Backoff;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// How long a session token lives (IMDS allows up to 6 hours).
const TOKEN_TTL_SECONDS: u64 = 21_600;
/// Connect + request + response bound for one IMDS call.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest IMDS response accepted.
const MAX_RESPONSE: usize = 64 * 1024;

/// Why IMDS could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    /// The endpoint URL is not `http://host[:port]`.
    #[error("bad IMDS endpoint {0:?}: expected http://host[:port], e.g. http://169.254.169.254")]
    BadEndpoint(String),
    /// Nothing answered (connection refused, timeout).
    #[error(
        "IMDS at {endpoint} did not answer {path}: {why}; is this an EC2 instance with the metadata service enabled (or set [agent] address and target_id)?"
    )]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The path.
        path: String,
        /// What happened.
        why: String,
    },
    /// IMDS answered with an unexpected status.
    #[error("IMDS at {endpoint} answered {path} with HTTP {status}")]
    Status {
        /// The endpoint.
        endpoint: String,
        /// The path.
        path: String,
        /// The status.
        status: u16,
    },
}

/// An IMDSv2 client.
#[derive(Debug)]
pub struct Imds {
    endpoint: String,
    authority: String,
    token: Mutex<Option<(String, Instant)>>,
    attempts: u32,
}

struct Reply {
    status: u16,
    body: String,
}

impl Imds {
    /// A client for `endpoint` (`http://169.254.169.254`, `http://[fd00:ec2::254]`, or an
    /// emulator), retrying each call up to `attempts` times.
    pub fn new(endpoint: &str, attempts: u32) -> Result<Self, ImdsError> {
        let authority = endpoint
            .strip_prefix("http://")
            .map(|a| a.trim_end_matches('/'))
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| ImdsError::BadEndpoint(endpoint.to_owned()))?;
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !(authority.starts_with('[') && authority.ends_with(']'))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            authority,
            token: Mutex::new(None),
            attempts: attempts.max(1),
        })
    }

    /// The endpoint, for messages.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// GETs `path` (e.g. `meta-data/instance-id`, under `/latest/`). `Ok(None)` for 404.
    pub async fn get(&self, path: &str) -> Result<Option<String>, ImdsError> {
        let full = format!("/latest/{path}");
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.get_once(&full).await;
            match result {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.attempts => {
                    tracing::debug!(error = %e, attempt, "IMDS call failed; retrying");
                    let delay = backoff.next_delay(&mut rand::rng());
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn get_once(&self, path: &str) -> Result<Option<String>, ImdsError> {
        let token = self.token(false).await?;
        let mut reply = self
            .call("GET", path, &[("X-aws-ec2-metadata-token", &token)])
            .await?;
        if reply.status == 401 {
            // The token expired or IMDS restarted: take a new one once.
            let token = self.token(true).await?;
            reply = self
                .call("GET", path, &[("X-aws-ec2-metadata-token", &token)])
                .await?;
        }
        match reply.status {
            200 => Ok(Some(reply.body)),
            404 => Ok(None),
            status => Err(ImdsError::Status {
                endpoint: self.endpoint.clone(),
                path: path.to_owned(),
                status,
            }),
        }
    }

    async fn token(&self, refresh: bool) -> Result<String, ImdsError> {
        let mut cached = self.token.lock().await;
        if !refresh
            && let Some((token, taken)) = cached.as_ref()
            && taken.elapsed() < Duration::from_secs(TOKEN_TTL_SECONDS * 9 / 10)
        {
            return Ok(token.clone());
        }
        let ttl = TOKEN_TTL_SECONDS.to_string();
        let path = "/latest/api/token";
        let reply = self
            .call(
                "PUT",
                path,
                &[("X-aws-ec2-metadata-token-ttl-seconds", &ttl)],
            )
            .await?;
        if reply.status != 200 {
            return Err(ImdsError::Status {
                endpoint: self.endpoint.clone(),
                path: path.into(),
                status: reply.status,
            });
        }
        let token = reply.body.trim().to_owned();
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, ImdsError> {
        let unreachable = |why: String| ImdsError::Unreachable {
            endpoint: self.endpoint.clone(),
            path: path.to_owned(),
            why,
        };
        let exchange = async {
            let mut stream = TcpStream::connect(&self.authority)
                .await
                .map_err(|e| e.to_string())?;
            let mut request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n",
                self.authority
            );
            for (k, v) in headers {
                request.push_str(&format!("{k}: {v}\r\n"));
            }
            request.push_str("\r\n");
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut raw = Vec::new();
            stream
                .take(MAX_RESPONSE as u64)
                .read_to_end(&mut raw)
                .await
                .map_err(|e| e.to_string())?;
            parse_reply(&raw).map_err(|e| e.to_string())
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {CALL_TIMEOUT:?}")))?
            .map_err(unreachable)
    }
}

/// Why IMDS's HTTP response does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ReplyError {
    /// No end of the headers.
    #[error("a truncated HTTP response")]
    Truncated,
    /// No status code in the status line.
    #[error("a response without an HTTP status")]
    NoStatus,
    /// A chunked body that does not decode.
    #[error(transparent)]
    Chunked(#[from] ChunkError),
}

/// Why a chunked body is not well-formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// No line with the next chunk's size.
    #[error("a truncated chunked body")]
    TruncatedBody,
    /// A chunk size that is not hex digits.
    #[error("a bad chunk size")]
    BadSize,
    /// A chunk shorter than its size, or without its CRLF.
    #[error("a truncated chunk")]
    TruncatedChunk,
}

fn parse_reply(raw: &[u8]) -> Result<Reply, ReplyError> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or(ReplyError::Truncated)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(ReplyError::NoStatus)?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Ok(Reply { status, body })
}

/// Decodes an HTTP/1.1 chunked body (chunk extensions and trailers are not expected from IMDS).
///
/// # Errors
///
/// Why the body is not well-formed chunked encoding (a bad or truncated chunk).
pub fn dechunk(mut body: &str) -> Result<String, ChunkError> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").ok_or(ChunkError::TruncatedBody)?;
        let size = usize::from_str_radix(size.trim(), 16).map_err(|_| ChunkError::BadSize)?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..size).ok_or(ChunkError::TruncatedChunk)?;
        out.push_str(chunk);
        body = rest.get(size + 2..).ok_or(ChunkError::TruncatedChunk)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_replies() {
        assert_eq!(
            Imds::new("http://169.254.169.254", 1).unwrap().authority,
            "169.254.169.254:80"
        );
        assert_eq!(
            Imds::new("http://127.0.0.1:8111/", 1).unwrap().authority,
            "127.0.0.1:8111"
        );
        assert_eq!(
            Imds::new("http://[fd00:ec2::254]", 1).unwrap().authority,
            "[fd00:ec2::254]:80"
        );
        assert!(Imds::new("https://x", 1).is_err());
        let r = parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "abc"));
        let r = parse_reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, "abcde");
        assert!(parse_reply(b"garbage").is_err());
    }
}

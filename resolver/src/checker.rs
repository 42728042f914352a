//! Runs the health checks: every second, takes the probes that are due from the store
//! ([`Store::take_due_probes`](crate::store::Store::take_due_probes), at each check's
//! `RequestInterval`), probes their endpoints, and records the results; when a status changes,
//! the DNS snapshot is rebuilt. The decisions (due or not, healthy or not) are the store's and
//! [`crate::healthcheck`]'s; this module only does the I/O.
//!
//! Probes, as Route 53 documents them ("How Amazon Route 53 determines whether a health check
//! is healthy"): TCP connects within 10 s; HTTP and HTTPS connect within 4 s, then the status
//! line must arrive within 2 s and be 2xx or 3xx; the `*_STR_MATCH` types also need
//! `SearchString` in the first 5 120 bytes of the body (the lab searches the body as sent, so a
//! chunked body is searched with its chunk sizes). HTTPS does not verify the certificate, as
//! Route 53 does not; the server name is `FullyQualifiedDomainName` when `EnableSNI` is on.
//! Every probe goes to `IPAddress`: loopback in the lab.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use registry::clock::unix_now_ms;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::healthcheck::{CheckType, HealthCheckConfig, MAX_HEALTH_CHECKS, Observation};
use crate::shared::Shared;

/// How often the store is asked for due probes.
const TICK: Duration = Duration::from_secs(1);
/// Route 53's time for a TCP health check's connection.
const TCP_CONNECT: Duration = Duration::from_secs(10);
/// Route 53's time for an HTTP(S) health check's connection.
const HTTP_CONNECT: Duration = Duration::from_secs(4);
/// Route 53's time for an HTTP(S) response after the connection (TLS handshake included here).
const HTTP_RESPONSE: Duration = Duration::from_secs(2);
/// The body bytes Route 53 searches for `SearchString`.
const SEARCHED_BODY: usize = 5120;
/// The most response-head bytes read (status line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// Probes in flight at most: each check has at most two (a probe lasts at most 10 s, the
/// shortest interval).
const MAX_IN_FLIGHT: usize = 2 * MAX_HEALTH_CHECKS;

/// Probes the due health checks forever (spawned once by [`crate::service`]).
pub async fn run(shared: Arc<Shared>) {
    let tls = match probe::unverified_client_config() {
        Ok(config) => Some(TlsConnector::from(Arc::new(config))),
        Err(e) => {
            tracing::error!(error = %e, "no TLS for HTTPS health checks; they will fail");
            None
        }
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Due times are on this monotonic clock (a wall clock stepped back would stall every check).
    let started = tokio::time::Instant::now();
    let mut probes: JoinSet<(String, bool, String)> = JoinSet::new();
    // A status changed since the last tick: the snapshot is rebuilt at most once per tick, not
    // once per flip (200 checks may flip together).
    let mut changed = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let mut store = shared.store.lock().await;
                if std::mem::take(&mut changed) {
                    shared.publish(&store);
                }
                let due = store.take_due_probes(now_ms);
                drop(store);
                let mut skipped = 0usize;
                for (id, config) in due {
                    if probes.len() >= MAX_IN_FLIGHT {
                        skipped += 1;
                        continue;
                    }
                    let tls = tls.clone();
                    probes.spawn(async move {
                        let (success, report) = probe_endpoint(&config, tls.as_ref()).await;
                        (id, success, report)
                    });
                }
                if skipped > 0 {
                    tracing::warn!(skipped, in_flight = probes.len(), "too many health check probes in flight; skipped these until their next interval");
                }
            }
            Some(done) = probes.join_next() => {
                let (id, success, report) = match done {
                    Ok(result) => result,
                    Err(e) => {
                        tracing::error!(error = %e, "a health check probe failed to finish; its check keeps its status");
                        continue;
                    }
                };
                let observation = Observation { success, report, at_ms: unix_now_ms() };
                if shared.store.lock().await.record_probe(&id, observation) {
                    tracing::info!(id, healthy = success, "health check status changed");
                    changed = true;
                }
            }
        }
    }
}

/// Probes one endpoint: success and Route 53's status text.
async fn probe_endpoint(config: &HealthCheckConfig, tls: Option<&TlsConnector>) -> (bool, String) {
    let (Some(ip), Some(port)) = (config.ip_address, config.effective_port()) else {
        return (
            false,
            "Failure: the health check has no IPAddress or Port".into(),
        );
    };
    let addr = SocketAddr::new(ip, port);
    let limit = if config.check_type == CheckType::Tcp {
        TCP_CONNECT
    } else {
        HTTP_CONNECT
    };
    let stream = match timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => {
            return (
                false,
                format!(
                    "Failure: Connection timed out after {}s. The endpoint or the internet \
                     connection is down, or requests are being blocked by your firewall.",
                    limit.as_secs()
                ),
            );
        }
        Ok(Err(e)) => return (false, format!("Failure: Could not connect to {addr}: {e}")),
        Ok(Ok(s)) => s,
    };
    if config.check_type == CheckType::Tcp {
        return (true, "Success: TCP connection established".into());
    }
    let exchange = async {
        if config.check_type.tls() {
            let Some(connector) = tls else {
                return Err("TLS is not available in this resolver".to_owned());
            };
            let name = config
                .fqdn
                .as_deref()
                .filter(|_| config.enable_sni.unwrap_or(true))
                .and_then(|n| ServerName::try_from(n.trim_end_matches('.').to_owned()).ok())
                .unwrap_or(ServerName::IpAddress(ip.into()));
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            http_exchange(stream, config, &host_header(config, addr)).await
        } else {
            http_exchange(stream, config, &host_header(config, addr)).await
        }
    };
    match timeout(HTTP_RESPONSE, exchange).await {
        Err(_) => (
            false,
            format!(
                "Failure: The endpoint did not respond within {}s after the connection",
                HTTP_RESPONSE.as_secs()
            ),
        ),
        Ok(Err(why)) => (false, format!("Failure: {why}")),
        Ok(Ok(verdict)) => verdict,
    }
}

/// The `Host` header: `FullyQualifiedDomainName` or the address, with a non-default port.
fn host_header(config: &HealthCheckConfig, addr: SocketAddr) -> String {
    let host = config.fqdn.clone().unwrap_or_else(|| match addr.ip() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    });
    let default = if config.check_type.tls() { 443 } else { 80 };
    if addr.port() == default {
        host
    } else {
        format!("{host}:{}", addr.port())
    }
}

/// Sends the GET and judges the response (see the module).
async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    config: &HealthCheckConfig,
    host: &str,
) -> Result<(bool, String), String> {
    let path = config.resource_path.as_deref().unwrap_or("/");
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Amazon-Route53-Health-Check-Service \
         (ref wavelb-lab)\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let want_body = config.check_type.matches_string();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    // The end of the head, searched only in bytes not searched before (a target that sends one
    // byte at a time costs one short search per byte, not a rescan of the buffer).
    let mut head_end = None;
    let mut scanned = 0usize;
    loop {
        if head_end.is_none() {
            let from = scanned.saturating_sub(3);
            head_end = find(&buf[from..], b"\r\n\r\n").map(|at| from + at + 4);
            scanned = buf.len();
        }
        let enough = match head_end {
            Some(end) => !want_body || buf.len() >= end + SEARCHED_BODY,
            None => buf.len() >= MAX_HEAD,
        };
        if enough {
            break;
        }
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // A TLS peer that closes without close_notify (common, and harmless here: the
            // response is judged on what arrived).
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(format!("cannot read the response: {e}")),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(judge(&buf, config.search_string.as_deref()))
}

/// Where `needle` first starts in `haystack` (an empty needle: at 0).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The most characters of a target's reason phrase shown in a status report.
const MAX_REASON_CHARS: usize = 64;

/// The verdict on a response (its head and the start of its body): a 2xx or 3xx status, and
/// `search` in the first [`SEARCHED_BODY`] bytes of the body when given. Pure.
fn judge(response: &[u8], search: Option<&str>) -> (bool, String) {
    let line_end = find(response, b"\r\n").unwrap_or(response.len());
    let line = String::from_utf8_lossy(&response[..line_end.min(256)]);
    let mut parts = line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return (false, "Failure: the response has no status line".into());
    };
    // The reason phrase is the target's text: printable ASCII only (it ends up in the XML of
    // GetHealthCheckStatus), and short.
    let reason: String = parts
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .filter(|c| *c == ' ' || c.is_ascii_graphic())
        .take(MAX_REASON_CHARS)
        .collect();
    let Some(status) = code
        .parse::<u16>()
        .ok()
        .filter(|_| version.starts_with("HTTP/"))
    else {
        return (
            false,
            format!("Failure: the response's status line {line:?} is not HTTP"),
        );
    };
    let shown = format!("HTTP Status Code {status}, {reason}");
    if !(200..400).contains(&status) {
        return (false, format!("Failure: {shown}"));
    }
    if let Some(search) = search {
        let body_start = find(response, b"\r\n\r\n").map_or(response.len(), |at| at + 4);
        let body = &response[body_start..response.len().min(body_start + SEARCHED_BODY)];
        if find(body, search.as_bytes()).is_none() {
            return (
                false,
                format!(
                    "Failure: {shown}. The search string was not found in the first \
                     {SEARCHED_BODY} bytes of the response body"
                ),
            );
        }
    }
    (true, format!("Success: {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_judged_as_route53_does() {
        assert_eq!(
            judge(b"HTTP/1.1 200 OK\r\n\r\nhi", None),
            (true, "Success: HTTP Status Code 200, OK".into())
        );
        assert!(judge(b"HTTP/1.0 302 Found\r\n\r\n", None).0);
        let (ok, report) = judge(b"HTTP/1.1 503 Service Unavailable\r\n\r\n", None);
        assert!(!ok && report == "Failure: HTTP Status Code 503, Service Unavailable");
        assert!(!judge(b"garbage", None).0);
        assert!(!judge(b"", None).0);
        assert!(judge(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nall good", Some("good")).0);
        let (ok, report) = judge(b"HTTP/1.1 200 OK\r\n\r\nall bad", Some("good"));
        assert!(!ok && report.contains("search string"), "{report}");
        // Only the first 5 120 bytes of the body count.
        let mut late = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        late.extend(std::iter::repeat_n(b'x', SEARCHED_BODY));
        late.extend_from_slice(b"good");
        assert!(!judge(&late, Some("good")).0);
    }

    fn config(kind: &str, port: u16) -> HealthCheckConfig {
        crate::healthcheck::ConfigInput {
            check_type: Some(kind.into()),
            ip_address: Some("127.0.0.1".into()),
            port: Some(port.to_string()),
            resource_path: (kind == "HTTP").then(|| "/health".into()),
            ..Default::default()
        }
        .create()
        .unwrap()
    }

    /// A loopback server answering every `GET /health` with `reply` (nothing when empty, keeping
    /// the connection open), after reading the request head; returns its port.
    async fn server(reply: &'static [u8]) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).await.unwrap() == 1 {
                        head.push(byte[0]);
                    }
                    // A TCP probe closes without a request: nothing to answer.
                    if !head.starts_with(b"GET /health HTTP/1.1\r\n") {
                        return;
                    }
                    if reply.is_empty() {
                        std::future::pending::<()>().await;
                    }
                    conn.write_all(reply).await.unwrap();
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn http_and_tcp_probes_reach_real_listeners() {
        let up = server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(
            probe_endpoint(&config("HTTP", up), None).await,
            (true, "Success: HTTP Status Code 200, OK".into())
        );
        assert!(probe_endpoint(&config("TCP", up), None).await.0);
        let failing = server(b"HTTP/1.1 500 Internal Server Error\r\n\r\n").await;
        let (ok, report) = probe_endpoint(&config("HTTP", failing), None).await;
        assert!(
            !ok && report.ends_with("500, Internal Server Error"),
            "{report}"
        );
        // A closed port: refused at once.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let (ok, report) = probe_endpoint(&config("TCP", port), None).await;
        assert!(
            !ok && report.starts_with("Failure: Could not connect"),
            "{report}"
        );
    }

    #[tokio::test]
    async fn a_silent_endpoint_fails_after_the_response_time() {
        let silent = server(b"").await;
        let started = std::time::Instant::now();
        let (ok, report) = probe_endpoint(&config("HTTP", silent), None).await;
        assert!(!ok && report.contains("within 2s"), "{report}");
        assert!(started.elapsed() < HTTP_RESPONSE + Duration::from_secs(2));
    }

    /// A loopback server that answers every request with `head`, then sends `filler` again and
    /// again, `pause` apart, until the probe hangs up; returns its port and the bytes it sent.
    async fn endless(
        head: &'static [u8],
        filler: &'static [u8],
        pause: Duration,
    ) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 1024];
                    let _ = conn.read(&mut request).await;
                    if conn.write_all(head).await.is_err() {
                        return;
                    }
                    while conn.write_all(filler).await.is_ok() {
                        counter.fetch_add(filler.len(), std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(pause).await;
                    }
                });
            }
        });
        (port, sent)
    }

    #[tokio::test]
    async fn hostile_targets_are_judged_within_the_time_and_byte_bounds() {
        let bound = HTTP_RESPONSE + Duration::from_secs(1);
        // An endless body: HTTP is judged on the head, STR_MATCH on the first 5 120 body bytes.
        let (port, _) = endless(b"HTTP/1.1 200 OK\r\n\r\n", &[b'x'; 1024], Duration::ZERO).await;
        let started = std::time::Instant::now();
        assert!(probe_endpoint(&config("HTTP", port), None).await.0);
        let mut matching = config("HTTP", port);
        matching.check_type = CheckType::HttpStrMatch;
        matching.search_string = Some("needle".into());
        let (ok, report) = probe_endpoint(&matching, None).await;
        assert!(!ok && report.contains("first 5120 bytes"), "{report}");
        assert!(started.elapsed() < bound, "{:?}", started.elapsed());
        // A head that never ends: judged after MAX_HEAD bytes, on its status line.
        let (port, _) = endless(
            b"HTTP/1.1 503 Slow\r\n",
            b"X-Pad: yyyyyyyy\r\n",
            Duration::ZERO,
        )
        .await;
        let (ok, report) = probe_endpoint(&config("HTTP", port), None).await;
        assert!(!ok && report.ends_with("503, Slow"), "{report}");
        // A trickle, one byte every 50 ms: cut at the response time, whatever it sent.
        let (port, sent) = endless(b"", b"H", Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        let (ok, report) = probe_endpoint(&config("HTTP", port), None).await;
        assert!(!ok && report.contains("within 2s"), "{report}");
        assert!(started.elapsed() < bound, "{:?}", started.elapsed());
        assert!(
            sent.load(std::sync::atomic::Ordering::Relaxed) > 10,
            "the trickle never started"
        );
        // Control characters in the reason phrase never reach the status report (its XML).
        let (ok, report) = judge(b"HTTP/1.1 200 O\x07K\x1b[31m\r\n\r\n", None);
        assert!(
            ok && report == "Success: HTTP Status Code 200, OK[31m",
            "{report}"
        );
        // An empty search string cannot panic the probe (the API refuses one anyway).
        assert!(judge(b"HTTP/1.1 200 OK\r\n\r\nbody", Some("")).0);
    }

    #[test]
    fn host_headers_carry_the_name_and_a_non_default_port() {
        let mut config = crate::healthcheck::ConfigInput {
            check_type: Some("HTTP".into()),
            ip_address: Some("127.0.0.1".into()),
            ..Default::default()
        }
        .create()
        .unwrap();
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(host_header(&config, at(80)), "127.0.0.1");
        assert_eq!(host_header(&config, at(8080)), "127.0.0.1:8080");
        config.fqdn = Some("www.lab.test".into());
        assert_eq!(host_header(&config, at(80)), "www.lab.test");
    }
}

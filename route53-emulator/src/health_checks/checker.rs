//! Runs the health checks: every second, takes the probes that are due from the store
//! ([`Store::take_due_probes`](crate::store::Store::take_due_probes), at each check's
//! `RequestInterval`), probes their endpoints, and records the results; when a status changes,
//! the DNS snapshot is rebuilt. The decisions (due or not, healthy or not) are the store's and
//! [`crate::health_checks`]'s; this module only does the I/O.
//!
//! Probes, as Route 53 documents them ("How Amazon Route 53 determines whether a health check
//! is healthy"): TCP connects within 10 s; HTTP and HTTPS connect within 4 s, then the status
//! line must arrive within 2 s and be 2xx or 3xx; the `*_STR_MATCH` types also need
//! `SearchString` in the first 5 120 bytes of the body, which gets 2 s more after the status
//! line ("After a Route 53 health checker receives the HTTP status code, it must receive the
//! response body from the endpoint within the next two seconds"; the lab searches the body as
//! sent, so a chunked body is searched with its chunk sizes, and stops reading once it found
//! the string). Each result is named after the next of the check's checker Regions
//! ([`crate::health_checks::store::DueProbe`]). HTTPS does not verify the certificate, as
//! Route 53 does not; the server name is `FullyQualifiedDomainName` when `EnableSNI` is on.
//! Every probe goes to `IPAddress`: loopback in the lab.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use registry::clock::unix_now_ms;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::health_checks::{CheckType, HealthCheckConfig, MAX_HEALTH_CHECKS, Observation, address};
use crate::shared::Shared;

/// How often the store is asked for due probes.
const TICK: Duration = Duration::from_secs(1);
/// Route 53's time for a TCP health check's connection.
const TCP_CONNECT: Duration = Duration::from_secs(10);
/// Route 53's time for an HTTP(S) health check's connection.
const HTTP_CONNECT: Duration = Duration::from_secs(4);
/// Route 53's time for an HTTP(S) response after the connection (TLS handshake included here).
const HTTP_RESPONSE: Duration = Duration::from_secs(2);
/// Route 53's time for the body of a `*_STR_MATCH` check, after the status line.
const STR_MATCH_BODY: Duration = Duration::from_secs(2);
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
    let mut probes: JoinSet<(String, &'static str, bool, String)> = JoinSet::new();
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
                for probe in due {
                    if probes.len() >= MAX_IN_FLIGHT {
                        skipped += 1;
                        continue;
                    }
                    let tls = tls.clone();
                    probes.spawn(async move {
                        let (success, report) = probe_endpoint(&probe.config, tls.as_ref()).await;
                        (probe.id, probe.region, success, report)
                    });
                }
                if skipped > 0 {
                    tracing::warn!(skipped, in_flight = probes.len(), "too many health check probes in flight; skipped these until their next interval");
                }
            }
            Some(done) = probes.join_next() => {
                let (id, region, success, report) = match done {
                    Ok(result) => result,
                    Err(e) => {
                        tracing::error!(error = %e, "a health check probe failed to finish; its check keeps its status");
                        continue;
                    }
                };
                let observation = Observation { region, success, report, at_ms: unix_now_ms() };
                if shared.store.lock().await.record_probe(&id, observation) {
                    tracing::info!(id, healthy = success, "health check status changed");
                    changed = true;
                }
            }
        }
    }
}

/// Route 53's text for a connection that did not complete in time.
const TIMED_OUT: &str = "Failure: Connection timed out. The endpoint or the internet connection \
                         is down, or requests are being blocked by your firewall. See \
                         https://docs.aws.amazon.com/console/route53/health-checks";
/// A response whose first line is not an HTTP status line (what it said is never quoted).
const NOT_HTTP: &str = "Failure: The endpoint's response is not a valid HTTP response";

/// The status text of a response whose status line did not arrive in time.
fn late_response() -> String {
    format!(
        "Failure: The endpoint did not respond within {}s after the connection",
        HTTP_RESPONSE.as_secs()
    )
}

/// The status text of a connection that failed at once: the kind of error, never its message
/// (a fixed text per kind, from the standard library).
fn connect_failure(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Failure: Connection refused".into(),
        kind => format!("Failure: Could not connect to the endpoint ({kind})"),
    }
}

/// Probes one endpoint: success and Route 53's status text. Every text is the lab's own: no
/// byte the target sent is ever quoted (GetHealthCheckStatus shows it to API callers).
async fn probe_endpoint(config: &HealthCheckConfig, tls: Option<&TlsConnector>) -> (bool, String) {
    let (Some(ip), Some(port)) = (config.ip_address, config.effective_port()) else {
        return (
            false,
            "Failure: the health check has no IPAddress or Port".into(),
        );
    };
    // The API refuses these addresses; a check stored before it did (an older state file) is
    // refused here, before any connection.
    if let Some(refused) = address::refused(ip) {
        return (
            false,
            format!("Failure: the lab does not probe {ip}: {refused}"),
        );
    }
    let addr = SocketAddr::new(ip, port);
    let limit = if config.check_type == CheckType::Tcp {
        TCP_CONNECT
    } else {
        HTTP_CONNECT
    };
    let stream = match timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => return (false, TIMED_OUT.into()),
        Ok(Err(e)) => return (false, connect_failure(&e)),
        Ok(Ok(s)) => s,
    };
    if config.check_type == CheckType::Tcp {
        return (true, "Success: TCP connection established".into());
    }
    // The status line is due HTTP_RESPONSE after the connection, the TLS handshake included.
    let responded_by = Instant::now() + HTTP_RESPONSE;
    let host = host_header(config, addr);
    let outcome = if config.check_type.tls() {
        let Some(connector) = tls else {
            return (
                false,
                "Failure: TLS is not available in this resolver".into(),
            );
        };
        let name = config
            .fqdn
            .as_deref()
            .filter(|_| config.enable_sni.unwrap_or(true))
            .and_then(|n| ServerName::try_from(n.trim_end_matches('.').to_owned()).ok())
            .unwrap_or(ServerName::IpAddress(ip.into()));
        match timeout_at(responded_by, connector.connect(name, stream)).await {
            Err(_) => return (false, late_response()),
            Ok(Err(_)) => {
                return (
                    false,
                    "Failure: The TLS handshake with the endpoint failed".into(),
                );
            }
            Ok(Ok(stream)) => http_exchange(stream, config, &host, responded_by).await,
        }
    } else {
        http_exchange(stream, config, &host, responded_by).await
    };
    match outcome {
        Err(why) => (false, format!("Failure: {why}")),
        Ok(verdict) => verdict,
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

/// Sends the GET and judges the response (see the module): the request and the response head
/// by `responded_by`, then, for the `*_STR_MATCH` types after a 2xx or 3xx status, the body
/// within [`STR_MATCH_BODY`] more.
async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    config: &HealthCheckConfig,
    host: &str,
    responded_by: Instant,
) -> Result<(bool, String), &'static str> {
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
    let mut buf = Vec::with_capacity(4096);
    let mut status_at = None;
    let head = timeout_at(responded_by, async {
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|_| "The request could not be sent to the endpoint")?;
        read_head(&mut stream, &mut buf, &mut status_at).await
    })
    .await;
    let head_end = match head {
        Err(_) => return Ok((false, late_response())),
        Ok(result) => result?,
    };
    let search = config.search_string.as_deref();
    let (Some(end), Some(search)) = (head_end, search) else {
        return Ok(judge(&buf, search));
    };
    let line_end = find(&buf, b"\r\n").unwrap_or(buf.len());
    if !status_code(&buf[..line_end]).is_some_and(|code| (200..400).contains(&code)) {
        return Ok(judge(&buf, Some(search)));
    }
    // The body's two seconds count from the status line, not from the end of the headers.
    let body_by = status_at.unwrap_or_else(Instant::now) + STR_MATCH_BODY;
    let body = timeout_at(body_by, read_body(&mut stream, &mut buf, end, search)).await;
    Ok(match body {
        Err(_) => judge_cut(&buf, search),
        Ok(result) => {
            result?;
            judge(&buf, Some(search))
        }
    })
}

/// One read; a TLS peer that closes without close_notify (common, and harmless here: the
/// response is judged on what arrived) reads as the end.
async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<usize, &'static str> {
    let mut chunk = [0u8; 4096];
    let n = match stream.read(&mut chunk).await {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
        Err(_) => return Err("The connection failed while reading the response"),
    };
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Reads into `buf` until the response head ends (its end is returned), [`MAX_HEAD`] bytes
/// arrived or the endpoint closed (`None`); `status_at` is set when the status line's end
/// arrived. Each end is searched only in bytes not searched before: a target that sends one
/// byte at a time costs one short search per byte.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    status_at: &mut Option<Instant>,
) -> Result<Option<usize>, &'static str> {
    let mut scanned = 0usize;
    loop {
        if status_at.is_none() && find(&buf[scanned.saturating_sub(1)..], b"\r\n").is_some() {
            *status_at = Some(Instant::now());
        }
        let from = scanned.saturating_sub(3);
        if let Some(at) = find(&buf[from..], b"\r\n\r\n") {
            return Ok(Some(from + at + 4));
        }
        scanned = buf.len();
        if buf.len() >= MAX_HEAD || read_some(stream, buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// Reads the body after the head ending at `end` until its first [`SEARCHED_BODY`] bytes
/// arrived, they hold `search`, or the endpoint closed; each new byte is searched once.
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    end: usize,
    search: &str,
) -> Result<(), &'static str> {
    let needle = search.as_bytes();
    let mut searched = end;
    loop {
        let body_end = buf.len().min(end + SEARCHED_BODY);
        let from = searched
            .saturating_sub(needle.len().saturating_sub(1))
            .max(end);
        if find(&buf[from..body_end], needle).is_some() || body_end == end + SEARCHED_BODY {
            return Ok(());
        }
        searched = body_end;
        if read_some(stream, buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Where `needle` first starts in `haystack` (an empty needle: at 0).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status code of an HTTP status line (`HTTP/x.y NNN …`): three digits.
fn status_code(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/")?;
    let space = rest.iter().position(|b| *b == b' ')?;
    let code = rest[space + 1..].get(..3)?;
    let after = rest.get(space + 4).copied();
    if !code.iter().all(u8::is_ascii_digit) || after.is_some_and(|b| b != b' ') {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// `HTTP Status Code 404, Not Found`: the code and the standard reason phrase for it (never the
/// target's own phrase); the code alone when it has no standard phrase.
fn status_text(code: u16) -> String {
    match StatusCode::from_u16(code)
        .ok()
        .and_then(|c| c.canonical_reason())
    {
        Some(reason) => format!("HTTP Status Code {code}, {reason}"),
        None => format!("HTTP Status Code {code}"),
    }
}

/// The verdict on a response (its head and the start of its body): a 2xx or 3xx status, and
/// `search` in the first [`SEARCHED_BODY`] bytes of the body when given. The status text is
/// made of the lab's own words and the status code's number only. Pure.
fn judge(response: &[u8], search: Option<&str>) -> (bool, String) {
    judge_body(response, search, false)
}

/// [`judge`] of a response whose body was cut after [`STR_MATCH_BODY`]: its status text says
/// the body came too late when the string is not in what arrived. Pure.
fn judge_cut(response: &[u8], search: &str) -> (bool, String) {
    judge_body(response, Some(search), true)
}

fn judge_body(response: &[u8], search: Option<&str>, cut: bool) -> (bool, String) {
    if response.is_empty() {
        return (
            false,
            "Failure: The endpoint closed the connection without a response".into(),
        );
    }
    let line_end = find(response, b"\r\n").unwrap_or(response.len());
    let Some(status) = status_code(&response[..line_end]) else {
        return (false, NOT_HTTP.into());
    };
    let shown = status_text(status);
    if !(200..400).contains(&status) {
        return (false, format!("Failure: {shown}"));
    }
    if let Some(search) = search {
        let body_start = find(response, b"\r\n\r\n").map_or(response.len(), |at| at + 4);
        let body = &response[body_start..response.len().min(body_start + SEARCHED_BODY)];
        if find(body, search.as_bytes()).is_none() {
            let why = if cut {
                format!(
                    "The response body did not arrive within {}s after the status line, and \
                     the part that did does not hold the search string",
                    STR_MATCH_BODY.as_secs()
                )
            } else {
                format!(
                    "The search string was not found in the first {SEARCHED_BODY} bytes of the \
                     response body"
                )
            };
            return (false, format!("Failure: {shown}. {why}"));
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
        crate::health_checks::ConfigInput {
            check_type: Some(kind.into()),
            ip_address: Some("127.0.0.1".into()),
            port: Some(port.to_string()),
            resource_path: (kind == "HTTP").then(|| "/health".into()),
            ..Default::default()
        }
        .create()
        .unwrap()
    }

    /// A loopback listener that runs `handle` on every connection it accepts; returns its port.
    async fn listen<F, Fut>(handle: F) -> u16
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (conn, _) = listener.accept().await.unwrap();
                tokio::spawn(handle(conn));
            }
        });
        port
    }

    /// A loopback server answering every `GET /health` with `reply` (nothing when empty, keeping
    /// the connection open), after reading the request head; returns its port.
    async fn server(reply: &'static [u8]) -> u16 {
        listen(move |mut conn| async move {
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
        })
        .await
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
        assert_eq!(
            (ok, report.as_str()),
            (false, "Failure: Connection refused")
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
        let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = sent.clone();
        let port = listen(move |mut conn| {
            let counter = counter.clone();
            async move {
                let mut request = [0u8; 1024];
                let _ = conn.read(&mut request).await;
                if conn.write_all(head).await.is_err() {
                    return;
                }
                while conn.write_all(filler).await.is_ok() {
                    counter.fetch_add(filler.len(), std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                }
            }
        })
        .await;
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
        assert_eq!(
            (ok, report.as_str()),
            (false, "Failure: HTTP Status Code 503, Service Unavailable")
        );
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
        // The target's reason phrase never reaches the status report (its XML): the standard one
        // for the code does.
        let (ok, report) = judge(b"HTTP/1.1 200 O\x07K\x1b[31m\r\n\r\n", None);
        assert_eq!(
            (ok, report.as_str()),
            (true, "Success: HTTP Status Code 200, OK")
        );
        // An empty search string cannot panic the probe (the API refuses one anyway).
        assert!(judge(b"HTTP/1.1 200 OK\r\n\r\nbody", Some("")).0);
    }

    /// A loopback server that answers every request with `steps`, each `(pause, bytes)` sent
    /// after its pause, then keeps the connection open; returns its port.
    async fn scripted(steps: &'static [(u64, &'static [u8])]) -> u16 {
        listen(move |mut conn| async move {
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request).await;
            for (pause_ms, bytes) in steps {
                tokio::time::sleep(Duration::from_millis(*pause_ms)).await;
                if conn.write_all(bytes).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        })
        .await
    }

    fn str_match(port: u16) -> HealthCheckConfig {
        let mut c = config("HTTP", port);
        c.check_type = CheckType::HttpStrMatch;
        c.search_string = Some("needle".into());
        c
    }

    #[tokio::test]
    async fn string_matching_gives_the_body_two_seconds_after_the_status_line() {
        // The status line at 1.5 s, the body 1.5 s later: 3 s after the connection, within
        // 2 s of the status line (Route 53: the body has its own two seconds).
        let late_body = scripted(&[
            (1500, b"HTTP/1.1 200 OK\r\n\r\n"),
            (1500, b"the needle is here"),
        ])
        .await;
        let started = std::time::Instant::now();
        assert_eq!(
            probe_endpoint(&str_match(late_body), None).await,
            (true, "Success: HTTP Status Code 200, OK".into())
        );
        assert!(started.elapsed() >= Duration::from_millis(2900));
        // Found at once: judged without waiting for the end of a body that never ends.
        let open = scripted(&[(0, b"HTTP/1.1 200 OK\r\n\r\nneedle")]).await;
        let started = std::time::Instant::now();
        assert!(probe_endpoint(&str_match(open), None).await.0);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        // A body that stops short of the string: cut 2 s after the status line.
        let stalled = scripted(&[(0, b"HTTP/1.1 200 OK\r\n\r\nno nee")]).await;
        let started = std::time::Instant::now();
        let (ok, report) = probe_endpoint(&str_match(stalled), None).await;
        assert_eq!(
            (ok, report.as_str()),
            (
                false,
                "Failure: HTTP Status Code 200, OK. The response body did not arrive within 2s \
                 after the status line, and the part that did does not hold the search string"
            )
        );
        let took = started.elapsed();
        assert!(
            took >= STR_MATCH_BODY && took < STR_MATCH_BODY + Duration::from_secs(1),
            "{took:?}"
        );
        // Slow headers do not move the body's deadline: it is 2 s after the status line.
        let slow_headers = scripted(&[
            (0, b"HTTP/1.1 200 OK\r\n"),
            (1500, b"X-Slow: 1\r\n\r\n"),
            (1500, b"needle"),
        ])
        .await;
        let (ok, report) = probe_endpoint(&str_match(slow_headers), None).await;
        assert!(
            !ok && report.contains("did not arrive within 2s after the status line"),
            "{report}"
        );
        // The status line itself still has 2 s; a failing status is judged without the body.
        let slow_head = scripted(&[(2500, b"HTTP/1.1 200 OK\r\n\r\nneedle")]).await;
        let (ok, report) = probe_endpoint(&str_match(slow_head), None).await;
        assert!(
            !ok && report.contains("within 2s after the connection"),
            "{report}"
        );
        let failing = scripted(&[(0, b"HTTP/1.1 503 Busy\r\n\r\n")]).await;
        let started = std::time::Instant::now();
        let (ok, report) = probe_endpoint(&str_match(failing), None).await;
        assert_eq!(
            (ok, report.as_str()),
            (false, "Failure: HTTP Status Code 503, Service Unavailable")
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    /// What a hostile target may send: a secret in its first line, reason phrase, headers or
    /// body.
    const SECRET: &str = "AKIAIOSFODNN7EXAMPLE";

    fn hostile_responses() -> Vec<Vec<u8>> {
        [
            format!("{SECRET} wJalrXUtnFEMI/K7MDENG\r\n\r\n"),
            format!("SSH-2.0-{SECRET}\r\n"),
            SECRET.to_owned(),
            format!("HTTP/1.1 200 {SECRET}\r\n\r\n"),
            format!("HTTP/1.1 500 {SECRET}\r\n\r\n{SECRET}"),
            format!("HTTP/1.1 599 {SECRET}\r\nX-Key: {SECRET}\r\n\r\n"),
            format!("HTTP/1.1 200 OK\r\nX-Key: {SECRET}\r\n\r\n{SECRET}"),
            format!("HTTP/{SECRET} 200 OK\r\n\r\n"),
            format!("HTTP/1.1 2000 {SECRET}\r\n\r\n"),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect()
    }

    #[test]
    fn no_byte_of_the_target_reaches_the_status_report() {
        let check = crate::health_checks::HealthCheck {
            id: "c".into(),
            caller_reference: "r".into(),
            config: config("HTTP", 80),
            version: 1,
        };
        for response in hostile_responses() {
            for search in [None, Some("absent"), Some(SECRET)] {
                let (_, report) = judge(&response, search);
                let observation = Observation {
                    region: crate::health_checks::CHECKER_REGIONS[0],
                    success: false,
                    report,
                    at_ms: 0,
                };
                let xml = crate::health_checks::xml::observations(
                    &check,
                    std::slice::from_ref(&observation),
                );
                assert!(
                    !observation.report.contains(SECRET) && !xml.contains(SECRET),
                    "{:?}: {xml}",
                    String::from_utf8_lossy(&response)
                );
            }
        }
        // What they get instead: Route 53's kind of text, the standard phrase for the code.
        let reports: Vec<String> = hostile_responses()
            .iter()
            .map(|r| judge(r, None).1)
            .collect();
        assert_eq!(
            reports,
            [
                NOT_HTTP,
                NOT_HTTP,
                NOT_HTTP,
                "Success: HTTP Status Code 200, OK",
                "Failure: HTTP Status Code 500, Internal Server Error",
                "Failure: HTTP Status Code 599",
                "Success: HTTP Status Code 200, OK",
                "Success: HTTP Status Code 200, OK",
                NOT_HTTP,
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn no_response_is_ever_quoted(
            before in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            after in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            prefix in proptest::sample::select(vec!["", "HTTP/1.1 200 ", "HTTP/1.0 404 ", "HTTP/1.1 302 x\r\n\r\n"]),
        ) {
            let mut response = prefix.as_bytes().to_vec();
            response.extend(before);
            response.extend_from_slice(SECRET.as_bytes());
            response.extend(after);
            for search in [None, Some("needle")] {
                let (_, report) = judge(&response, search);
                proptest::prop_assert!(!report.contains(SECRET), "{}", report);
            }
        }
    }

    #[tokio::test]
    async fn a_stored_check_at_a_refused_address_is_never_connected() {
        // Connecting to 0.0.0.0 reaches this host: a listener on loopback sees it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = |l: &std::net::TcpListener| std::iter::from_fn(|| l.accept().ok()).count();
        let reached = std::net::TcpStream::connect(("0.0.0.0", port)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut seen = 0;
        while seen == 0 && std::time::Instant::now() < deadline {
            seen += accepted(&listener);
            tokio::task::yield_now().await;
        }
        assert_eq!(
            seen, 1,
            "0.0.0.0 does not reach this host: the test proves nothing"
        );
        drop(reached);
        // A check stored with such an address (by an older version: the API refuses it now).
        for ip in ["0.0.0.0", "::ffff:0.0.0.0", "::ffff:169.254.169.254"] {
            let mut stored = config("TCP", port);
            stored.ip_address = Some(ip.parse().unwrap());
            let (ok, report) = probe_endpoint(&stored, None).await;
            assert!(!ok && report.contains("does not probe"), "{ip}: {report}");
        }
        assert_eq!(accepted(&listener), 0, "the checker connected");
    }

    #[test]
    fn host_headers_carry_the_name_and_a_non_default_port() {
        let mut config = crate::health_checks::ConfigInput {
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

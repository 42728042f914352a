//! QUIC handshakes per second per core of wavelb's `quic` probe (issue #6).
//!
//! The client is the product's own prober (`probe::Prober` with a `quic` [`ProbeConfig`],
//! the code `wavelb health` runs), probing one local QUIC server in a loop with a few probes in
//! flight. The server is a small quinn server (this executable, `serve`), a separate process
//! pinned to core 0; the prober is pinned to core 1, and its own CPU time (getrusage of the
//! client process) is measured, so *handshakes per CPU-second* holds even when the server is the
//! bottleneck. The server sends no TLS session tickets: every handshake is a full one (key
//! exchange, certificate check, handshake signature).
//!
//! ```sh
//! cargo bench --bench quic_handshakes                        # starts its own server; 5 s per trust mode
//! cargo bench --bench quic_handshakes -- --secs 1 --trust ca # shorter, one mode
//! quic_handshakes serve --listen 127.0.0.1:0 --dir DIR [--core 0]
//! quic_handshakes client --target 127.0.0.1:PORT --cert DIR/cert.pem [--trust ca] [--secs 5] [--core 1]
//! ```
//!
//! `serve` writes `DIR/cert.pem` and prints one JSON line
//! (`{"listen": …, "port": …, "cert": …, "spki_sha256": …}`), then serves until killed; it is
//! also the QUIC target of `benches/run.sh failover` (killed and restarted there). `client`
//! prints one JSON line with the measurement. `benches/run.sh quic` runs both, plus aioquic's
//! client (`benches/quic_client.py`) against the same server for the ratio.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use probe::{ProbeConfig, ProbeKind, Prober};
use quinn::crypto::rustls::QuicServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The ALPN the server accepts and the prober offers.
const ALPN: &str = "h3";

/// A self-signed ECDSA P-256 certificate for `localhost` and 127.0.0.1, valid 2025-2125, and its
/// key: a loopback benchmark fixture, never a secret (generated once with Python's
/// `cryptography`, as tests/py/quic_server.py does, so the benchmark needs no certificate crate).
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBbTCCAROgAwIBAgIUDULwaLFQItRV05PnvKcDAbkcqAMwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI1MDEwMTAwMDAwMFoYDzIxMjUwMTAx
MDAwMDAwWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATOy0A8WYRXNyCwyxpDuZUZHyV+3+JSdmQHJca30VOF4uc7eoAZqrjF
mD6Dt7EOEm0npvqK6rEJoza67nb1KDAio0EwPzAaBgNVHREEEzARgglsb2NhbGhv
c3SHBH8AAAEwDAYDVR0TAQH/BAIwADATBgNVHSUEDDAKBggrBgEFBQcDATAKBggq
hkjOPQQDAgNIADBFAiEAnEaDfVRcnRB+8T6rkio5O20tDcdPo57x2D8QRh+Z4QYC
IB3oD2mkEfQae1C56WQmrv/RJEDxuwh3FBQrW6PnRZfB
-----END CERTIFICATE-----
";
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghm/J0e36os4YeXJk
aIMYuF3iJZWmAx3BJ3vdy/ULrsqhRANCAATOy0A8WYRXNyCwyxpDuZUZHyV+3+JS
dmQHJca30VOF4uc7eoAZqrjFmD6Dt7EOEm0npvqK6rEJoza67nb1KDAi
-----END PRIVATE KEY-----
";
/// SHA-256 of the certificate's SubjectPublicKeyInfo (the probe's `pin`); a wrong value shows as
/// every `pin` probe failing with `tls`.
const SPKI_SHA256: &str = "6ed207b2f9bf2e47a5ccdd58618613972e50182809ca396633148446c4c0aada";

#[derive(Parser)]
#[command(
    name = "quic_handshakes",
    about = "QUIC handshakes per second per core of wavelb's quic probe"
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, global = true, hide = true)]
    bench: bool,
    /// Trust modes to measure (the probe's `ca`, `pin` or `insecure`), comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "ca,pin,insecure"
    )]
    trust: Vec<Trust>,
    #[command(flatten)]
    load: Load,
}

#[derive(Subcommand)]
enum Mode {
    /// A quinn QUIC server with the built-in certificate; prints one JSON line, runs until killed.
    Serve {
        /// Address to listen on (port 0: the OS picks).
        #[arg(long)]
        listen: SocketAddr,
        /// Directory to write cert.pem into.
        #[arg(long)]
        dir: PathBuf,
        /// Pin the server to this core.
        #[arg(long)]
        core: Option<usize>,
    },
    /// Probes `target` in a loop with wavelb's quic prober; prints one JSON line.
    Client {
        /// The server to probe.
        #[arg(long)]
        target: SocketAddr,
        /// The server's certificate (cert.pem written by `serve`), the `ca` of trust mode `ca`.
        #[arg(long)]
        cert: PathBuf,
        /// How the prober checks the certificate.
        #[arg(long, value_enum, default_value = "ca")]
        trust: Trust,
        #[command(flatten)]
        load: Load,
    },
}

#[derive(Args, Clone, Copy)]
struct Load {
    /// Seconds measured (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Seconds of warm-up, not measured.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Probes in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Pin the prober to this core.
    #[arg(long, default_value_t = 1)]
    core: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Trust {
    /// The chain must lead to the server's certificate (`ca = "cert.pem"`) and be valid for `localhost`.
    Ca,
    /// The certificate's SPKI must match the pin (`pin = "…"`).
    Pin,
    /// Any certificate (`insecure = true`); the handshake signature is still verified.
    Insecure,
}

impl Trust {
    fn as_str(self) -> &'static str {
        match self {
            Trust::Ca => "ca",
            Trust::Pin => "pin",
            Trust::Insecure => "insecure",
        }
    }
}

fn main() -> ExitCode {
    // One rustls crypto provider in the process, aws-lc-rs (as `wavelb` does). An error only
    // means a provider is installed already, which can only be this same one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let done = match cli.mode {
        Some(Mode::Serve { listen, dir, core }) => serve(listen, &dir, core),
        Some(Mode::Client {
            target,
            cert,
            trust,
            load,
        }) => measure(target, &cert, trust, load).map(|r| println!("{}", r.json())),
        None => standalone(&cli.trust, cli.load),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quic_handshakes: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------- pinning

/// Pins the calling thread (and the threads it starts later) to `core`.
fn pin_to(core: usize) -> Result<()> {
    // CPU_SET indexes a fixed-size bitmask; keep within it.
    if core >= libc::CPU_SETSIZE as usize {
        bail!("core {core} is out of range");
    }
    // SAFETY: cpu_set_t is a plain bitmask for which all zeroes is a valid value; CPU_SET sets one
    // bit inside it (core checked above); sched_setaffinity only reads `size_of` bytes of it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("cannot pin to core {core}"));
    }
    Ok(())
}

/// Pins, or says loudly why not (a 1-core machine still runs the benchmark).
fn pin_or_warn(core: usize, who: &str) -> bool {
    match pin_to(core) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("!!!!! {who} NOT PINNED: {e:#} !!!!!");
            false
        }
    }
}

/// User and system CPU seconds of this process (every thread) so far.
fn process_cpu() -> Result<(f64, f64)> {
    // SAFETY: all-zeroes is a valid rusage; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrusage");
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((secs(usage.ru_utime), secs(usage.ru_stime)))
}

/// User+system CPU seconds of another process, from /proc.
fn other_cpu(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat: {stat}"))
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Ok((tick(11)? + tick(12)?) / hz)
}

// ----------------------------------------------------------------------------------------- server

fn serve(listen: SocketAddr, dir: &Path, core: Option<usize>) -> Result<()> {
    if let Some(core) = core {
        pin_or_warn(core, "server");
    }
    let cert_path = dir.join("cert.pem");
    std::fs::write(&cert_path, CERT_PEM)
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    rt.block_on(async move {
        let endpoint = quinn::Endpoint::server(server_config()?, listen)
            .with_context(|| format!("cannot listen on {listen}"))?;
        let local = endpoint.local_addr().context("the server's address")?;
        let ready = serde_json::json!({
            "listen": local.to_string(),
            "port": local.port(),
            "cert": cert_path.display().to_string(),
            "spki_sha256": SPKI_SHA256,
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{ready}").and_then(|()| out.flush())?;
        drop(out);
        while let Some(incoming) = endpoint.accept().await {
            tokio::spawn(async move {
                // A failed handshake is the client's business; the server just goes on.
                if let Ok(conn) = incoming.await {
                    // Until the prober closes it (right after the handshake); a client that
                    // vanishes is dropped by the idle timeout.
                    conn.closed().await;
                }
            });
        }
        Ok(())
    })
}

fn server_config() -> Result<quinn::ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(CERT_PEM.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("the built-in certificate")?;
    let key = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).context("the built-in key")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the built-in certificate and key")?;
    tls.alpn_protocols = vec![ALPN.as_bytes().to_vec()];
    // No session tickets: every probe is a full handshake, never a resumption.
    tls.send_tls13_tickets = 0;
    let crypto = QuicServerConfig::try_from(tls).context("a QUIC TLS config")?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(crypto)))
}

/// A `serve` child process, killed when dropped.
struct ServerChild {
    child: Child,
    addr: SocketAddr,
    cert: PathBuf,
}

impl ServerChild {
    fn start(dir: &Path, core: usize) -> Result<Self> {
        let exe = std::env::current_exe().context("this executable's path")?;
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--core",
                &core.to_string(),
            ])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the server")?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the server's stdout is not piped"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = tx.send(BufReader::new(stdout).read_line(&mut line).map(|_| line));
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(line)) if !line.is_empty() => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the server printed no address within 10 s: {other:?}");
            }
        };
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            cert: PathBuf::new(),
        };
        let ready: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("the server said {line:?}"))?;
        server.addr = ready["listen"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| anyhow!("no listen address in {line:?}"))?;
        server.cert = ready["cert"]
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| anyhow!("no cert in {line:?}"))?;
        Ok(server)
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----------------------------------------------------------------------------------------- client

/// One measurement of the prober.
struct Report {
    trust: Trust,
    concurrency: usize,
    pinned: bool,
    handshakes: u64,
    failures: BTreeMap<String, u64>,
    first_failure: Option<String>,
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Report {
    fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    fn per_s(&self) -> f64 {
        self.handshakes as f64 / self.wall_s
    }

    fn per_cpu_s(&self) -> f64 {
        if self.cpu_s() > 0.0 {
            self.handshakes as f64 / self.cpu_s()
        } else {
            f64::NAN
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "client": "wavelb",
            "trust": self.trust.as_str(),
            "concurrency": self.concurrency,
            "pinned": self.pinned,
            "handshakes": self.handshakes,
            "failures": self.failures,
            "first_failure": self.first_failure,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s(),
            "user_s": self.user_s,
            "sys_s": self.sys_s,
            "per_s": self.per_s(),
            "per_cpu_s": self.per_cpu_s(),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        })
    }
}

/// What the probe loops saw.
#[derive(Default)]
struct Tally {
    ok: u64,
    latencies_ms: Vec<f64>,
    failures: BTreeMap<String, u64>,
    first_failure: Option<String>,
}

fn probe_config(trust: Trust, cert: &Path) -> ProbeConfig {
    let mut cfg = ProbeConfig::new(ProbeKind::Quic);
    cfg.alpn = vec![ALPN.to_owned()];
    cfg.timeout = Duration::from_secs(2);
    match trust {
        Trust::Ca => cfg.ca = Some(cert.to_path_buf()),
        Trust::Pin => cfg.pin = Some(SPKI_SHA256.to_owned()),
        Trust::Insecure => cfg.insecure = true,
    }
    cfg
}

/// Probes `target` with `load.concurrency` probes in flight for `secs`; every probe started
/// before the deadline is waited for (each is bounded by the probe timeout).
async fn probe_for(
    prober: &Arc<Prober>,
    target: SocketAddr,
    concurrency: usize,
    secs: f64,
) -> Tally {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let prober = Arc::clone(prober);
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let r = prober.probe(target).await;
                if r.healthy {
                    tally.ok += 1;
                    tally.latencies_ms.push(r.latency.as_secs_f64() * 1000.0);
                } else {
                    let reason = r.reason.map_or("unknown", |r| r.as_str());
                    *tally.failures.entry(reason.to_owned()).or_default() += 1;
                    tally.first_failure.get_or_insert(r.detail);
                }
            }
            tally
        });
    }
    let mut all = Tally::default();
    while let Some(done) = tasks.join_next().await {
        // A probe loop cannot panic (Prober::probe never does); a panic would be a bug worth
        // seeing, so it is counted as a failure rather than hidden.
        let t = done.unwrap_or_else(|e| Tally {
            failures: BTreeMap::from([("panic".to_owned(), 1)]),
            first_failure: Some(e.to_string()),
            ..Tally::default()
        });
        all.ok += t.ok;
        all.latencies_ms.extend(t.latencies_ms);
        for (k, v) in t.failures {
            *all.failures.entry(k).or_default() += v;
        }
        if all.first_failure.is_none() {
            all.first_failure = t.first_failure;
        }
    }
    all
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs the prober against `target` on core `load.core` (a runtime on this thread only).
fn measure(target: SocketAddr, cert: &Path, trust: Trust, load: Load) -> Result<Report> {
    if load.concurrency == 0
        || load.secs.is_nan()
        || load.secs <= 0.0
        || load.warmup.is_nan()
        || load.warmup < 0.0
    {
        bail!("--concurrency and --secs must be more than 0, --warmup at least 0");
    }
    let pinned = pin_or_warn(load.core, "prober");
    let prober = Arc::new(
        Prober::new(&probe_config(trust, cert))
            .map_err(|e| anyhow!("health.probe.{e}"))
            .context("the quic probe configuration")?,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    rt.block_on(async {
        if load.warmup > 0.0 {
            let warm = probe_for(&prober, target, load.concurrency, load.warmup).await;
            if warm.ok == 0 {
                bail!(
                    "no handshake completed during the warm-up against {target}: {:?} (first: {})",
                    warm.failures,
                    warm.first_failure.unwrap_or_default()
                );
            }
        }
        let (u0, s0) = process_cpu()?;
        let t0 = Instant::now();
        let mut tally = probe_for(&prober, target, load.concurrency, load.secs).await;
        let wall_s = t0.elapsed().as_secs_f64();
        let (u1, s1) = process_cpu()?;
        prober.shutdown().await;
        tally.latencies_ms.sort_by(f64::total_cmp);
        if tally.ok == 0 {
            bail!(
                "no handshake completed against {target}: {:?} (first: {})",
                tally.failures,
                tally.first_failure.unwrap_or_default()
            );
        }
        Ok(Report {
            trust,
            concurrency: load.concurrency,
            pinned,
            handshakes: tally.ok,
            p50_ms: percentile(&tally.latencies_ms, 50.0),
            p99_ms: percentile(&tally.latencies_ms, 99.0),
            max_ms: percentile(&tally.latencies_ms, 100.0),
            failures: tally.failures,
            first_failure: tally.first_failure,
            wall_s,
            user_s: u1 - u0,
            sys_s: s1 - s0,
        })
    })
}

// ------------------------------------------------------------------------------------- standalone

/// `cargo bench --bench quic_handshakes`: its own server on core 0, the prober on core 1.
fn standalone(trusts: &[Trust], load: Load) -> Result<()> {
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let server = ServerChild::start(dir.path(), 0)?;
    println!(
        "quic_handshakes: wavelb's quic prober (core {}) against a quinn server (core 0) on {}, \
         {} probes in flight, {} s warm-up + {} s per trust mode, full handshakes (no session tickets)",
        load.core, server.addr, load.concurrency, load.warmup, load.secs
    );
    println!(
        "{:<9} {:>10} {:>8} {:>12} {:>8} {:>14} {:>11} {:>14} {:>9}  goal >= 500/core-s",
        "trust",
        "handshakes",
        "wall s",
        "handshakes/s",
        "CPU s",
        "per CPU-second",
        "server CPU",
        "p50/p99/max ms",
        "failures"
    );
    for &trust in trusts {
        let c0 = other_cpu(server.child.id())?;
        let r = measure(server.addr, &server.cert, trust, load)?;
        let server_cpu = 100.0 * (other_cpu(server.child.id())? - c0) / (r.wall_s + load.warmup);
        let failed: u64 = r.failures.values().sum();
        println!(
            "{:<9} {:>10} {:>8.2} {:>12.0} {:>8.2} {:>14.0} {:>10.0}% {:>6.2}/{:.2}/{:<7.2} {:>9}  {}{}",
            trust.as_str(),
            r.handshakes,
            r.wall_s,
            r.per_s(),
            r.cpu_s(),
            r.per_cpu_s(),
            server_cpu,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            failed,
            if r.per_cpu_s() >= 500.0 {
                "met"
            } else {
                "MISSED"
            },
            if r.pinned { "" } else { " (not pinned)" },
        );
        if let Some(first) = &r.first_failure {
            println!("          first failure: {first}");
        }
    }
    Ok(())
}

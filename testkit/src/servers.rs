//! Real servers and small misbehaving ones for the probe tests, all on loopback.
//!
//! - [`Daemon`]: a foreground server process (coturn's `turnserver`, `srt-live-transmit`)
//!   started on a free port; ready once its UDP port is bound; killed when dropped.
//! - [`quic_server`]: the aioquic server of `tests/py/quic_server.py` in the test venv.
//! - [`UdpReplier`]: a UDP server answering each datagram with a function of it (garbage,
//!   DNS answers, …); [`silent_udp`]: a bound socket that never answers; [`closed_udp_port`]
//!   and [`closed_tcp_port`]: ports with nothing listening.
//!
//! Servers that need a Debian binary panic with install instructions when it is missing: these
//! tests must fail, not skip.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::process::Service;

/// The path of `binary` on PATH; panics naming the Debian package that provides it.
pub fn require(binary: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{binary}` is not installed: run scripts/ensure-packages.sh (Debian package \
                 {package}) — the probe tests need the real server and are never skipped"
            )
        })
}

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("cannot bind a loopback UDP socket")
        .port()
}

/// A loopback UDP address with nothing bound: datagrams to it get ICMP port unreachable.
pub fn closed_udp_port() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("cannot bind a loopback UDP socket");
    socket.local_addr().expect("a bound socket has an address")
}

/// A loopback TCP address with nothing listening: connects get RST.
pub fn closed_tcp_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback TCP socket");
    listener
        .local_addr()
        .expect("a bound socket has an address")
}

/// A bound UDP socket that never reads or answers (keep it alive while probing).
pub fn silent_udp() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("cannot bind a loopback UDP socket");
    let addr = socket.local_addr().expect("a bound socket has an address");
    (socket, addr)
}

/// Whether some socket is bound to UDP `port` (on any address), per /proc/net/udp{,6}.
pub fn udp_port_bound(port: u16) -> bool {
    let needle = format!(":{port:04X}");
    ["/proc/net/udp", "/proc/net/udp6"].iter().any(|table| {
        std::fs::read_to_string(table).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                line.split_whitespace()
                    .nth(1)
                    .is_some_and(|local| local.ends_with(&needle))
            })
        })
    })
}

/// A server process killed (SIGKILL) and reaped on drop; its output goes to a log file.
pub struct Daemon {
    /// Where it serves.
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` (which must serve UDP on `addr`), logging to `log`, and waits up to 20 s
    /// until the port is bound. Panics with the log if the process exits first.
    pub fn spawn_udp(cmd: &mut Command, addr: SocketAddr, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).expect("cannot create the daemon's log");
        let err = out.try_clone().expect("cannot share the log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut daemon = Self { addr, child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !udp_port_bound(addr.port()) {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "{cmd:?} exited ({status}) before binding {addr}:\n{}",
                    daemon.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{cmd:?} did not bind UDP {addr} within 20 s:\n{}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    /// What the process has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// coturn as a STUN-only server on a free loopback port, no TLS/DTLS/TCP, no CLI, its pid file
/// and log in `dir`.
pub fn turnserver(dir: &Path) -> Daemon {
    let bin = require("turnserver", "coturn");
    let port = free_udp_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut cmd = Command::new(bin);
    cmd.arg("-n") // no configuration file
        .arg("--listening-ip=127.0.0.1")
        .arg(format!("--listening-port={port}"))
        .arg("--stun-only")
        .arg("--no-tls")
        .arg("--no-dtls")
        .arg("--no-tcp")
        .arg("--no-cli")
        .arg("--simple-log")
        .arg("--log-file=stdout")
        .arg(format!(
            "--pidfile={}",
            dir.join("turnserver.pid").display()
        ));
    Daemon::spawn_udp(&mut cmd, addr, dir.join("turnserver.log"))
}

/// `srt-live-transmit` as an SRT listener on a free loopback port, writing what it receives
/// to its stdout (the log in `dir`).
pub fn srt_listener(dir: &Path) -> Daemon {
    let bin = require("srt-live-transmit", "srt-tools");
    let port = free_udp_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("srt://127.0.0.1:{port}?mode=listener"))
        .arg("file://con");
    Daemon::spawn_udp(&mut cmd, addr, dir.join("srt-live-transmit.log"))
}

/// The aioquic server (`tests/py/quic_server.py` under `repo_root`) with a fresh self-signed
/// certificate for `localhost` in `dir`. Its ready line has `port`, `cert` (PEM path) and
/// `spki_sha256` (hex).
pub fn quic_server(repo_root: &Path, dir: &Path, alpn: &[&str]) -> Service {
    let script = repo_root.join("tests/py/quic_server.py");
    let mut cmd = Command::new(crate::venv_python());
    cmd.arg(script).arg(dir);
    for p in alpn {
        cmd.arg("--alpn").arg(p);
    }
    Service::spawn_cmd(&mut cmd)
}

/// A UDP server on loopback that answers each datagram with `reply(request)` (no answer for
/// `None`); stopped on drop.
pub struct UdpReplier {
    /// Where it listens.
    pub addr: SocketAddr,
    alive: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpReplier {
    /// Starts the server on a free loopback port.
    pub fn start<F>(reply: F) -> Self
    where
        F: Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
    {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("cannot bind a loopback UDP socket");
        let addr = socket.local_addr().expect("a bound socket has an address");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("cannot set a read timeout");
        let alive = Arc::new(AtomicBool::new(true));
        let flag = alive.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            while flag.load(Ordering::Relaxed) {
                if let Ok((n, peer)) = socket.recv_from(&mut buf)
                    && let Some(answer) = reply(&buf[..n])
                {
                    let _ = socket.send_to(&answer, peer);
                }
            }
        });
        Self {
            addr,
            alive,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpReplier {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

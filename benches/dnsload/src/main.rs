//! dnsload: the resolver benchmark's own DNS load generator, for when dnsperf is the bottleneck
//! (benches/wavelb_bench/suites/resolver.py runs both). One thread, non-blocking UDP sockets
//! bound to 127.0.0.1 and connected to the server, queries sent with `sendmmsg` and replies
//! drained with `recvmmsg`. Linux only.
//!
//! Without `--qps` it keeps at most `--outstanding` queries in flight (max QPS); with `--qps R` it
//! paces an open loop at R queries per second, one batch per tick (latency at a given load).
//! Replies are matched by socket and DNS id; a query unanswered for `--timeout-ms` is counted lost
//! and leaves the window. At the end it prints one JSON object on stdout.

mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

/// Messages per `sendmmsg`/`recvmmsg` call.
const BATCH: usize = 64;
/// Bytes per send buffer: an encoded query is at most 12 + 255 + 4 bytes.
const TX_LEN: usize = 512;
/// Bytes per receive buffer (the queries carry no EDNS, so replies fit in 512).
const RX_LEN: usize = 1232;
/// Max-QPS mode: the pause when the window is full and few replies came back.
const PAUSE_US: u64 = 20;
/// Most queries in flight: below the 65 536 DNS ids of even a single socket.
const MAX_OUTSTANDING: usize = 60_000;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "DNS load generator: one thread, sendmmsg/recvmmsg, loopback only"
)]
struct Args {
    /// The server, a loopback address (127.0.0.1:PORT).
    #[arg(long)]
    server: SocketAddr,
    /// Query file in dnsperf's format (`name TYPE` per line), used in a cycle.
    #[arg(long)]
    queries: PathBuf,
    /// Seconds of sending (at most 3600).
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Most queries in flight at once.
    #[arg(long, default_value_t = 256)]
    outstanding: usize,
    /// Fixed rate in queries per second (open loop); without it, as fast as the window allows.
    #[arg(long)]
    qps: Option<f64>,
    /// UDP sockets (client ports), used in turn.
    #[arg(long, default_value_t = 4)]
    sockets: usize,
    /// A query unanswered for this many milliseconds is counted lost.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Pacing tick of `--qps`, microseconds.
    #[arg(long, default_value_t = 100)]
    tick_us: u64,
}

/// One client socket and its table of queries in flight.
struct Sock {
    udp: UdpSocket,
    next_id: u16,
    /// Per DNS id: 0 when free, else the send time in ns since the start, plus one.
    slots: Vec<u64>,
}

/// What one run counted.
#[derive(Default)]
struct Stats {
    sent: u64,
    received: u64,
    lost: u64,
    /// Replies that match no query in flight (late, duplicated, or not a response).
    unmatched: u64,
    /// Socket errors other than "would block" (e.g. ECONNREFUSED when nothing listens).
    errors: u64,
    latency_ns: Vec<u32>,
    rcodes: [u64; 16],
    answers: BTreeMap<Ipv4Addr, u64>,
    last_reply_ns: u64,
}

/// The sender: sockets, queries, the window of queries in flight, and the counters.
struct Load {
    socks: Vec<Sock>,
    pollfds: Vec<libc::pollfd>,
    queries: Vec<Vec<u8>>,
    next_query: usize,
    in_flight: usize,
    /// (send time ns, socket, id) in send order, for the timeouts; answered entries are skipped.
    window: VecDeque<(u64, u16, u16)>,
    start: Instant,
    timeout_ns: u64,
    tx: Vec<[u8; TX_LEN]>,
    rx: Vec<[u8; RX_LEN]>,
    stats: Stats,
}

/// An iovec pointing nowhere, to fill arrays with.
const NO_IOV: libc::iovec = libc::iovec {
    iov_base: std::ptr::null_mut(),
    iov_len: 0,
};

/// One message header per iovec, for `sendmmsg`/`recvmmsg`; they point into `iov`.
fn headers(iov: &mut [libc::iovec; BATCH]) -> [libc::mmsghdr; BATCH] {
    // SAFETY: mmsghdr is a plain C struct; all-zero (null pointers, zero lengths) is valid.
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v;
        m.msg_hdr.msg_iovlen = 1;
    }
    msgs
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    ) || e.raw_os_error() == Some(libc::ENOBUFS)
}

impl Load {
    fn new(
        server: SocketAddr,
        sockets: usize,
        queries: Vec<Vec<u8>>,
        timeout: Duration,
    ) -> io::Result<Load> {
        let mut socks = Vec::with_capacity(sockets);
        for _ in 0..sockets {
            let udp = UdpSocket::bind("127.0.0.1:0")?;
            udp.connect(server)?;
            udp.set_nonblocking(true)?;
            let size: libc::c_int = 4 << 20; // capped by net.core.{r,w}mem_max; best effort
            for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
                // SAFETY: a valid socket and a c_int option value that outlives the call.
                unsafe {
                    libc::setsockopt(
                        udp.as_raw_fd(),
                        libc::SOL_SOCKET,
                        opt,
                        (&raw const size).cast(),
                        size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
            }
            socks.push(Sock {
                udp,
                next_id: 0,
                slots: vec![0; 1 << 16],
            });
        }
        let pollfds = socks
            .iter()
            .map(|s| libc::pollfd {
                fd: s.udp.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        Ok(Load {
            socks,
            pollfds,
            queries,
            next_query: 0,
            in_flight: 0,
            window: VecDeque::new(),
            start: Instant::now(),
            timeout_ns: timeout.as_nanos() as u64,
            tx: vec![[0; TX_LEN]; BATCH],
            rx: vec![[0; RX_LEN]; BATCH],
            stats: Stats::default(),
        })
    }

    /// Monotonic nanoseconds since the start.
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Sends up to `want` (≤ BATCH) queries on socket `s` in one `sendmmsg`; returns how many went.
    fn send(&mut self, s: usize, want: usize) -> usize {
        let want = want.min(BATCH);
        let mut ids = [0u16; BATCH];
        let mut iov = [NO_IOV; BATCH];
        let sock = &mut self.socks[s];
        for (i, buf) in self.tx.iter_mut().enumerate().take(want) {
            let mut id = sock.next_id;
            // Terminates: at most MAX_OUTSTANDING < 65 536 ids are in use.
            while sock.slots[usize::from(id)] != 0 {
                id = id.wrapping_add(1);
            }
            sock.next_id = id.wrapping_add(1);
            let q = &self.queries[(self.next_query + i) % self.queries.len()];
            buf[..q.len()].copy_from_slice(q);
            buf[..2].copy_from_slice(&id.to_be_bytes());
            ids[i] = id;
            iov[i] = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: q.len(),
            };
        }
        let mut msgs = headers(&mut iov);
        // SAFETY: msgs[..want] point at iov[..want], which point into self.tx; all outlive the call.
        let n = unsafe {
            libc::sendmmsg(
                sock.udp.as_raw_fd(),
                msgs.as_mut_ptr(),
                want as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            if !would_block(&io::Error::last_os_error()) {
                self.stats.errors += 1;
            }
            return 0;
        }
        let (n, now) = (n as usize, self.start.elapsed().as_nanos() as u64);
        for &id in &ids[..n] {
            sock.slots[usize::from(id)] = now + 1;
            self.window.push_back((now, s as u16, id));
        }
        self.next_query = (self.next_query + n) % self.queries.len();
        self.in_flight += n;
        self.stats.sent += n as u64;
        n
    }

    /// Drains socket `s` with `recvmmsg` until it would block; returns the replies read.
    fn recv(&mut self, s: usize) -> usize {
        let mut total = 0;
        loop {
            let mut iov = [NO_IOV; BATCH];
            for (v, buf) in iov.iter_mut().zip(self.rx.iter_mut()) {
                *v = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: RX_LEN,
                };
            }
            let mut msgs = headers(&mut iov);
            let fd = self.socks[s].udp.as_raw_fd();
            // SAFETY: msgs point at iov, which point into self.rx; all outlive the call. A null
            // timeout: return what is queued.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                if !would_block(&io::Error::last_os_error()) {
                    self.stats.errors += 1;
                }
                return total;
            }
            let (n, now) = (n as usize, self.now_ns());
            for (m, buf) in msgs[..n].iter().zip(&self.rx) {
                let Some(reply) = wire::parse_reply(&buf[..(m.msg_len as usize).min(RX_LEN)])
                else {
                    self.stats.unmatched += 1;
                    continue;
                };
                let slot = &mut self.socks[s].slots[usize::from(reply.id)];
                if *slot == 0 {
                    self.stats.unmatched += 1;
                    continue;
                }
                let st = &mut self.stats;
                st.latency_ns
                    .push(u32::try_from(now - (*slot - 1)).unwrap_or(u32::MAX));
                *slot = 0;
                self.in_flight -= 1;
                st.received += 1;
                st.rcodes[usize::from(reply.rcode)] += 1;
                if let Some(a) = reply.first_a {
                    *st.answers.entry(a).or_default() += 1;
                }
                st.last_reply_ns = now;
            }
            total += n;
            if n < BATCH {
                return total;
            }
        }
    }

    /// Counts as lost, and frees, the queries in flight for longer than the timeout.
    fn expire(&mut self, now: u64) {
        while let Some(&(sent, s, id)) = self.window.front() {
            let slot = &mut self.socks[usize::from(s)].slots[usize::from(id)];
            if *slot == sent + 1 {
                if now.saturating_sub(sent) < self.timeout_ns {
                    return;
                }
                *slot = 0;
                self.in_flight -= 1;
                self.stats.lost += 1;
            }
            self.window.pop_front();
        }
    }

    /// Sleeps until a socket is readable or `timeout` passes.
    fn wait(&mut self, timeout: Duration) {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: pollfds and ts are valid for the call; a null mask keeps the signal mask. The
        // result is not needed: the caller reads the sockets and the clock again.
        unsafe {
            libc::ppoll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        };
    }

    /// Sends for `secs`, then waits for the last replies (at most the timeout). Returns the
    /// elapsed seconds: until the end of sending or the last reply, whichever is later.
    fn run(&mut self, secs: f64, qps: Option<f64>, outstanding: usize, tick: Duration) -> f64 {
        let end = (secs * 1e9) as u64;
        let tick_ns = tick.as_nanos() as u64;
        let total = qps.map(|r| (r * secs) as u64);
        let (mut next_tick, mut turn) = (0u64, 0usize);
        loop {
            let now = self.now_ns();
            let sending = now < end;
            if !sending && (self.in_flight == 0 || now >= end + self.timeout_ns) {
                break;
            }
            let mut allowance = if sending {
                outstanding.saturating_sub(self.in_flight)
            } else {
                0
            };
            if let (Some(rate), Some(total), true) = (qps, total, sending) {
                if now >= next_tick {
                    // Everything due by the next tick, sent at this one.
                    let due = ((rate * (now + tick_ns) as f64 / 1e9) as u64).min(total);
                    allowance = allowance.min(due.saturating_sub(self.stats.sent) as usize);
                    next_tick = now + tick_ns;
                } else {
                    allowance = 0;
                }
            }
            let mut sent = 0;
            while sent < allowance {
                let n = self.send(turn, allowance - sent);
                turn = (turn + 1) % self.socks.len();
                if n == 0 {
                    break;
                }
                sent += n;
            }
            let got: usize = (0..self.socks.len()).map(|s| self.recv(s)).sum();
            self.expire(now);
            if sent == 0 && got == 0 {
                let until = match qps {
                    Some(_) if sending => next_tick.saturating_sub(self.now_ns()),
                    _ => 1_000_000,
                };
                if until > 0 {
                    self.wait(Duration::from_nanos(until));
                }
            } else if qps.is_none() && got < BATCH / 4 && self.in_flight + BATCH / 4 > outstanding {
                // The window is full and replies trickle in (the server is the limit): let them
                // gather rather than spin on single packets. The server keeps a full queue, and
                // the CPU figure then shows this side's real work.
                std::thread::sleep(Duration::from_micros(PAUSE_US));
            }
        }
        self.stats.lost += self.in_flight as u64;
        self.in_flight = 0;
        end.max(self.stats.last_reply_ns) as f64 / 1e9
    }
}

/// This process's user + system CPU seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: rusage is a plain C struct (all-zero is valid) that getrusage fills in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage that outlives the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Checks the arguments, runs the load, and returns the report.
fn run(args: &Args) -> Result<serde_json::Value, String> {
    if !(args.server.is_ipv4() && args.server.ip().is_loopback()) {
        return Err(format!(
            "--server {}: only IPv4 loopback addresses (127.0.0.0/8) are allowed",
            args.server
        ));
    }
    if !(args.secs > 0.0 && args.secs <= 3600.0) {
        return Err(format!("--secs {}: must be in (0, 3600]", args.secs));
    }
    if !(1..=MAX_OUTSTANDING).contains(&args.outstanding) {
        return Err(format!(
            "--outstanding {}: must be 1 to {MAX_OUTSTANDING}",
            args.outstanding
        ));
    }
    if !(1..=64).contains(&args.sockets) {
        return Err(format!("--sockets {}: must be 1 to 64", args.sockets));
    }
    if args.qps.is_some_and(|r| !(r.is_finite() && r > 0.0))
        || args.timeout_ms == 0
        || args.tick_us == 0
    {
        return Err("--qps, --timeout-ms and --tick-us must be positive".into());
    }
    let text = std::fs::read_to_string(&args.queries)
        .map_err(|e| format!("cannot read query file {}: {e}", args.queries.display()))?;
    let queries =
        wire::parse_queries(&text).map_err(|e| format!("{}: {e}", args.queries.display()))?;
    let mut load = Load::new(
        args.server,
        args.sockets,
        queries,
        Duration::from_millis(args.timeout_ms),
    )
    .map_err(|e| format!("cannot open sockets to {}: {e}", args.server))?;
    // Wake-ups close to the pacing tick: without this the kernel may add 50 µs of timer slack.
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument; failure only loosens the timing.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let cpu0 = cpu_seconds();
    let elapsed = load.run(
        args.secs,
        args.qps,
        args.outstanding,
        Duration::from_micros(args.tick_us),
    );
    let cpu = cpu_seconds() - cpu0;
    let st = &mut load.stats;
    st.latency_ns.sort_unstable();
    let ms = |ns: Option<u32>| ns.map_or(f64::NAN, |v| f64::from(v) / 1e6);
    let avg =
        st.latency_ns.iter().map(|&v| f64::from(v)).sum::<f64>() / st.latency_ns.len() as f64 / 1e6;
    let rcodes: BTreeMap<String, u64> = (0u8..16)
        .filter(|&r| st.rcodes[usize::from(r)] > 0)
        .map(|r| {
            (
                vocab::rcode::rcode_name(u16::from(r)).into_owned(),
                st.rcodes[usize::from(r)],
            )
        })
        .collect();
    let answers: BTreeMap<String, u64> = st
        .answers
        .iter()
        .map(|(a, n)| (a.to_string(), *n))
        .collect();
    Ok(serde_json::json!({
        "server": args.server.to_string(),
        "mode": if args.qps.is_some() { "qps" } else { "max" },
        "target_qps": args.qps,
        "outstanding": args.outstanding,
        "sockets": args.sockets,
        "sent": st.sent,
        "received": st.received,
        "lost": st.lost,
        "unmatched": st.unmatched,
        "errors": st.errors,
        "qps": st.received as f64 / elapsed,
        "avg_ms": avg,
        "p50_ms": ms(wire::percentile(&st.latency_ns, 50.0)),
        "p99_ms": ms(wire::percentile(&st.latency_ns, 99.0)),
        "max_ms": ms(st.latency_ns.last().copied()),
        "rcodes": rcodes,
        "answers": answers,
        "elapsed_s": elapsed,
        "cpu_pct": 100.0 * cpu / elapsed,
    }))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dnsload: {e}");
            ExitCode::FAILURE
        }
    }
}

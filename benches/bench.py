"""The benchmark suites behind benches/run.sh (run it through run.sh, which installs the peers and
builds wavelb). Everything listens on 127.0.0.0/8 only, every load and every wait is bounded in
time, and every process started here is stopped on exit.

Usage: bench.py --bin WAVELB --out FILE [--smoke] SUITE...
"""

import argparse
import datetime
import ipaddress
import json
import os
import platform
import random
import re
import selectors
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import dns.message
import dns.query
import dns.rcode

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
SERVER_CORE, LOADGEN_CORE = 0, 1
WEIGHTS = {"127.0.0.11": 10, "127.0.0.12": 20, "127.0.0.13": 30, "127.0.0.14": 40}


def log(*a):
    print("[bench]", *a, flush=True)


# ---------------------------------------------------------------------------- processes

class Procs:
    """Every process the suites start, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self):
        self.procs = []

    def start(self, argv, core=None, log_path=None, stdout=None, **kw):
        if core is not None:
            argv = ["taskset", "-c", str(core), *argv]
        out = stdout if stdout is not None else (open(log_path, "w") if log_path else subprocess.DEVNULL)
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
                             start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)
        self.procs.clear()


PROCS = Procs()


def read_line(p, deadline_s=30.0, want=None):
    """The first stdout line of `p` (containing `want`), within a deadline."""
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if sel.select(timeout=max(0.0, end - time.monotonic())):
            line = p.stdout.readline()
            if not line:
                break
            if want is None or want in line:
                return line.strip()
    raise RuntimeError(f"{p.args} printed no {want or 'line'} within {deadline_s}s (exit {p.poll()})")


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def tree(pid):
    """pid and all its descendants."""
    children = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_mib(pid):
    """VmRSS summed over the process tree, MiB."""
    total = 0
    for p in tree(pid):
        try:
            m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pid):
    """user+system CPU seconds summed over the process tree."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError):
            pass
    return total / tick


def poll(what, deadline_s, check, every=0.05):
    end = time.monotonic() + deadline_s
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > end:
            raise RuntimeError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(every)


def query(port, name="www.lab.test", timeout=0.5, addr="127.0.0.1"):
    """The A addresses of one answer (None on timeout)."""
    try:
        r = dns.query.udp(dns.message.make_query(name, "A"), addr, port=port, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return None
    return sorted(rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == 1)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


# ---------------------------------------------------------------------------- wavelb

class Wavelb:
    def __init__(self, binary, work):
        self.bin, self.work = binary, work

    def resolver(self, dns_port=0, extra=(), core=SERVER_CORE):
        p = PROCS.start([self.bin, "-q", "resolver", "--dns-listen", f"127.0.0.1:{dns_port}",
                         "--api-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                         "--zone", "lab.test", *extra], core=core, stdout=subprocess.PIPE, text=True)
        info = json.loads(read_line(p, want="{"))
        p.info = info
        p.dns_port = int(info["dns"][0].rsplit(":", 1)[1])
        return p

    @staticmethod
    def r53(api_url):
        return boto3.client("route53", endpoint_url=api_url, region_name="us-east-1",
                            aws_access_key_id="bench", aws_secret_access_key="bench")

    @classmethod
    def register(cls, api_url, targets, owner="wavelb-lab", ttl=30, pool="www.lab.test"):
        """Creates weighted A sets plus their ownership TXT sets (the record protocol), as the
        agent would. targets: [(set_id, address, weight)]."""
        r53 = cls.r53(api_url)
        zone = next(z["Id"] for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "lab.test.")
        changes = []
        for sid, addr, weight in targets:
            txt = f'"v=1" "owner={owner}" "weight={weight}" "state=active" "since=1"'
            for name, rtype, w, value in ((pool, "A", weight, addr), (f"_wavelb.{pool}", "TXT", 0, txt)):
                changes.append({"Action": "CREATE", "ResourceRecordSet": {
                    "Name": name, "Type": rtype, "SetIdentifier": sid, "Weight": w, "TTL": ttl,
                    "ResourceRecords": [{"Value": value}]}})
        for i in range(0, len(changes), 400):  # within 1000 changes and 32 000 value characters
            r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes[i:i + 400]})

    def health_config(self, name, api_url, port, interval, extra="", pool="www.lab.test"):
        timeout = min(0.5, interval * 0.75)
        path = self.work / f"{name}.toml"
        path.write_text(f"""[pool]
name = "{pool}"
zone = "lab.test"
ttl = 30
owner_id = "wavelb-lab"

[route53]
endpoint_url = "{api_url}"
max_requests_per_second = 100

[health]
interval = "{int(interval * 1000)}ms"
timeout = "{int(timeout * 1000)}ms"
rise = 2
fall = 3
poll_interval = "1s"
metrics_listen = "127.0.0.1:0"
{extra}

[health.probe]
kind = "udp"
port = {port}
send = "ping"
expect = "ping"
""")
        return path

    def health(self, cfg, core=None, name="health"):
        return PROCS.start([self.bin, "--config", str(cfg), "health", "--controller-id", name],
                           core=core, log_path=self.work / f"{name}.log")


def echo(first, port, count=1, tcp=False, core=None):
    p = PROCS.start([sys.executable, str(HERE / "echo.py"), first, str(port), str(count)] + (["--tcp"] if tcp else []),
                    core=core, stdout=subprocess.PIPE, text=True)
    read_line(p, want="ready")
    return p


# ---------------------------------------------------------------------------- suite: resolver

def fill(template: Path, dest: Path, **kw):
    dest.write_text(string.Template(template.read_text()).substitute(**kw))


def start_peer(name, work, extra_conf=""):
    """Starts one peer on a free port, pinned to the server core. Returns (process, port)."""
    port = free_port()
    d = work / f"{name}-{port}"
    d.mkdir()
    kw = dict(port=port, dir=d, peers=PEERS)
    if name == "knot":
        fill(PEERS / "knot.conf", d / "knot.conf", **kw)
        argv = ["knotd", "-c", str(d / "knot.conf")]
    elif name == "nsd":
        fill(PEERS / "nsd.conf", d / "nsd.conf", **kw)
        argv = ["nsd", "-d", "-c", str(d / "nsd.conf")]
    elif name.startswith("pdns"):
        fill(PEERS / "pdns.conf", d / "pdns.conf", **kw)
        with open(d / "pdns.conf", "a") as f:
            f.write(extra_conf)
        (d / "named.conf").write_text(f'zone "lab.test" {{ type master; file "{PEERS / "lab.test.pdns.zone"}"; }};\n')
        argv = ["pdns_server", f"--config-dir={d}"]
    elif name == "gdnsd":
        shutil.copytree(PEERS / "gdnsd", d / "etc")
        fill(PEERS / "gdnsd" / "config", d / "etc" / "config", **kw)
        argv = ["gdnsd", "-c", str(d / "etc"), "start"]
    else:
        raise ValueError(name)
    p = PROCS.start(argv, core=SERVER_CORE, log_path=d / "server.log")
    try:
        poll(f"{name} to answer on 127.0.0.1:{port}", 20, lambda: p.poll() is None and query(port, timeout=0.2))
    except RuntimeError:
        raise RuntimeError(f"{name} did not start: {(d / 'server.log').read_text()[-2000:]}")
    return p, port


def dnsperf(port, datafile, secs, qps=None, verbose=False):
    argv = ["taskset", "-c", str(LOADGEN_CORE), "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(datafile),
            "-l", str(secs), "-c", "8", "-q", "256", "-T", "1", "-t", "2"]
    if qps:
        argv += ["-Q", str(int(qps))]
    if verbose:
        argv += ["-v"]
    with tempfile.TemporaryFile("w+") as f:  # a file, not a pipe: -v writes a line per query
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.DEVNULL, text=True)
        time.sleep(secs)
        cpu = cpu_seconds(p.pid)  # read at the end of the load: dnsperf may spin while it waits -t for the lost
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise
        f.seek(0)
        out = f.read()
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    avg = re.search(r"Average Latency \(s\):\s+([\d.]+)", out)
    run = re.search(r"Run time \(s\):\s+([\d.]+)", out)  # the load, without the final -t wait
    res = {"qps": float(m.group(1)) if m else 0.0, "lost": int(lost.group(1)) if lost else -1,
           "avg_ms": float(avg.group(1)) * 1000 if avg else float("nan"), "argv": argv,
           "run_s": float(run.group(1)) if run else float(secs), "cpu_pct": 100 * cpu / secs}
    if verbose:  # "> NOERROR www.lab.test A 0.000123": one line per completed query
        lat = [float(f[-1]) * 1000 for f in (l.split() for l in out.splitlines() if l.startswith("> "))
               if re.fullmatch(r"[\d.]+", f[-1])]
        res["p99_ms"] = pct(lat, 99)
        res["p50_ms"] = pct(lat, 50)
    return res


# benches/dnsload (the project's own load generator): 256 in flight like dnsperf's -q, 8 client ports
# like its -c.
DNSLOAD_ARGS = ["--outstanding", "256", "--sockets", "8"]


def dnsload_bin():
    """benches/dnsload's release binary (run.sh builds it and sets DNSLOAD)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR") or HERE.parent / "target")
    binary = Path(os.environ.get("DNSLOAD") or target / "release" / "dnsload")
    if not binary.is_file():
        raise RuntimeError(f"{binary} is missing: cargo build --release -p dnsload (benches/run.sh does)")
    return binary


def dnsload(binary, port, datafile, secs, qps=None, timeout_ms=1000):
    """One dnsload run pinned to the load generator core: its JSON report (qps, lost, avg_ms,
    p99_ms, answers, cpu_pct = its own CPU over the run, …) plus argv. A reply later than
    timeout_ms counts lost (and the run ends at most that long after its `secs`)."""
    argv = ["taskset", "-c", str(LOADGEN_CORE), str(binary), "--server", f"127.0.0.1:{port}", "--queries",
            str(datafile), "--secs", str(secs), *DNSLOAD_ARGS, "--timeout-ms", str(timeout_ms)]
    argv += ["--qps", str(int(qps))] if qps else []
    r = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 30)
    if r.returncode != 0:
        raise RuntimeError(f"dnsload exited {r.returncode}: {r.stderr.strip()[-500:]}")
    res = {k: float("nan") if v is None else v for k, v in json.loads(r.stdout).items()}
    res["argv"] = argv
    return res


def limited_by(server_cpu, gen_cpu, gen):
    """Which side saturated its core at max QPS (≥ 90 %), as far as CPU shows."""
    server, generator = server_cpu >= 90, gen_cpu >= 90
    return "both" if server and generator else "server" if server else gen if generator else "neither"


def verdict(value, ok):
    """"**1.02× — met**"."""
    return f"**{value} — {'met' if ok else 'MISSED'}**"


def shares(counts, weights=WEIGHTS):
    """"10/20/30/40 % (max dev …)" of {address: answers}, as in `distribution`."""
    n = sum(counts.values())
    if not n:
        return "no answers"
    total = sum(weights.values())
    worst = max(abs(counts.get(ip, 0) / n - w / total) for ip, w in weights.items()) * 100
    return f"{'/'.join(f'{100 * counts.get(ip, 0) / n:.0f}' for ip in weights)} % (max dev {worst:.1f} pp, n={n})"


def distribution(port, name, n, weights=WEIGHTS):
    counts, answers = {}, 0
    for _ in range(n):
        ips = query(port, name)
        if ips is None:
            continue
        answers += 1
        key = ips[0] if len(ips) == 1 else f"all {len(ips)}"
        counts[key] = counts.get(key, 0) + 1
    if not answers:
        return "no answers"
    if any(k.startswith("all") for k in counts):
        return f"{next(iter(counts))} records in every answer (static)"
    total = sum(weights.values())
    worst = max(abs(counts.get(ip, 0) / answers - w / total) for ip, w in weights.items()) * 100
    shares = "/".join(f"{100 * counts.get(ip, 0) / answers:.0f}" for ip in weights)
    return f"{shares} % (max dev {worst:.1f} pp, n={answers})"


def suite_resolver(ctx):
    work, secs = ctx.work, (1 if ctx.smoke else 10)
    dl_bin, dl_secs, dl_timeout = dnsload_bin(), (0.5 if ctx.smoke else secs), (250 if ctx.smoke else 1000)
    data = {}
    for wl, lines in (("www", ["www.lab.test A"] * 10),
                      ("www+10%nx", ["www.lab.test A"] * 9 + ["nx.lab.test A"])):
        for peer_name in ("www", "up"):
            f = work / f"{wl}-{peer_name}.txt"
            f.write_text("\n".join(l.replace("www.", f"{peer_name}.", 1) if l.startswith("www") else l for l in lines) + "\n")
            data[(wl, peer_name)] = f
    servers = ["wavelb", "knot", "nsd", "pdns-lua", "pdns-ifportup", "gdnsd"]
    missing = [s for s, b in (("knot", "knotd"), ("nsd", "nsd"), ("pdns-lua", "pdns_server"),
                              ("pdns-ifportup", "pdns_server"), ("gdnsd", "gdnsd"), ("dnsperf", "dnsperf"))
               if not shutil.which(b)]
    for m in missing:
        print(f"!!!!! SKIPPED PEER {m}: not installed (run benches/run.sh as root to install it) !!!!!", flush=True)
    if "dnsperf" in missing:
        raise RuntimeError("dnsperf is missing: wavelb's resolver could not be measured")
    servers = [s for s in servers if s not in missing]
    tcp_targets = echo("127.0.0.11", 4000, 4, tcp=True)  # what pdns ifportup checks (TCP connect)
    rows = {}
    for s in servers:
        if s == "wavelb":
            p = ctx.wavelb.resolver(dns_port=free_port())
            Wavelb.register(p.info["api_url"], [(f"t{i}", ip, w) for i, (ip, w) in enumerate(WEIGHTS.items(), 1)])
            port = p.dns_port
        else:
            try:
                p, port = start_peer(s, work)
            except RuntimeError as e:
                print(f"!!!!! SKIPPED PEER {s}: {e} !!!!!", flush=True)
                continue
        name = "up.lab.test" if s == "pdns-ifportup" else "www.lab.test"
        poll(f"{s} to answer {name}", 15, lambda: query(port, name))
        rss0 = rss_mib(p.pid)
        for wl in ("www", "www+10%nx"):
            f = data[(wl, "up" if s == "pdns-ifportup" else "www")]
            # Server CPU over the load's run time (dnsperf then waits -t 2 s for lost replies: idle).
            c0 = cpu_seconds(p.pid)
            mx = dnsperf(port, f, secs)
            cpu, gen_cpu = 100 * (cpu_seconds(p.pid) - c0) / mx["run_s"], mx["cpu_pct"]
            half = dnsperf(port, f, secs, qps=max(100, mx["qps"] / 2), verbose=True)
            c0 = cpu_seconds(p.pid)
            lmx = dnsload(dl_bin, port, f, dl_secs, timeout_ms=dl_timeout)
            lcpu = 100 * (cpu_seconds(p.pid) - c0) / lmx["elapsed_s"]
            lhalf = dnsload(dl_bin, port, f, dl_secs, qps=max(100, lmx["qps"] / 2), timeout_ms=dl_timeout)
            dl = dict(qps=lmx["qps"], lost=lmx["lost"], cpu=lcpu, gen_cpu=lmx["cpu_pct"], avg=lhalf["avg_ms"],
                      p99=lhalf["p99_ms"], half_qps=lhalf["qps"], answers=lhalf["answers"])
            rows[(s, wl)] = dict(qps=mx["qps"], lost=mx["lost"], cpu=cpu, gen_cpu=gen_cpu, avg=half["avg_ms"],
                                 p99=half["p99_ms"], half_qps=half["qps"], rss=rss_mib(p.pid), rss0=rss0, dl=dl)
            log(s, wl, rows[(s, wl)])
            ctx.commands.add(" ".join(mx["argv"]).replace(str(work), "$WORK").replace(str(port), "$PORT"))
        rows[(s, "dist")] = distribution(port, name, 200 if ctx.smoke else 4000,
                                         dict.fromkeys(WEIGHTS, 1) if s == "pdns-ifportup" else WEIGHTS)
        if s == "pdns-ifportup":
            rows[(s, "dist")] += " — ifportup takes no weights: expected 25 % each"
        log(s, rows[(s, "dist")])
        PROCS.stop(p)
    PROCS.stop(tcp_targets)
    if not any(k[0] == "wavelb" for k in rows):
        raise RuntimeError("wavelb's resolver did not run")
    out = [f"dnsperf: {secs} s per run, 8 clients, 256 outstanding, one thread on core {LOADGEN_CORE}; every server "
           f"pinned to core {SERVER_CORE} with one worker where it has the setting (wavelb: its default runtime, "
           "pinned). Max = dnsperf unthrottled; latency at `-Q` = 50 % of that server's own max, p99 from "
           "dnsperf `-v` per-query times. RSS = VmRSS of the process tree after the runs (idle before).", "",
           f"dnsload (`benches/dnsload`, the project's own generator: one thread, `sendmmsg`/`recvmmsg`, "
           f"`{' '.join(DNSLOAD_ARGS)} --timeout-ms {dl_timeout}`, {dl_secs:g} s per run, core {LOADGEN_CORE}) "
           "measures the same servers with the same query files, because dnsperf saturates its own core first: "
           "max = its window of 256 in flight, latency at `--qps` = 50 % of that server's own dnsload max (open "
           "loop, 100 µs ticks). CPU = user+system time over the load's run time (dnsperf's *Run time*, dnsload's "
           "`elapsed_s`; dnsperf's own CPU read when its load ends), not over the final wait for lost replies, "
           "when the server idles and dnsperf may spin. *Limited by* = the side at ≥ 90 % of its core at max (on "
           "loopback the kernel's receive work for the queries is charged to the sender's core, and softirq time "
           "to neither process, so a server short of 100 % can still be the limit). Lost at max: with 256 in "
           "flight a server's socket buffer (about 200 queries at the default 208 KiB) overflows; dnsload keeps a "
           "lost query in its window for the 1 s timeout, so it loses about (256 − that) per second.", ""]
    goals = {"gdnsd": 1.0, "pdns-lua": 5.0, "knot": 0.7}
    for wl in ("www", "www+10%nx"):
        out += [f"### Workload `{wl}`", "", "With dnsperf:", "",
                "| server | max QPS | server CPU at max | dnsperf CPU at max | limited by | lost | avg / p99 ms at 50 % "
                "| RSS MiB (idle → after) | wavelb ÷ server |",
                "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
        base = rows.get(("wavelb", wl))
        for s in servers:
            r = rows.get((s, wl))
            if not r:
                out.append(f"| {s} | SKIPPED | | | | | | | |")
                continue
            ratio = base["qps"] / r["qps"] if base and r["qps"] else float("nan")
            out.append(f"| {s} | {r['qps']:,.0f} | {r['cpu']:.0f} % | {r['gen_cpu']:.0f} % "
                       f"| {limited_by(r['cpu'], r['gen_cpu'], 'dnsperf')} | {r['lost']} "
                       f"| {r['avg']:.3f} / {r['p99']:.3f} | {r['rss0']:.1f} → {r['rss']:.1f} | {ratio:.2f}× |")
        out += ["", "With dnsload:", "",
                "| server | max QPS | ÷ dnsperf's | server CPU at max | dnsload CPU at max | limited by | lost "
                "| avg / p99 ms at 50 % | wavelb ÷ server |",
                "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
        for s in servers:
            r = rows.get((s, wl))
            if not r:
                out.append(f"| {s} | SKIPPED | | | | | | | |")
                continue
            d = r["dl"]
            ratio = base["dl"]["qps"] / d["qps"] if base and d["qps"] else float("nan")
            vs = d["qps"] / r["qps"] if r["qps"] else float("nan")
            out.append(f"| {s} | {d['qps']:,.0f} | {vs:.2f}× | {d['cpu']:.0f} % | {d['gen_cpu']:.0f} % "
                       f"| {limited_by(d['cpu'], d['gen_cpu'], 'dnsload')} | {d['lost']} "
                       f"| {d['avg']:.3f} / {d['p99']:.3f} | {ratio:.2f}× |")
        out.append("")
        if base:
            for peer, goal in goals.items():
                r = rows.get((peer, wl))
                if r and r["qps"] and r["dl"]["qps"]:
                    ratio, dl_ratio = base["qps"] / r["qps"], base["dl"]["qps"] / r["dl"]["qps"]
                    out.append(f"- goal ≥ {goal}× {peer}: dnsperf {verdict(f'{ratio:.2f}×', ratio >= goal)}, "
                               f"dnsload {verdict(f'{dl_ratio:.2f}×', dl_ratio >= goal)}")
                else:
                    out.append(f"- goal ≥ {goal}× {peer}: not measured (peer skipped)")
            p99, dl_p99 = base["p99"], base["dl"]["p99"]
            out.append(f"- goal p99 < 1 ms at 50 % load: dnsperf {verdict(f'{p99:.3f} ms', p99 < 1)}, "
                       f"dnsload {verdict(f'{dl_p99:.3f} ms', dl_p99 < 1)}")
            out.append("")
    out += ["### Answer distribution (expected 10/20/30/40 %)", "",
            "| server | share of 127.0.0.11/12/13/14 | first A of dnsload's replies (`www`, 50 % run) |",
            "| --- | --- | --- |"]
    for s in servers:
        if (s, "dist") in rows:
            static = "static" in rows[(s, "dist")]
            first = "— (static)" if static or (s, "www") not in rows else shares(
                rows[(s, "www")]["dl"]["answers"], dict.fromkeys(WEIGHTS, 1) if s == "pdns-ifportup" else WEIGHTS)
            out.append(f"| {s} | {rows[(s, 'dist')]} | {first} |")
    out.append("")
    return out


# ---------------------------------------------------------------------------- suite: failover

def failover_trial(port, proc, restart, victim, limit_s, phase_s, rate=400, name="www.lab.test"):
    """Kills the victim's process `proc`, restarts it with `restart()`. Returns (seconds until the
    resolver stops returning it, seconds from the restart until it is returned again, the new
    process). One clock: time.monotonic(). The kill comes at a random moment of the checker's
    cycle (a uniform wait of up to `phase_s`, its check interval, once the victim is answered):
    without it every kill would land just after the check that brought the victim back."""
    gap = 1.0 / rate

    def loop(until, limit):
        seen, t0 = [], time.monotonic()
        while time.monotonic() - t0 < limit:
            t = time.monotonic()
            ips = query(port, name, timeout=0.2)
            if ips is not None:
                seen.append((t, victim in ips))
                if until(seen):
                    return seen
            time.sleep(max(0.0, gap - (time.monotonic() - t)))
        raise RuntimeError(f"no verdict within {limit}s")

    poll("the victim to be answered", limit_s, lambda: victim in (query(port, name) or []))
    time.sleep(random.uniform(0, phase_s))  # the crash's moment in the probe cycle, not a synchronisation
    t_kill = time.monotonic()
    PROCS.stop(proc, signal.SIGKILL)

    def gone(seen):  # absent for ≥ 1 s and ≥ 200 answers in a row after the last sighting
        last = max((i for i, (_, v) in enumerate(seen) if v), default=-1)
        tail = seen[last + 1:]
        return len(tail) >= 200 and tail[-1][0] - tail[0][0] >= 1.0
    seen = loop(gone, limit_s)
    last = max((i for i, (_, v) in enumerate(seen) if v), default=-1)
    out_s = seen[last + 1][0] - t_kill
    t_restart = time.monotonic()
    proc = restart()
    seen = loop(lambda s: s[-1][1], limit_s)
    back_s = seen[-1][0] - t_restart
    return out_s, back_s, proc


def quic_probe_table(cfg, port, cert):
    """Replaces the udp probe of a health configuration with a quic one: a full handshake with ALPN h3,
    the certificate checked against `cert` (the bench servers' own) for the default SNI localhost."""
    head = cfg.read_text().split("[health.probe]")[0]
    cfg.write_text(head + f'''[health.probe]
kind = "quic"
port = {port}
alpn = ["h3"]
ca = "{cert}"
''')
    return cfg


def suite_failover(ctx):
    trials = 3 if ctx.smoke else 20
    intervals = [0.2] if ctx.smoke else [0.2, 1.0]
    # The rows to run (default all): udp, quic (wavelb's probes), pdns (the peer).
    wanted = os.environ.get("BENCH_FAILOVER_ROWS", "udp,quic,pdns").split(",")
    out = [f"Four targets (weights 10/20/30/40) registered in `wavelb resolver`; `wavelb health` with fall 3, "
           f"rise 2, poll_interval 1s, probe timeout min(500 ms, 0.75 × interval), `readmit_backoff = \"0s\"` (every trial restarts the same target; the flap suite measures the back-off). *udp* rows: UDP echo targets "
           f"(benches/echo.py), `kind = \"udp\"`. *quic* rows: each target a quinn QUIC server process "
           f"(`quic_handshakes serve`, benches/quic_handshakes.rs), `kind = \"quic\"` (full handshake, ALPN h3, "
           f"certificate checked with `ca`). The 40-weight target's process is killed "
           f"(SIGKILL) at a random moment of the probe cycle (a uniform wait of up to one interval once it is answered) and restarted; a dnspython loop queries the resolver at ~400 q/s. *Out* = kill → first "
           f"query after the last answer naming it (then ≥ 200 answers and ≥ 1 s without it); *back* = "
           f"restart → first answer naming it. {trials} trials each, one clock (monotonic).", "",
           "| probe | interval | fall | trials | out p50 / p99 s | back p50 / p99 s | goal (out p99) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    fast = {}  # (kind, interval) → out p99, for the ratios to the peer
    peer_default = None
    for kind in [k for k in ("udp", "quic") if k in wanted]:
        for interval in intervals:
            res = ctx.wavelb.resolver(core=None)
            port = free_port()

            def start(ip, kind=kind, port=port):
                return echo(ip, port) if kind == "udp" else quic_server(ctx, f"{ip}:{port}")
            others = [start(ip) for ip in list(WEIGHTS)[:3]]
            Wavelb.register(res.info["api_url"], [(f"t{i}", ip, w) for i, (ip, w) in enumerate(WEIGHTS.items(), 1)])
            # Every trial kills and restarts the same target: the re-admission back-off would hold
            # it out longer each time (the flap suite measures that), so it is off here.
            cfg = ctx.wavelb.health_config(f"failover-{kind}-{interval}", res.info["api_url"], port, interval,
                                           extra='readmit_backoff = "0s"')
            if kind == "quic":
                quic_probe_table(cfg, port, others[0].info["cert"])
            h = ctx.wavelb.health(cfg, name=f"health-{kind}-{int(interval * 1000)}ms")
            victim = "127.0.0.14"
            proc = start(victim)
            outs, backs = [], []
            for i in range(trials):
                o, b, proc = failover_trial(res.dns_port, proc, lambda: start(victim), victim, 30, interval)
                outs.append(o)
                backs.append(b)
                log(f"failover {kind} interval={interval}s trial {i + 1}: out {o:.3f}s back {b:.3f}s")
            goal = 1.0 if interval < 0.5 else 3.5
            p99 = pct(outs, 99)
            fast[(kind, interval)] = p99
            out.append(f"| {kind} | {int(interval * 1000)} ms | 3 | {trials} | {pct(outs, 50):.2f} / {p99:.2f} "
                       f"| {pct(backs, 50):.2f} / {pct(backs, 99):.2f} | ≤ {goal} s: **{'met' if p99 <= goal else 'MISSED'}** |")
            for p in [h, proc, *others, res]:
                if p is not None:
                    PROCS.stop(p)
    # The peer: PowerDNS ifportup (TCP connect checks) at its default interval (5 s) and its fastest (1 s).
    if "pdns" in wanted and not shutil.which("pdns_server"):
        print("!!!!! SKIPPED PEER pdns-ifportup failover: pdns_server not installed !!!!!", flush=True)
    for interval in (([1] if ctx.smoke else [5, 1]) if "pdns" in wanted else []):
        ptrials = 2 if ctx.smoke else int(os.environ.get("BENCH_PDNS_TRIALS", "20"))
        if not shutil.which("pdns_server"):
            break
        tcp = [echo(ip, 4000, tcp=True) for ip in list(WEIGHTS)[:3]]
        victim = "127.0.0.14"
        proc = echo(victim, 4000, tcp=True)
        p, port = start_peer("pdns-ifportup", ctx.work, f"lua-health-checks-interval={interval}\n")
        outs, backs = [], []
        for i in range(ptrials):
            o, b, proc = failover_trial(port, proc, lambda: echo(victim, 4000, tcp=True), victim, 60, interval,
                                     name="up.lab.test")
            outs.append(o)
            backs.append(b)
            log(f"pdns ifportup interval={interval}s trial {i + 1}: out {o:.3f}s back {b:.3f}s")
        out.append(f"| PowerDNS `ifportup` (TCP) | {interval} s | — | {ptrials} | {pct(outs, 50):.2f} / {pct(outs, 99):.2f} "
                   f"| {pct(backs, 50):.2f} / {pct(backs, 99):.2f} | peer |")
        if peer_default is None:  # the default interval (5 s) in a full run; 1 s in smoke mode
            peer_default = (interval, pct(outs, 99))
        for q in [p, proc, *tcp]:
            PROCS.stop(q)
    out.append("")
    if peer_default:
        peer_interval, peer_p99 = peer_default
        for (kind, interval), p99 in sorted(fast.items()):
            ratio = peer_p99 / p99
            goal = (f" (goal ≥ 5× against the default 5 s: **{'met' if ratio >= 5 else 'MISSED'}**)"
                    if interval < 0.5 and peer_interval == 5 else "")
            out.append(f"- out p99, PowerDNS `ifportup` at {peer_interval} s ÷ wavelb {kind} at {int(interval * 1000)} ms: "
                       f"**{ratio:.1f}×**{goal}")
        out.append("")
    return out


# ---------------------------------------------------------------------------- suite: quic

def profile_name():
    """The cargo profile run.sh built with: bench (release, thin LTO), or dev for --smoke."""
    return os.environ.get("WAVELB_BENCH_PROFILE", "bench")


def cargo_bench():
    """`cargo bench` arguments up to the bench name, with run.sh's feature resolution (the whole
    workspace) and profile (`WAVELB_BENCH_PROFILE`: bench, or dev for --smoke), so that the bench
    reuses what run.sh built instead of building the tree again."""
    return ["bench", "--workspace", "--profile", profile_name(), "--bench"]


def quic_bench_exe(ctx):
    """The `quic_handshakes` bench executable (benches/quic_handshakes.rs): its `serve` mode is the
    quinn QUIC server of the quic and failover suites, its `client` mode wavelb's prober in a loop.
    Built by run.sh (`cargo build --benches`); this asks cargo where it is."""
    if getattr(ctx, "quic_exe", None):
        return ctx.quic_exe
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(Path.home() / ".cache/wavelb/target"))  # as run.sh
    r = subprocess.run(["cargo", *cargo_bench(), "quic_handshakes", "--no-run", "--message-format=json"],
                       cwd=HERE.parent, capture_output=True, text=True, timeout=1800, env=env)
    exe = None
    for line in r.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "quic_handshakes":
            exe = msg.get("executable") or exe
    if r.returncode != 0 or not exe:
        raise RuntimeError(f"cannot build the quic_handshakes bench (exit {r.returncode}): {r.stderr[-1500:]}")
    ctx.quic_exe = exe
    return exe


def quic_server(ctx, listen, core=None, name=None):
    """A quinn QUIC server (`quic_handshakes serve`, ALPN h3, the bench's certificate for localhost)
    as its own process, on `listen` ("127.x.y.z:port"; port 0: any). Returns the process, with
    `.info` = its ready line ({"listen", "port", "cert", "spki_sha256"})."""
    d = ctx.work / (name or f"quic-{listen.replace(':', '-')}")
    d.mkdir(exist_ok=True)
    p = PROCS.start([quic_bench_exe(ctx), "serve", "--listen", listen, "--dir", str(d)], core=core,
                    stdout=subprocess.PIPE, text=True)
    p.info = json.loads(read_line(p, 15, want="{"))
    return p


def suite_quic(ctx):
    secs, warmup, conc = (1, 0.3, 32) if ctx.smoke else (10, 1, 32)
    runs = [("wavelb", "ca"), ("aioquic", "ca")] if ctx.smoke else \
        [("wavelb", "ca"), ("wavelb", "pin"), ("wavelb", "insecure"), ("aioquic", "ca"), ("aioquic", "insecure")]
    exe = quic_bench_exe(ctx)
    server = quic_server(ctx, "127.0.0.1:0", core=SERVER_CORE, name="quic-bench-server")
    port, cert = server.info["port"], server.info["cert"]
    rows = {}
    for client, trust in runs:
        load = ["--secs", str(secs), "--warmup", str(warmup), "--concurrency", str(conc)]
        if client == "wavelb":
            argv = [exe, "client", "--target", f"127.0.0.1:{port}", "--cert", cert, "--trust", trust, "--core",
                    str(LOADGEN_CORE), *load]
        else:
            argv = [sys.executable, str(HERE / "quic_client.py"), "127.0.0.1", str(port), "--cert", cert,
                    "--trust", trust, *load]
        argv = ["taskset", "-c", str(LOADGEN_CORE), *argv]
        c0, t0 = cpu_seconds(server.pid), time.monotonic()
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=secs + warmup + 60)
        except subprocess.TimeoutExpired:
            r = None
        server_cpu = 100 * (cpu_seconds(server.pid) - c0) / (time.monotonic() - t0)
        lines = [l for l in (r.stdout.splitlines() if r else []) if l.startswith("{")]
        if r is None or r.returncode != 0 or not lines:
            why = "timed out" if r is None else f"exit {r.returncode}: {(r.stderr or r.stdout)[-800:].strip()}"
            if client == "aioquic":
                print(f"!!!!! SKIPPED PEER aioquic ({trust}): {why} !!!!!", flush=True)
                continue
            raise RuntimeError(f"wavelb's quic prober ({trust}) failed: {why}")
        res = json.loads(lines[-1])
        res["server_cpu"] = server_cpu
        rows[(client, trust)] = res
        log(f"quic {client} {trust}: {res['handshakes']} handshakes in {res['wall_s']:.2f}s, {res['per_s']:.0f}/s, "
            f"cpu {res['cpu_s']:.2f}s, {res['per_cpu_s']:.0f} per CPU-second, server cpu {server_cpu:.0f}%")
    PROCS.stop(server)
    out = [f"Full QUIC handshakes (TLS 1.3, ALPN h3, ECDSA P-256 certificate; the server sends no session tickets, so "
           f"none is a resumption) against one quinn server (`quic_handshakes serve`, benches/quic_handshakes.rs) "
           f"pinned to core {SERVER_CORE}. *wavelb* = the product's `quic` probe (`health::probe::Prober`, the code "
           f"`wavelb health` runs; one tokio thread) in a loop, {conc} probes in flight, pinned to core {LOADGEN_CORE}; "
           f"trust `ca` = chain and name checked against the server's certificate, `pin` = SPKI pin, `insecure` = "
           f"any certificate (the handshake signature is checked in every mode). *aioquic* = aioquic's client "
           f"(`connect()`, benches/quic_client.py) in the same way: `ca` = `load_verify_locations`, `insecure` = "
           f"`CERT_NONE`. {warmup} s warm-up, then {secs} s measured. *Per CPU-second* = handshakes ÷ the client "
           f"process's own user+system CPU time (getrusage / `time.process_time`), i.e. handshakes per second one core "
           f"sustains, valid even when the server is the bottleneck (server CPU shown).", "",
           "| client | trust | in flight | handshakes | wall s | handshakes/s | client CPU-s | handshakes per CPU-second "
           "(one core) | server CPU | handshake p50 / p99 ms | failures | goal ≥ 500 / core | wavelb ÷ aioquic |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for client, trust in runs:
        r = rows.get((client, trust))
        if not r:
            out.append(f"| {client} | {trust} | SKIPPED | | | | | | | | | | |")
            continue
        failed = sum(r["failures"].values())
        goal = f"**{'met' if r['per_cpu_s'] >= 500 else 'MISSED'}**" if client == "wavelb" else "peer"
        peer = rows.get(("aioquic", trust))
        ratio = f"{r['per_cpu_s'] / peer['per_cpu_s']:.1f}×" if client == "wavelb" and peer else "—"
        out.append(f"| {client} | {trust} | {r['concurrency']} | {r['handshakes']:,} | {r['wall_s']:.2f} "
                   f"| {r['per_s']:,.0f} | {r['cpu_s']:.2f} | {r['per_cpu_s']:,.0f} | {r['server_cpu']:.0f} % "
                   f"| {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {failed} | {goal} | {ratio} |")
    out.append("")
    for (client, trust), r in rows.items():
        if r.get("first_failure"):
            out.append(f"- {client} {trust}, first failure: {str(r['first_failure'])[:300]}")
    if not any(c == "aioquic" for c, _ in rows):
        out.append("- aioquic was not measured (see the SKIPPED PEER line): no ratio.")
    out.append("")
    return out


# ---------------------------------------------------------------------------- suites: storm, prober, footprint

def metric_sum(url, name):
    """The sum of every sample of `name` (all labels) on a Prometheus page."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return sum(float(l.rsplit(None, 1)[1]) for l in text.splitlines()
               if l.startswith(name) and l[len(name):len(name) + 1] in (" ", "{"))


def agent_config(work, api_url, i, reconcile=None, pool="edge.lab.test", zone_id=None):
    """An agent with a static address and set identifier. With zone_id, the agent skips the
    ListHostedZonesByName a zone name costs at every start (what a large fleet should do)."""
    path = work / f"agent-{i}.toml"
    zone = f'hosted_zone_id = "{zone_id}"' if zone_id else 'zone = "lab.test"'
    interval = f'reconcile_interval = "{reconcile}"' if reconcile else "# reconcile_interval: the default"
    path.write_text(f"""[pool]
name = "{pool}"
{zone}
ttl = 30
owner_id = "storm"

[route53]
endpoint_url = "{api_url}"

[agent]
weight = 60
address = "127.2.{i // 250}.{i % 250 + 1}"
target_id = "lab-host-{i:04}"
imds_endpoint = "http://127.0.0.1:9"
{interval}
startup_jitter = "0s"
notice_poll_interval = "60s"
metrics_listen = "127.0.0.1:0"
""")
    return path


def registered(state_dir):
    """The storm's ownership records in the resolver's state database (read-only, beside the
    running resolver: SQLite's WAL lets a reader in while it writes)."""
    import sqlite3
    try:
        db = sqlite3.connect(f"file:{state_dir / 'state.sqlite3'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(
                "SELECT count(*) FROM record_sets WHERE record_set LIKE '%owner=storm%'"
            ).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def storm_check(api_url, n, per_pool):
    """Reads every pool back through the API: the agents whose A and TXT sets are both there,
    active, with the wanted weight (anything else counts as lost)."""
    r53 = Wavelb.r53(api_url)
    zone = next(z["Id"] for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "lab.test.")
    good = 0
    for k in range((n + per_pool - 1) // per_pool):
        pool = f"edge{k}.lab.test."
        sets = r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=pool, MaxItems="300")
        sets = sets["ResourceRecordSets"]
        more = r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=f"_wavelb.{pool}", MaxItems="300")
        sets += more["ResourceRecordSets"]
        a = {s["SetIdentifier"] for s in sets if s["Name"] == pool and s["Type"] == "A" and s.get("Weight") == 60}
        txt = {s["SetIdentifier"] for s in sets if s["Name"] == f"_wavelb.{pool}" and s["Type"] == "TXT"
               and "state=active" in s["ResourceRecords"][0]["Value"]}
        good += len(a & txt)
    return good


def suite_storm(ctx):
    sizes = [10] if ctx.smoke else [int(x) for x in os.environ.get("BENCH_STORM_SIZES", "100,300,1000").split(",")]
    per_pool = 100  # Route 53 allows at most 100 weighted sets per name and type
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    out = [f"N `wavelb agent` processes (separate processes; static addresses; `startup_jitter = \"0s\"`, so all "
           f"start at once; the configuration's defaults otherwise: reconcile 300 s, throttled requests retried at "
           f"≤ 3 s) register into pools of {per_pool} (`edge<k>.lab.test`; Route 53 allows {per_pool} weighted sets per "
           f"name) against `wavelb resolver --api-rate-limit 5`. The agents name the zone by `hosted_zone_id`, so a "
           f"new instance's registration is one API call (a blind CREATE). *All registered* = the resolver's durable "
           f"state file holds N ownership records (read from disk: the poll costs no API calls); *lost* = agents whose "
           f"A and TXT sets are not both there, active, with their weight, read back through the API at the end. "
           f"API calls and throttles from the resolver's /metrics. t = 0 when the first agent is started.", "",
           "| N | all registered s | ideal N/5 s | ratio | goal ≤ 1.2× | API requests | of them throttled | "
           "requests per agent | lost | agents exited early |",
           "| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for n in sizes:
        state = ctx.work / f"storm-{n}"
        state.mkdir()
        res = ctx.wavelb.resolver(extra=["--api-rate-limit", "5", "--state-dir", str(state)], core=None)
        api = res.info["api_url"]
        zone_id = next(z["Id"] for z in Wavelb.r53(api).list_hosted_zones()["HostedZones"]
                       if z["Name"] == "lab.test.").rsplit("/", 1)[-1]
        metrics = f"http://{res.info['metrics']}/metrics"
        calls0, thr0 = metric_sum(metrics, "wavelb_api_requests_total"), metric_sum(metrics, "wavelb_api_throttled_total")
        cfgs = [agent_config(ctx.work, api, i, pool=f"edge{i // per_pool}.lab.test", zone_id=zone_id) for i in range(n)]
        t0 = time.monotonic()
        agents = [PROCS.start([ctx.wavelb.bin, "-q", "--config", str(c), "agent"], env=env) for c in cfgs]
        spawned = time.monotonic() - t0
        limit = 3 * n / 5 + 30
        marks = {}  # fraction registered → seconds, for the log

        def progress():
            got = registered(state)
            for f in (0.25, 0.5, 0.75, 0.9):
                if got >= f * n and f not in marks:
                    marks[f] = time.monotonic() - t0
            return got >= n and time.monotonic() - t0

        try:
            took = poll(f"{n} registrations", limit, progress, every=0.1)
        except RuntimeError:
            took = float("nan")
        log(f"storm n={n}: all started after {spawned:.1f}s; " +
            ", ".join(f"{int(f * 100)}% at {t:.1f}s" for f, t in sorted(marks.items())))
        calls = metric_sum(metrics, "wavelb_api_requests_total") - calls0
        throttled = metric_sum(metrics, "wavelb_api_throttled_total") - thr0
        early = sum(1 for a in agents if a.poll() is not None)
        for a in agents:
            PROCS.stop(a, signal.SIGKILL)
        good = storm_check(api, n, per_pool)
        PROCS.stop(res)
        ideal = n / 5
        ratio = took / ideal
        shown = f"{took:.1f}" if took == took else f"not within {limit:.0f} s ({registered(state)} of {n})"
        out.append(f"| {n} | {shown} | {ideal:.0f} | {ratio:.2f}× | **{'met' if ratio <= 1.2 and good == n else 'MISSED'}** "
                   f"| {calls:.0f} | {throttled:.0f} | {calls / n:.1f} | {n - good} | {early} |")
        log(f"storm n={n}: {took:.1f}s ({ratio:.2f}x), {calls:.0f} calls, {throttled:.0f} throttled, lost {n - good}, "
            f"early exits {early}")
    out.append("")
    return out


def prober_config(wavelb, name, api_url, port, pools):
    """One `wavelb health` configuration watching every pool in `pools` ([[pool]] sections),
    polling each every 30 s (see the suite's text)."""
    path = wavelb.health_config(name, api_url, port, 1.0, extra='lease_ttl = "90s"', pool=pools[0])
    one = path.read_text().split("[route53]")[0]
    sections = "".join(one.replace("[pool]", "[[pool]]").replace(f'name = "{pools[0]}"', f'name = "{pool}"')
                       for pool in pools)
    rest = "[route53]" + path.read_text().split("[route53]", 1)[1]
    path.write_text(sections + rest.replace('poll_interval = "1s"', 'poll_interval = "30s"'))
    return path


def zone_record_sets(targets, pools):
    """The record sets of `targets` in `pools` in one hosted zone (docs/configuration.md, "Record
    sets per hosted zone"): an address and an ownership TXT per target, a lease per pool, the
    apex SOA and NS."""
    return 2 * targets + pools + 2


def suite_prober(ctx):
    sizes = [200] if ctx.smoke else [int(x) for x in os.environ.get("BENCH_PROBER_SIZES", "1000,5000,10000").split(",")]
    window = 3 if ctx.smoke else 20
    per_pool = 100  # Route 53 allows at most 100 weighted sets per name and type
    out = [f"N UDP echo targets (one process, one socket per 127.1.x.y address, one port), registered in the lab "
           f"resolver as N/{per_pool} pools of {per_pool} (Route 53's limit of weighted sets per name) in one hosted zone "
           f"(2 N + N/{per_pool} + 2 record sets: past Route 53's default quota of 10 000 per hosted zone from "
           f"5 000 targets on, so the resolver runs with `--max-record-sets-per-zone` at that count, a quota AWS "
           f"raises on request; docs/configuration.md, \"Record sets per hosted zone\"), all watched "
           f"by ONE `wavelb health` process (`[[pool]]` sections): udp probes at interval 1 s, poll_interval 30 s "
           f"(each round of each pool is a listing and a lease renewal: at 5 s, 100 pools would ask the API for 40 "
           f"requests/s, eight times Route 53's budget, and the lab resolver's core would be the bottleneck), "
           f"pinned to core {SERVER_CORE}; the echo process and the resolver on core {LOADGEN_CORE}. Measured over "
           f"{window} s once every target has a verdict of healthy (probed at least twice). Missed slots = N × seconds − probes completed "
           f"(`wavelb_probe_duration_seconds_count`).", "",
           "| targets | pools | CPU % of one core | goal ≤ 30 % at 10 000 | RSS MiB | probe p99 ms | probes/s "
           "| missed slots | failures |",
           "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for n in sizes:
        pools = [f"p{k}.lab.test" for k in range((n + per_pool - 1) // per_pool)]
        quota = zone_record_sets(n, len(pools))
        # One hosted zone holds them all: a quota AWS raised on request (`--max-record-sets-per-zone`).
        res = ctx.wavelb.resolver(core=LOADGEN_CORE, extra=("--max-record-sets-per-zone", str(max(quota, 10000))))
        log(f"prober n={n}: lab.test holds {quota} record sets (Route 53's default quota: 10000)")
        port = free_port()
        targets = echo("127.1.0.1", port, n, core=LOADGEN_CORE)
        for k, pool in enumerate(pools):
            Wavelb.register(res.info["api_url"], [(f"t{i}", str(ipaddress.IPv4Address("127.1.0.1") + i), 10)
                                                  for i in range(k * per_pool, min(n, (k + 1) * per_pool))], pool=pool)
        cfg = prober_config(ctx.wavelb, f"prober-{n}", res.info["api_url"], port, pools)
        h = ctx.wavelb.health(cfg, core=SERVER_CORE, name=f"prober-{n}")
        log_file = ctx.work / f"prober-{n}.log"
        m = poll("the health metrics address", 60,
                 lambda: re.search(r'"metrics"\s*:\s*"([^"]+)"', log_file.read_text(errors="replace")))
        url = f"http://{m.group(1)}/metrics"
        count = lambda: metric_sum(url, "wavelb_probe_duration_seconds_count")

        def healthy():  # targets with a verdict of healthy (each probed at least rise = 2 times)
            text = urllib.request.urlopen(url, timeout=5).read().decode()
            return sum(1 for l in text.splitlines() if l.startswith("wavelb_target_healthy{") and l.endswith(" 1"))

        try:
            poll(f"all {n} targets healthy", 30 + n / 50, lambda: healthy() >= n, every=0.5)
        except RuntimeError as e:
            out.append(f"| {n} | {len(pools)} | {e} (probes counted: {count():.0f}) | | | | | | |")
            log(f"prober n={n}: {e}; probes counted {count():.0f}")
            for p in (h, targets, res):
                PROCS.stop(p)
            continue
        c0, p0, f0, b0 = cpu_seconds(h.pid), count(), metric_sum(url, "wavelb_probe_failures_total"), histogram(
            url, "wavelb_probe_duration_seconds")
        t0, e0, r0 = time.monotonic(), cpu_seconds(targets.pid), cpu_seconds(res.pid)
        time.sleep(window)  # the measurement window itself, not a synchronisation
        dt = time.monotonic() - t0
        used = 100 * (cpu_seconds(h.pid) - c0) / dt
        probes, failed = count() - p0, metric_sum(url, "wavelb_probe_failures_total") - f0
        p99 = histogram_p99(b0, histogram(url, "wavelb_probe_duration_seconds")) * 1000
        rss = rss_mib(h.pid)
        echo_cpu = 100 * (cpu_seconds(targets.pid) - e0) / dt
        res_cpu = 100 * (cpu_seconds(res.pid) - r0) / dt
        missed = max(0, round(n * dt - probes))
        goal = ("**met**" if used <= 30 else "**MISSED**") if n == 10000 else ""
        out.append(f"| {n} | {len(pools)} | {used:.1f} | {goal} | {rss:.0f} | {p99:.2f} "
                   f"| {probes / dt:,.0f} | {missed} | {failed:.0f} |")
        log(f"prober n={n}: cpu {used:.1f}% rss {rss:.0f} MiB p99 {p99:.2f} ms probes/s {probes / dt:.0f} missed {missed}"
            f" (on core {LOADGEN_CORE}: echo process {echo_cpu:.0f} %, resolver {res_cpu:.0f} %)")
        for p in (h, targets, res):
            PROCS.stop(p)
    out.append("")
    return out


US_EAST_1_WLZ = ["atl", "bna", "bos", "chi", "clt", "dfw", "dtw", "iah", "mia", "msp", "nyc", "tpa", "was"]


def api_requests(url):
    """Route 53 API requests the lab resolver has served (every operation and outcome)."""
    return metric_sum(url, "wavelb_api_requests_total")


def budget_model(wavelb, cfg, controllers, targets):
    """The controllers' requests/s in registry::budget's model, as `wavelb health --check-config`
    prints it for `cfg` (the listing and renewal lines; the agents' line is left out: no agent runs)."""
    out = subprocess.run([wavelb.bin, "--config", str(cfg), "health", "--check-config", "--controllers",
                          str(controllers), "--targets-per-pool", str(targets)],
                         capture_output=True, text=True, check=True).stdout
    lines = re.findall(r": ([0-9.]+)/s (health listings|lease renewals)", out)
    if len(lines) != 2:
        raise RuntimeError(f"no budget lines in --check-config's output: {out}")
    return sum(float(v) for v, _ in lines)


def tier_config(wavelb, name, api_url, port, pools, zones, poll, lease):
    """A `wavelb health` configuration over `pools` ([[pool]] sections) with the zone tier
    `edge.lab.test` over `zones` (their Wavelength zone names), `poll` and `lease` in seconds."""
    path = wavelb.health_config(name, api_url, port, 1.0, extra=f'lease_ttl = "{lease}s"', pool=pools[0])
    one = path.read_text().split("[route53]")[0]
    sections = "".join(one.replace("[pool]", "[[pool]]").replace(f'name = "{pools[0]}"', f'name = "{pool}"')
                       for pool in pools)
    rest = "[route53]" + path.read_text().split("[route53]", 1)[1]
    tier = '[global]\nname = "edge.lab.test"\n' + "".join(
        f'[[global.zone]]\npool = "{pool}"\nwavelength_zone = "{zone}"\n' for pool, zone in zip(pools, zones))
    path.write_text(sections + rest.replace('poll_interval = "1s"', f'poll_interval = "{poll}s"') + tier)
    return path


def suite_budget(ctx):
    """Issue 25, item 2: the Route 53 requests a fleet spends, counted by the lab resolver's API
    (`wavelb_api_requests_total`), beside registry::budget's model for the same fleet."""
    window = 5 if ctx.smoke else 120
    event_s = 5 if ctx.smoke else 40
    settle = 2 if ctx.smoke else 35
    rows = []

    # 1. `wavelb lab --zones 8`: one controller over eight pools of two and the tier.
    lab = PROCS.start([ctx.wavelb.bin, "lab", "--zones", "8", "--headless", "--dns-listen", "127.0.0.1:0",
                       "--api-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--target-port", "0"],
                      core=SERVER_CORE, stdout=subprocess.PIPE, text=True)
    info = json.loads(read_line(lab, want="{"))
    url = f"http://{info['metrics']}/metrics"
    poll("the lab's eight zones in the tier", 60, lambda: metric_sum(url, "wavelb_tier_in") >= 8, every=0.5)
    lab_pools = [f"edge.us-east-1-wl1-{z}-wlz-1.lab.test" for z in ("bos", "nyc", "dfw", "atl", "chi")] + \
        [f"edge.us-west-2-wl1-{z}-wlz-1.lab.test" for z in ("sfo", "sea", "den")]
    lab_zones = [p.split(".")[1] for p in lab_pools]
    model_cfg = tier_config(ctx.wavelb, "budget-lab-model", info["api_url"], 4000, lab_pools, lab_zones, 5, 15)
    model_cfg.write_text(model_cfg.read_text().replace("[health]", "[health]\nprobe_across_regions = true"))
    model = budget_model(ctx.wavelb, model_cfg, 1, 2)
    time.sleep(settle)  # past the first verdicts' writes, into the steady state; not a synchronisation
    a0, t0 = api_requests(url), time.monotonic()
    time.sleep(window)  # the measurement window itself
    rate = (api_requests(url) - a0) / (time.monotonic() - t0)
    rows.append(("`wavelb lab --zones 8` (8 pools of 2, tier of 8), 1 controller, rounds 5 s, lease 15 s",
                 model, rate, 0.6))
    PROCS.stop(lab)

    # 2. The 13 us-east-1 Wavelength zones, T targets each, two controllers.
    per_zone = 10 if ctx.smoke else 100
    res = ctx.wavelb.resolver(core=LOADGEN_CORE)
    api_url = res.info["api_url"]
    rurl = f"http://{res.info['metrics']}/metrics"
    port = free_port()
    pools = [f"edge.{z}.lab.test" for z in US_EAST_1_WLZ]
    zones = [f"us-east-1-wl1-{z}-wlz-1" for z in US_EAST_1_WLZ]
    echoes = []
    for k, pool in enumerate(pools, start=1):
        first = ipaddress.IPv4Address(f"127.1.{k}.1")
        if k == 1:  # the first target of zone 1 alone in a process: the single kill
            echoes.append(echo(str(first), port, 1, core=LOADGEN_CORE))
            echoes.append(echo(str(first + 1), port, per_zone - 1, core=LOADGEN_CORE))
        else:
            echoes.append(echo(str(first), port, per_zone, core=LOADGEN_CORE))
        Wavelb.register(api_url, [(f"z{k}-t{i}", str(first + i), 10) for i in range(per_zone)], pool=pool)
    cfg = tier_config(ctx.wavelb, "budget-fleet", api_url, port, pools, zones, 15, 30)
    model2 = budget_model(ctx.wavelb, cfg, 2, per_zone)
    controllers = [ctx.wavelb.health(cfg, core=SERVER_CORE, name=f"budget-{c}") for c in ("a", "b")]
    urls = []
    for c in ("a", "b"):
        log_file = ctx.work / f"budget-{c}.log"
        m = poll(f"controller {c}'s metrics address", 60,
                 lambda: re.search(r'"metrics"\s*:\s*"([^"]+)"', log_file.read_text(errors="replace")))
        urls.append(f"http://{m.group(1)}/metrics")

    def healthy(u):
        text = urllib.request.urlopen(u, timeout=5).read().decode()
        return sum(1 for l in text.splitlines() if l.startswith("wavelb_target_healthy{") and l.endswith(" 1"))

    n = per_zone * len(pools)
    poll(f"all {n} targets healthy at both controllers", 120, lambda: all(healthy(u) >= n for u in urls), every=1)
    poll("the 13 zones in the tier", 120, lambda: metric_sum(urls[0], "wavelb_tier_in") >= len(pools), every=1)
    time.sleep(settle)  # past the first verdicts' writes and a lease renewal; not a synchronisation
    a0, t0 = api_requests(rurl), time.monotonic()
    time.sleep(window)  # the measurement window itself
    steady = (api_requests(rurl) - a0) / (time.monotonic() - t0)
    rows.append((f"13 us-east-1 zones of {per_zone} targets ({n}), tier of 13, 2 controllers, rounds 15 s, lease 30 s",
                 model2, steady, 1.5 if per_zone == 100 else None))

    events = []
    leader = max(urls, key=lambda u: metric_sum(u, "wavelb_health_leader"))
    for what, proc, done in (
            ("one target killed (zone 1)", echoes[0],
             lambda: metric_sum(leader, "wavelb_health_quarantined") >= 1),
            (f"zone 2 failed (its {per_zone} targets killed)", echoes[2],
             lambda: metric_sum(leader, "wavelb_tier_in") <= len(pools) - 1)):
        a0, t0 = api_requests(rurl), time.monotonic()
        PROCS.stop(proc)
        poll(what, 60, done, every=0.1)
        took = time.monotonic() - t0
        left = event_s - (time.monotonic() - t0)
        if left > 0:
            time.sleep(left)  # the rest of the event's measurement window
        dt = time.monotonic() - t0
        spent = api_requests(rurl) - a0
        events.append((what, took, spent, spent - steady * dt, dt))
    for p in (*controllers, *echoes, res):
        PROCS.stop(p)

    out = ["Route 53 API requests counted by the lab resolver (`wavelb_api_requests_total`: every operation, every "
           f"caller) in steady state over {window} s, beside registry::budget's model of the same fleet (its listing "
           "and lease-renewal lines, as `wavelb health --check-config --controllers C --targets-per-pool T` prints "
           "them; no agent runs here). UDP echo targets; probes every 1 s, fall 3, rise 2. Route 53 allows 5 "
           "requests/s per account.", "",
           "| fleet | model req/s | measured req/s | measured / model | goal | within 10 % of the model |",
           "| --- | ---: | ---: | ---: | --- | --- |"]
    for what, model_rps, rate, goal in rows:
        ratio = rate / model_rps if model_rps else float("nan")
        goal_text = "" if goal is None else (f"≤ {goal}: **met**" if rate <= goal else f"≤ {goal}: **MISSED**")
        out.append(f"| {what} | {model_rps:.3f} | {rate:.3f} | {ratio:.2f} | {goal_text} | "
                   f"{'**yes**' if abs(ratio - 1) <= 0.10 else '**NO**'} |")
    out += ["", f"Through events, two controllers on the 13-zone fleet: requests over a {event_s} s window from the "
            "kill, and above the steady rate.", "",
            "| event | effect after s | requests in the window | above steady |",
            "| --- | ---: | ---: | ---: |"]
    for what, took, spent, extra, dt in events:
        out.append(f"| {what} | {took:.1f} | {spent:.0f} | {extra:.1f} |")
    out.append("")
    return out


def histogram(url, name):
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    b = {}
    for l in text.splitlines():
        m = re.match(name + r'_bucket\{.*le="([^"]+)".*\}\s+(\S+)', l)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            b[le] = b.get(le, 0) + float(m.group(2))
    return b


def histogram_p99(before, after):
    delta = sorted((le, after[le] - before.get(le, 0)) for le in after)
    if not delta or delta[-1][1] <= 0:
        return float("nan")
    for le, c in delta:
        if c >= 0.99 * delta[-1][1]:
            return le
    return float("nan")


def suite_footprint(ctx):
    window = 3 if ctx.smoke else 60
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    state = ctx.work / "footprint"
    state.mkdir()
    res = ctx.wavelb.resolver(extra=["--state-dir", str(state)], core=None)
    agent = PROCS.start([ctx.wavelb.bin, "-q", "--config", str(agent_config(ctx.work, res.info["api_url"], 0, reconcile="60s")), "agent"],
                        env=env, log_path=ctx.work / "footprint-agent.log")
    poll("the agent to register", 30, lambda: registered(state) >= 1)
    c0, t0 = cpu_seconds(agent.pid), time.monotonic()
    time.sleep(window)  # the idle window being measured
    cpu = 100 * (cpu_seconds(agent.pid) - c0) / (time.monotonic() - t0)
    rss = rss_mib(agent.pid)
    alive = agent.poll() is None
    PROCS.stop(agent)
    PROCS.stop(res)
    size = Path(ctx.wavelb.bin).stat().st_size
    stripped = ctx.work / "wavelb.stripped"
    subprocess.run(["strip", "-o", str(stripped), ctx.wavelb.bin], check=True)
    ssize = stripped.stat().st_size
    return [f"One `wavelb agent` (static address, reconcile 60s) registered against the lab resolver, then idle for "
            f"{window} s. CPU = utime+stime delta over the window; RSS = VmRSS at its end.", "",
            "| measure | value | goal |", "| --- | ---: | --- |",
            f"| agent RSS | {rss:.1f} MiB | ≤ 15 MB: **{'met' if rss * 1.048576 <= 15 else 'MISSED'}** |",
            f"| agent idle CPU | {cpu:.3f} % | ≤ 0.1 %: **{'met' if cpu <= 0.1 else 'MISSED'}** |",
            f"| agent still running at the end | {'yes' if alive else 'NO'} | |",
            f"| `wavelb` binary, {profile_name()} profile{' (strips symbols)' if profile_name() == 'bench' else ''} | {size / 1e6:.1f} MB | |",
            f"| after `strip` | {ssize / 1e6:.1f} MB | |", ""]


def suite_micro(ctx):
    args = ["--test"] if ctx.smoke else ["--warm-up-time", "1", "--measurement-time", "3"]
    env = dict(os.environ)
    r = subprocess.run(["taskset", "-c", str(SERVER_CORE), "cargo", *cargo_bench(), "hot_paths", "--", *args],
                       cwd=HERE.parent, capture_output=True, text=True, timeout=900, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"cargo bench failed: {r.stderr[-1500:]}")
    if ctx.smoke:
        lines = r.stdout.splitlines()
        ran = [l.split()[1] for l, nxt in zip(lines, lines[1:]) if l.startswith("Testing ") and nxt == "Success"]
        if len(ran) < 8:
            raise RuntimeError(f"only {len(ran)} of 8 micro-benchmarks passed: {r.stdout[-1500:]}")
        return [f"`cargo bench --bench hot_paths -- --test` (each benchmark once): {len(ran)} passed "
                f"({', '.join(ran)}).", ""]
    out = ["`taskset -c 0 cargo bench --bench hot_paths -- --warm-up-time 1 --measurement-time 3` (criterion; "
           "median of the estimate).", "", "| benchmark | time |", "| --- | ---: |"]
    name = None
    times = {}
    for l in r.stdout.splitlines():
        m = re.match(r"^(\S+)\s+time:\s+\[\S+ \S+ (\S+ \S+) \S+ \S+\]", l)
        if re.match(r"^[a-z_]+/\S+$", l.strip()) and "time:" not in l:
            name = l.strip()
        m2 = re.search(r"time:\s+\[\S+ \S+ (\S+ \S+) \S+ \S+\]", l)
        if m2:
            out.append(f"| `{m.group(1) if m else name}` | {m2.group(1)} |")
            times[m.group(1) if m else name] = to_ns(m2.group(1))
    out.append("")
    out += geo_ratios(times)
    return out


def to_ns(text):
    """Criterion's `618.36 ns` (or ps, µs, ms, s) in nanoseconds."""
    value, unit = text.split()
    scale = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
    return float(value) * scale


def geo_ratios(times):
    """Issue 23, item 3: the costliest geoproximity question against a weighted answer, in the same run."""
    out = []
    for path, what in (("respond", "the general path (`respond`) for both"),
                       ("reply", "the listeners' path (`reply`: the fast path answers the weighted name)")):
        worst, weighted = times.get(f"geo/{path}_worst_a"), times.get(f"geo/{path}_weighted_a")
        if worst and weighted:
            ratio = worst / weighted
            out.append(f"- costliest geoproximity question ÷ weighted answer, {what}: **{ratio:.1f}×** "
                       f"(goal ≤ 20×: **{'met' if ratio <= 20 else 'MISSED'}**)")
    return out + [""] if out else out


def netlab_suite(name):
    """A suite of benches/netlab/suites.py (the network testbed), given this module for its helpers."""
    def run(ctx):
        sys.path.insert(0, str(HERE / "netlab"))
        import suites  # noqa: PLC0415 - imported on use: it needs this module loaded first
        return getattr(suites, name)(ctx, sys.modules[__name__])
    return run


SUITES = {"resolver": suite_resolver, "micro": suite_micro, "failover": suite_failover, "storm": suite_storm,
          "prober": suite_prober, "budget": suite_budget, "footprint": suite_footprint, "quic": suite_quic,
          "loss": netlab_suite("suite_loss"), "client-failover": netlab_suite("suite_client_failover"),
          "flap": netlab_suite("suite_flap"), "zone-failover": netlab_suite("suite_zone_failover")}


def machine():
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s+(.*)", lscpu)
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1].split()[1]
    return f"{os.cpu_count()} CPUs ({model.group(1).strip() if model else platform.machine()}), {mem} RAM, {platform.platform()}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("suites", nargs="+")
    a = ap.parse_args()
    ctx = argparse.Namespace(smoke=a.smoke, work=Path(tempfile.mkdtemp(prefix="wavelb-bench-")), commands=set())
    ctx.wavelb = Wavelb(a.bin, ctx.work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sections, failed = [], []
    try:
        for s in a.suites:
            log(f"suite {s} ({'smoke' if a.smoke else 'full'})")
            t0 = time.monotonic()
            try:
                sections.append((s, SUITES[s](ctx), time.monotonic() - t0))
            except Exception as e:  # noqa: BLE001 - reported, and the exit status says so
                failed.append(s)
                sections.append((s, [f"**FAILED**: {e}", ""], time.monotonic() - t0))
                log(f"suite {s} FAILED: {e}")
            finally:
                PROCS.stop_all()
    finally:
        PROCS.stop_all()
        shutil.rmtree(ctx.work, ignore_errors=True)
    with open(a.out, "a") as f:
        for s, lines, took in sections:
            f.write(f"## Suite `{s}`{' (smoke)' if a.smoke else ''}\n\n_{took:.0f} s._ ")
            f.write("\n".join(lines) + "\n")
            if ctx.commands and s == "resolver":
                f.write("dnsperf commands (max runs; the 50 % runs add `-Q <half of max> -v`):\n\n```sh\n")
                f.write("\n".join(sorted(ctx.commands)) + "\n```\n\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""The network-testbed suites of benches/bench.py: `loss`, `client-failover` and `flap`.

Each builds a netlab.Testbed (namespaces zone / carrier / region joined through wire.py), runs its
measuring code inside the region namespace (a thread that setns(2)-es into it, so bench.py's
helpers — the lab resolver on 127.0.0.1, boto3, dnspython, /metrics — work unchanged there), and
starts the processes of the other namespaces with `ip netns exec`. `b` is the bench module.
"""

import ctypes
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import dns.edns
import dns.exception
import dns.message
import dns.query

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netlab  # noqa: E402

CLONE_NEWNET = 0x40000000
PORT = 4000  # every target's UDP (and TCP, for ifportup) port
REGION_DNS = netlab.addr("region", 1)  # the lab resolver, for unbound in the carrier namespace
UNBOUND = netlab.addr("carrier", 1)
CARRIER_DELAY = {"delay_ms": 50, "jitter_ms": 20}
# The loss suite's bursty setting: the link is down for this long on average (wire.py's outage_ms).
OUTAGE_MS = 200
EVERY_LINK_DELAYED = {link: CARRIER_DELAY for link in netlab.LINKS}


def in_namespace(ns, fn, *args):
    """Runs fn(*args) in a thread whose network namespace is `ns` (processes it starts inherit it)."""
    out = {}

    def body():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                out["e"] = OSError(ctypes.get_errno(), f"setns into {ns}")
                return
        finally:
            os.close(fd)
        try:
            out["v"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            out["e"] = e

    t = threading.Thread(target=body, name=f"in-{ns}")
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out.get("v")


def skip_reason():
    why = netlab.unavailable()
    if why:
        print(f"!!!!! SKIPPED netlab suites: network namespaces cannot be made here ({why}) !!!!!", flush=True)
    return why


def targets(tb, b, first, count, tcp=False):
    """A UDP echo process in the zone namespace serving targets first … first+count-1."""
    p = b.PROCS.start(tb.argv("zone", [sys.executable, str(b.HERE / "echo.py"), netlab.target_addr(first),
                                      str(PORT), str(count)] + (["--tcp"] if tcp else [])),
                      stdout=subprocess.PIPE, text=True)
    b.read_line(p, want="ready")
    return p


def health_cfg(ctx, b, name, api_url, interval, variant, pool="www.lab.test", timeout=0.4, extra=""):
    """A health configuration for the testbed: probes at `interval`, fall 3, rise 2; `variant` is
    "wavelb" (the defaults: resends, fast interval, re-admission back-off) or "plain" (today's
    fall = 3 prober before them: one datagram per probe, one pace, no back-off)."""
    knobs = {
        "wavelb": "",
        "plain": 'fast_interval = "{iv}ms"\nreadmit_backoff = "0s"'.format(iv=int(interval * 1000)),
    }[variant]
    path = ctx.wavelb.health_config(name, api_url, PORT, interval, pool=pool,
                                    extra=f'probe_via = "published"\nmax_quarantined_fraction = 0.5\n{knobs}\n{extra}')
    text = path.read_text().replace(f'timeout = "{int(min(0.5, interval * 0.75) * 1000)}ms"',
                                    f'timeout = "{int(timeout * 1000)}ms"')
    if variant == "plain":
        text += "retransmit = 0\n"
    path.write_text(text)
    return path


def metrics_url(ctx, b, name):
    log_file = ctx.work / f"{name}.log"
    m = b.poll("the health metrics address", 60,
                    lambda: re.search(r'"metrics"\s*:\s*"([^"]+)"', log_file.read_text(errors="replace")))
    return f"http://{m.group(1)}/metrics"


def samples(url, name):
    """{labels text: value} of every sample of `name`."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(None, 1)
            out[key] = float(value)
    return out


def healthy_targets(url):
    return {k.split('target="')[1].split('"')[0]: v for k, v in samples(url, "wavelb_target_healthy").items()}


# ---------------------------------------------------------------------------- loss

def suite_loss(ctx, b):
    if skip_reason():
        return ["**SKIPPED**: network namespaces cannot be made on this machine (see the run's log).", ""]
    # 240 targets at 5 Hz for 170 s: 204 000 probe slots per prober and setting. 5 Hz, not 10: with
    # 100 ms ± 28 ms round trips, a 100 ms interval would have probes overrun their slots.
    n = 20 if ctx.smoke else 240
    run_s = 6 if ctx.smoke else 170
    min_probes = 0 if ctx.smoke else 200_000
    interval = 0.2
    victims = 2 if ctx.smoke else 10
    # (loss each way, mean outage ms): 0 = independent per packet; else the loss comes as outages
    # of the whole link (every target at once), the way a carrier network's blips come.
    settings = [(0.05, 0)] if ctx.smoke else [(0.0, 0), (0.01, 0), (0.05, 0), (0.20, 0), (0.05, OUTAGE_MS)]
    out = [f"{n} UDP echo targets in the testbed's zone namespace; two `wavelb health` processes in the region "
           f"namespace probe all of them at {int(1 / interval)} Hz (interval {int(interval * 1000)} ms, timeout "
           f"500 ms, fall 3, rise 2) for {run_s} s per setting, longer (up to {2 * run_s} s) until each prober "
           f"completed {min_probes:,} probes, through the wire (benches/netlab/wire.py: the "
           f"userspace netem) with the loss shown **each way** and 50 ms ± 20 ms delay each way. Loss is "
           f"independent per packet, except *in outages*: the zone–region link is down for exponentially "
           f"distributed periods of mean {OUTAGE_MS} ms (each way, every target at once), up long enough "
           f"between them for the loss shown. *wavelb* = the "
           f"defaults (`retransmit = 3`, `fast_interval` = interval / 4 → its 100 ms floor, re-admission back-off); "
           f"*plain* = `retransmit = 0`, one pace, no back-off: the fall = 3 prober wavelb had before. Both "
           f"watch the same targets in the same run (two pools of the lab resolver). *False quarantines* = down "
           f"verdicts of targets that never died, per 10 000 probes. Then {victims} targets are killed (their echo "
           f"process, SIGKILL) at random moments; *detection* = kill → the target's verdict unhealthy (its "
           f"`wavelb_target_healthy` gauge, read every 50 ms).", "",
           f"*PowerDNS ifportup* = the peer: a LUA record over the same targets (`selector='all'`), TCP connect "
           f"checks every second (`lua-health-checks-interval=1`, its fastest); its probes are counted as one "
           f"per address and second, and a *false quarantine* is a live address dropping out of its answer "
           f"(read every 500 ms).", "",
           "| loss each way | prober | probes | false quarantines | per 10 000 probes | resends | detection p50 / p99 s | goal |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    lossless_p99 = {}
    with netlab.Testbed(ctx.work / "netlab-loss", targets=n) as tb:
        for loss, outage_ms in settings:
            tb.impair({"region-zone": {"loss": loss, "outage_ms": outage_ms, **CARRIER_DELAY}},
                      seed=int(loss * 1000) + outage_ms + 1)
            rows = in_namespace(tb.ns["region"], loss_setting, ctx, b, tb, n, victims, interval, run_s,
                                min_probes, loss, outage_ms)
            label = f"{loss:.0%}" + (f" in outages (mean {outage_ms} ms)" if outage_ms else "")
            for variant, r in rows.items():
                per = 10_000 * r["false"] / max(1, r["probes"])
                goal = ""
                if variant == "wavelb" and loss == 0.05 and not outage_ms:
                    goal = f"0 false: **{'met' if r['false'] == 0 else 'MISSED'}**"
                    base = lossless_p99.get(variant)
                    if base:
                        ok = r["p99"] <= 1.2 * base
                        goal += f"; p99 ≤ 1.2 × lossless ({base:.2f} s): **{'met' if ok else 'MISSED'}**"
                if variant == "wavelb" and loss == 0.20 and not outage_ms:
                    goal = f"< 1 per 10 000: **{'met' if per < 1 else 'MISSED'}**"
                if loss == 0.0:
                    lossless_p99[variant] = r["p99"]
                out.append(f"| {label} | {variant} | {r['probes']:,} | {r['false']} | {per:.2f} | {r['resent']:,} "
                           f"| {r['p50']:.2f} / {r['p99']:.2f} | {goal} |")
                b.log(f"loss {label} {variant}: probes {r['probes']} false {r['false']} resent {r['resent']} "
                      f"detection p50 {r['p50']:.2f} p99 {r['p99']:.2f}")
    out.append("")
    return out


PDNS_ZONE = """$ORIGIN lab.test.
$TTL 30
@    3600 IN SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 30
@    3600 IN NS  ns.lab.test.
ns   3600 IN A   127.0.0.1
up   30   IN LUA A "ifportup({port}, {{{addrs}}}, {{selector='all'}})"
"""


def pdns_up(port):
    """The addresses PowerDNS's ifportup record names now, asked over TCP: 240 A records do not
    fit a UDP answer, and a truncated one would look like exclusions. None on a failed query."""
    try:
        r = dns.query.tcp(dns.message.make_query("up.lab.test", "A"), "127.0.0.1", port=port, timeout=2)
    except (dns.exception.DNSException, OSError):
        return None
    return {rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == 1}


def start_pdns(ctx, b, name, n):
    """PowerDNS with one LUA record: ifportup over the n targets, every address that answers
    (selector all), checked every second (its fastest). None when pdns_server is missing."""
    if not shutil.which("pdns_server"):
        print("!!!!! SKIPPED PEER pdns-ifportup (loss): pdns_server not installed !!!!!", flush=True)
        return None, None
    port = b.free_port()
    d = ctx.work / f"{name}-{port}"
    d.mkdir()
    b.fill(b.PEERS / "pdns.conf", d / "pdns.conf", port=port, dir=d, peers=b.PEERS)
    with open(d / "pdns.conf", "a") as f:
        f.write("lua-health-checks-interval=1\n")
    addrs = ",".join(f"'{netlab.target_addr(i)}'" for i in range(n))
    (d / "lab.test.zone").write_text(PDNS_ZONE.format(port=PORT, addrs=addrs))
    (d / "named.conf").write_text(f'zone "lab.test" {{ type master; file "{d / "lab.test.zone"}"; }};\n')
    p = b.PROCS.start(["pdns_server", f"--config-dir={d}"], log_path=d / "server.log")
    b.poll("pdns to answer", 20, lambda: p.poll() is None and pdns_up(port))
    return p, port


def loss_setting(ctx, b, tb, n, victims, interval, run_s, min_probes, loss, outage_ms):
    """One loss setting, inside the region namespace: both variants, and PowerDNS ifportup,
    on the same targets."""
    res = ctx.wavelb.resolver(core=None)
    api = res.info["api_url"]
    alive = targets(tb, b, 0, n - victims, tcp=True)
    dying = [targets(tb, b, n - victims + i, 1, tcp=True) for i in range(victims)]
    pdns, pdns_port = start_pdns(ctx, b, f"pdns-loss-{int(loss * 100)}-{outage_ms}", n)
    variants = ["wavelb", "plain"]
    urls = {}
    procs = []
    # Route 53 allows at most 100 weighted sets per name and type; smoke runs use two pools too.
    per_pool = 12 if ctx.smoke else 80
    for v in variants:
        pools = [f"{v}{k}.lab.test" for k in range((n + per_pool - 1) // per_pool)]
        for k, pool in enumerate(pools):
            b.Wavelb.register(api, [(f"t{i}", netlab.target_addr(i), 10)
                                    for i in range(k * per_pool, min(n, (k + 1) * per_pool))], pool=pool)
        name = f"loss-{int(loss * 100)}-{outage_ms}-{v}"
        cfg = health_cfg(ctx, b, name, api, interval, v, pool=pools[0], timeout=0.5)
        one = cfg.read_text().split("[route53]")[0]
        sections = "".join(one.replace("[pool]", "[[pool]]").replace(f'name = "{pools[0]}"', f'name = "{pool}"')
                           for pool in pools)
        cfg.write_text(sections + "[route53]" + cfg.read_text().split("[route53]", 1)[1])
        procs.append(ctx.wavelb.health(cfg, name=name))
        urls[v] = metrics_url(ctx, b, name)
    for v in variants:
        b.poll(f"{v}: every target with a verdict", 60,
                    lambda v=v: len([x for x in healthy_targets(urls[v]).values() if x != -1]) >= n, every=0.5)

    def counters(url):
        down = sum(v for k, v in samples(url, "wavelb_health_transitions_total").items() if 'direction="down"' in k)
        probes = sum(samples(url, "wavelb_probe_duration_seconds_count").values())
        resent = sum(samples(url, "wavelb_probe_resent_total").values())
        return down, probes, resent
    before = {v: counters(urls[v]) for v in variants}
    # The window. PowerDNS has no per-target counters: its answer (every address it believes up)
    # is read every 500 ms, and each address that drops out of it counts as one exclusion.
    # It lasts run_s, and longer (up to 2 × run_s) until each prober completed min_probes: lost and
    # resent probes outlast their slot, so fewer complete per second at high loss.
    t0, present, pdns_out, checked = time.monotonic(), None, 0, time.monotonic()
    probes = {v: 0 for v in variants}
    while time.monotonic() - t0 < run_s or (min(probes.values()) < min_probes and time.monotonic() - t0 < 2 * run_s):
        if pdns is not None:
            now = pdns_up(pdns_port) or set()
            if now and present is not None:
                pdns_out += len(present - now)
            present = now or present
        if time.monotonic() - checked >= 10:
            checked = time.monotonic()
            probes = {v: counters(urls[v])[1] - before[v][1] for v in variants}
        time.sleep(0.5)
    pdns_window = time.monotonic() - t0
    after = {v: counters(urls[v]) for v in variants}
    # Kills, one at a time, each at a random moment; detection read from each prober's gauge.
    detections = {v: [] for v in [*variants, "pdns"]}
    for i, p in enumerate(dying):
        target, addr = f"t{n - victims + i}", netlab.target_addr(n - victims + i)
        time.sleep(random.uniform(0, 1))  # the kill's moment in the probe cycle, not a synchronisation
        t_kill = time.monotonic()
        b.PROCS.stop(p, signal.SIGKILL)
        pending = set(variants) | ({"pdns"} if pdns is not None else set())
        while pending and time.monotonic() - t_kill < 30:
            for v in list(pending):
                if v == "pdns":
                    gone = addr not in (pdns_up(pdns_port) or {addr})
                else:
                    gone = healthy_targets(urls[v]).get(target) == 0
                if gone:
                    detections[v].append(time.monotonic() - t_kill)
                    pending.discard(v)
            time.sleep(0.05)
        for v in pending:
            detections[v].append(float("inf"))
    final = {v: counters(urls[v]) for v in variants}
    rows = {}
    for v in variants:
        false_downs = after[v][0] - before[v][0]
        # Kills count once each; anything beyond them during the kill phase was a false one too.
        false_downs += max(0, final[v][0] - after[v][0] - victims)
        rows[v] = {"probes": int(final[v][1] - before[v][1]), "false": int(false_downs),
                   "resent": int(final[v][2] - before[v][2]),
                   "p50": b.pct(detections[v], 50), "p99": b.pct(detections[v], 99)}
        # Smoke runs exist so that the testbed cannot rot: fail on what only a broken one shows.
        if rows[v]["probes"] < n * run_s / interval / 4 or float("inf") in detections[v]:
            raise RuntimeError(f"{v} at {loss:.0%} loss: {rows[v]['probes']} probes in {run_s} s, detections "
                               f"{detections[v]}: the testbed or the prober is broken")
    if loss > 0 and rows["wavelb"]["resent"] == 0:
        raise RuntimeError(f"no resend at {loss:.0%} loss: the wire does not drop packets")
    if pdns is not None:
        checks = (n - victims) * pdns_window  # one TCP check per address and second
        rows["PowerDNS ifportup (TCP, 1 s)"] = {
            "probes": int(checks), "false": pdns_out, "resent": 0,
            "p50": b.pct(detections["pdns"], 50), "p99": b.pct(detections["pdns"], 99)}
    for p in [*procs, alive, res, *([pdns] if pdns else [])]:
        b.PROCS.stop(p)
    return rows


# ---------------------------------------------------------------------------- client-failover

UNBOUND_CONF = """server:
    interface: {unbound}
    port: 53
    access-control: 10.77.2.0/24 allow
    do-ip6: no
    chroot: ""
    username: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    do-not-query-localhost: no
    domain-insecure: "lab.test"
    # unbound answers test. itself (RFC 6761 special-use, NXDOMAIN) unless told not to.
    local-zone: "test." nodefault
    module-config: "iterator"
    prefetch: no
    serve-expired: no
stub-zone:
    name: "lab.test"
    stub-addr: {region}@53
"""


# EDNS Client Subnet (RFC 7871) towards the lab resolver: unbound's subnetcache module sends each
# client's /24 and caches answers per the scope the authoritative server returns.
UNBOUND_ECS = """    module-config: "subnetcache iterator"
    send-client-subnet: {region}
    max-client-subnet-ipv4: 24
    access-control: {clients} allow
"""


def start_unbound(ctx, b, tb, name, ecs=False):
    if not shutil.which("unbound"):
        raise RuntimeError("unbound is not installed (Debian package unbound; benches/run.sh installs it)")
    d = ctx.work / name
    d.mkdir(exist_ok=True)
    conf = d / "unbound.conf"
    text = UNBOUND_CONF.format(unbound=UNBOUND, dir=d, region=REGION_DNS)
    if ecs:
        text = text.replace('    module-config: "iterator"\n', UNBOUND_ECS.format(region=REGION_DNS, clients=CLIENTS_NET))
    conf.write_text(text)
    p = b.PROCS.start(tb.argv("carrier", ["unbound", "-d", "-c", str(conf)]), log_path=d / "unbound.log")
    return p


CLIENT = r"""
# Clients behind the caching resolver: they query all the time (so the cache is in its steady
# state, refreshed by their own queries). On a stdin line "wait SECONDS" they print "cached" once
# their newest answer names a victim; on each stdin line "T_KILL TAIL" they report, once the
# victims (a comma-separated list of addresses) have been absent for TAIL seconds after T_KILL, when it was last seen and the first answer
# after that (time.monotonic(): one clock for every process on this machine).
import json, sys, threading, time, dns.message, dns.query
server, name, victims, rate = sys.argv[1], sys.argv[2], set(sys.argv[3].split(",")), float(sys.argv[4])
source = sys.argv[5] if len(sys.argv) > 5 else None  # the clients' own address, when not the default
answers = []  # (t, victim named)
lock = threading.Lock()

def ask():
    while True:
        t = time.monotonic()
        try:
            r = dns.query.udp(dns.message.make_query(name, "A"), server, port=53, timeout=1, source=source)
            ips = [rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == 1]
            if ips:  # an empty answer (NXDOMAIN, SERVFAIL) is no answer
                with lock:
                    answers.append((t, bool(victims.intersection(ips))))
                    del answers[:-20000]
        except Exception:
            pass
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - t)))

threading.Thread(target=ask, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    if line.startswith("wait"):
        # "wait SECONDS": until the newest answer (under 200 ms old) names a victim.
        deadline = time.monotonic() + float(line.split()[1])
        state = "timeout"
        while time.monotonic() < deadline:
            with lock:
                newest = answers[-1] if answers else None
            if newest and newest[1] and time.monotonic() - newest[0] < 0.2:
                state = "cached"
                break
            time.sleep(0.01)
        print(state, flush=True)
        continue
    t_kill, tail = map(float, line.split())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with lock:
            after = [a for a in answers if a[0] >= t_kill]
        last = max((t for t, named in after if named), default=None)
        if after and after[-1][0] - (last if last is not None else t_kill) >= tail:
            break
        time.sleep(0.05)
    first = next((t for t, named in after if not named and (last is None or t > last)), None)
    print(json.dumps({"last_seen": last, "first_absent": first, "queries": len(after)}), flush=True)
"""


def suite_client_failover(ctx, b):
    if skip_reason():
        return ["**SKIPPED**: network namespaces cannot be made on this machine (see the run's log).", ""]
    grid = [(5, 0.2, 1)] if ctx.smoke else [(5, 0.2, 8), (5, 1.0, 8), (30, 0.2, 4), (30, 1.0, 4)]
    out = [f"Clients in the carrier namespace ask a real caching resolver (unbound, stub zone `lab.test` → the "
           f"lab resolver in the region namespace) for `www.lab.test` at 20 queries/s, all the time (unbound's cache is refreshed by their own "
           f"queries, its steady state); four UDP echo targets "
           f"(weights 10/20/30/40) in the zone namespace; `wavelb health` (defaults, fall 3, rise 2) in the region "
           f"namespace; 50 ms ± 20 ms delay each way on every link, no loss. The 40-weight target's process is "
           f"killed while unbound's cached answer names it (the case the TTL costs; a weighted pick caches it 40 % "
           f"of the time), at a random point of that answer's TTL. *Clients out* = kill → the first answer (through unbound, cache included) "
           f"after the last one naming the victim, confirmed by the victim's absence for TTL + 2 s. *Detection* = "
           f"kill → its quarantine in the lab resolver (its weight 0 in the API). Goal: clients-out p99 ≤ detection "
           f"p99 + TTL + 1 s.", "",
           "| TTL | interval | trials | detection p50 / p99 s | clients out p50 / p99 s | goal |",
           "| ---: | ---: | ---: | ---: | ---: | --- |"]
    with netlab.Testbed(ctx.work / "netlab-failover", targets=4, links=EVERY_LINK_DELAYED) as tb:
        for ttl, interval, trials in grid:
            r = in_namespace(tb.ns["region"], failover_cell, ctx, b, tb, ttl, interval, trials)
            ok = r["out_p99"] <= r["det_p99"] + ttl + 1
            out.append(f"| {ttl} s | {int(interval * 1000)} ms | {trials} | {r['det_p50']:.2f} / {r['det_p99']:.2f} "
                       f"| {r['out_p50']:.2f} / {r['out_p99']:.2f} | ≤ {r['det_p99'] + ttl + 1:.1f} s: "
                       f"**{'met' if ok else 'MISSED'}** |")
    out += ["| any | EventBridge design (the AWS blog) | — | never: records change only when the instance's state "
            "changes, so a crashed process keeps its record | never | anchor |", ""]
    return out


def start_clients(b, tb, name, victims, source=None):
    """The CLIENT process in the carrier namespace: 20 queries/s for `name` through unbound, from
    `source` (default: the namespace's own address); `victims` = comma-separated addresses."""
    argv = [sys.executable, "-c", CLIENT, UNBOUND, name, victims, "20"] + ([source] if source else [])
    client = b.PROCS.start(tb.argv("carrier", argv), stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    b.read_line(client, want="ready")
    return client


def kill_and_watch(b, client, proc, ttl, victim, detected, what):
    """One trial: after one TTL for unbound's cache to settle with the victim in rotation, a random
    moment into the next TTL, and then while the answer unbound gives the clients names the victim
    (the case the TTL costs), SIGKILL `proc`. Returns (kill → `detected()`, kill → the clients'
    first answer after the last one naming the victim, the clients' report)."""
    time.sleep(ttl + random.uniform(0, ttl))  # the kill's moment, not a synchronisation
    client.stdin.write(f"wait {10 * ttl + 30}\n")
    client.stdin.flush()
    if b.read_line(client, deadline_s=10 * ttl + 40).strip() != "cached":
        raise RuntimeError(f"unbound never gave the clients {victim} within {10 * ttl + 30} s")
    t_kill = time.monotonic()
    b.PROCS.stop(proc, signal.SIGKILL)
    client.stdin.write(f"{t_kill} {ttl + 2}\n")
    client.stdin.flush()
    det = b.poll(what, 60, lambda: detected() and time.monotonic(), every=0.05) - t_kill
    seen = json.loads(b.read_line(client, deadline_s=ttl + 90))
    if seen["queries"] == 0:
        raise RuntimeError("unbound gave the clients no address at all: see its log and configuration")
    if seen["first_absent"] is None:
        raise RuntimeError(f"the clients never stopped getting {victim}")
    # The start of the absence that lasted: the first answer after the last one naming it.
    return det, max(0.0, seen["first_absent"] - t_kill), seen


def failover_cell(ctx, b, tb, ttl, interval, trials):
    weights = {netlab.target_addr(i): w for i, w in enumerate((10, 20, 30, 40))}
    victim = netlab.target_addr(3)
    res = ctx.wavelb.resolver(core=None, extra=["--dns-listen", f"{REGION_DNS}:53"])
    api = res.info["api_url"]
    b.Wavelb.register(api, [(f"t{i}", a, w) for i, (a, w) in enumerate(weights.items())], ttl=ttl)
    others = targets(tb, b, 0, 3)
    proc = targets(tb, b, 3, 1)
    name = f"failover-{ttl}-{int(interval * 1000)}"
    # Every trial kills and restarts the victim: the re-admission back-off would hold it out longer
    # each time (that is the flap suite's subject), so it is off here.
    h = ctx.wavelb.health(health_cfg(ctx, b, name, api, interval, "wavelb", timeout=min(0.4, interval * 0.75),
                                     extra='readmit_backoff = "0s"'), name=name)
    url = metrics_url(ctx, b, name)
    unbound = start_unbound(ctx, b, tb, f"unbound-{name}")
    client = start_clients(b, tb, "www.lab.test", victim)
    r53 = b.Wavelb.r53(api)
    zone = next(z["Id"] for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "lab.test.")

    def victim_weight():
        sets = r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName="www.lab.test.")["ResourceRecordSets"]
        return next((s.get("Weight") for s in sets if s["Type"] == "A" and s["ResourceRecords"][0]["Value"] == victim),
                    None)
    dets, outs = [], []
    for trial in range(trials):
        b.poll("the victim healthy and weighted", 60,
                    lambda: healthy_targets(url).get("t3") == 1 and victim_weight() == 40, every=0.2)
        det, out_s, seen = kill_and_watch(b, client, proc, ttl, victim,
                                          lambda: victim_weight() == 0, "the victim's quarantine")
        dets.append(det)
        outs.append(out_s)
        cached = seen["last_seen"] is not None
        b.log(f"client-failover ttl={ttl} interval={interval} trial {trial + 1}: detection {det:.2f}s clients out "
              f"{out_s:.2f}s ({seen['queries']} answers; the victim {'was' if cached else 'was not'} in the cache)")
        proc = targets(tb, b, 3, 1)
    for p in (client, unbound, h, proc, *[others], res):
        b.PROCS.stop(p)
    return {"det_p50": b.pct(dets, 50), "det_p99": b.pct(dets, 99),
            "out_p50": b.pct(outs, 50), "out_p99": b.pct(outs, 99)}


# ---------------------------------------------------------------------------- flap

def suite_flap(ctx, b):
    if skip_reason():
        return ["**SKIPPED**: network namespaces cannot be made on this machine (see the run's log).", ""]
    run_s = 8 if ctx.smoke else 120
    period = 3.0
    out = [f"Four UDP echo targets (weights 10/20/30/40); the 40-weight one alternates {period:.0f} s up, "
           f"{period:.0f} s down (its echo process started and killed) for {run_s} s. `wavelb health` (interval "
           f"200 ms, fall 3, rise 2) in the region namespace, 50 ms ± 20 ms delay each way on every link. A client "
           f"asks the lab resolver directly (no cache) at 50 queries/s. *Sent to it while down* = the share of the "
           f"answers given while its process was down that named it; *in rotation while up* = the same while it "
           f"was up (what the back-off costs).", "",
           "| re-admission back-off | answers while down | sent to it while down | answers while up | in rotation while up |",
           "| --- | ---: | ---: | ---: | ---: |"]
    with netlab.Testbed(ctx.work / "netlab-flap", targets=4, links=EVERY_LINK_DELAYED) as tb:
        for label, backoff in (("on (10 s, doubling, ≤ 5 min)", '"10s"'), ("off", '"0s"')):
            r = in_namespace(tb.ns["region"], flap_cell, ctx, b, tb, backoff, run_s, period)
            out.append(f"| {label} | {r['down_n']} | {r['down_share']:.1%} | {r['up_n']} | {r['up_share']:.1%} |")
            b.log(f"flap backoff={backoff}: down {r['down_share']:.1%} of {r['down_n']}, up {r['up_share']:.1%} of {r['up_n']}")
    out.append("")
    return out


def flap_cell(ctx, b, tb, backoff, run_s, period):
    weights = {netlab.target_addr(i): w for i, w in enumerate((10, 20, 30, 40))}
    victim = netlab.target_addr(3)
    res = ctx.wavelb.resolver(core=None)
    api = res.info["api_url"]
    b.Wavelb.register(api, [(f"t{i}", a, w) for i, (a, w) in enumerate(weights.items())], ttl=5)
    others = targets(tb, b, 0, 3)
    proc = targets(tb, b, 3, 1)
    name = "flap-" + backoff.strip('"')
    h = ctx.wavelb.health(health_cfg(ctx, b, name, api, 0.2, "wavelb", timeout=0.15,
                                     extra=f"readmit_backoff = {backoff}"), name=name)
    url = metrics_url(ctx, b, name)
    b.poll("every target healthy", 30, lambda: sum(v == 1 for v in healthy_targets(url).values()) == 4)
    up, t0, switch = True, time.monotonic(), time.monotonic() + period
    counts = {True: [0, 0], False: [0, 0]}  # up/down → [answers, naming the victim]
    while time.monotonic() - t0 < run_s:
        now = time.monotonic()
        if now >= switch:
            if up:
                b.PROCS.stop(proc, signal.SIGKILL)
            else:
                proc = targets(tb, b, 3, 1)
            up, switch = not up, switch + period
        try:
            r = dns.query.udp(dns.message.make_query("www.lab.test", "A"), "127.0.0.1", port=res.dns_port, timeout=0.5)
            ips = [rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == 1]
            counts[up][0] += 1
            counts[up][1] += victim in ips
        except Exception:  # noqa: BLE001 - a lost query is not an answer
            pass
        time.sleep(max(0.0, 0.02 - (time.monotonic() - now)))
    for p in (h, proc, others, res):
        b.PROCS.stop(p)
    return {"down_n": counts[False][0], "down_share": counts[False][1] / max(1, counts[False][0]),
            "up_n": counts[True][0], "up_share": counts[True][1] / max(1, counts[True][0])}


# ---------------------------------------------------------------------------- zone-failover

ZONES = {"bos": (0, (42.36, -71.06)), "nyc": (2, (40.71, -74.01))}  # first target, coordinates
CLIENTS_NET = "10.77.20.0/24"  # the zone-failover clients' subnet (unbound sends it as ECS)
CLIENT_ADDR = "10.77.20.1"


def suite_zone_failover(ctx, b):
    if skip_reason():
        return ["**SKIPPED**: network namespaces cannot be made on this machine (see the run's log).", ""]
    trials = 1 if ctx.smoke else 12
    out = ["Two Wavelength zones behind one name: `edge.lab.test` holds a geoproximity alias per zone (Boston "
           "42.36, −71.06 → `edge.bos.lab.test`; New York 40.71, −74.01 → `edge.nyc.lab.test`), each pool two UDP "
           "echo targets in the zone namespace (TTL 5 s). One `wavelb health` in the region namespace watches both "
           "pools and keeps the tier (`[global]`: min_healthy 1, leave_after 0 s, return_after 5 s; probes every "
           "200 ms, fall 3, rise 2, `readmit_backoff = \"0s\"`: every trial restarts the same targets). The lab resolver's geo table places the clients' subnet (10.77.20.0/24) in Boston "
           "and unbound's own (10.77.2.0/24) in New York, so only the Client Subnet unbound passes on sends its "
           "clients to Boston. "
           "Clients in the carrier namespace ask unbound (subnetcache module: it sends their /24 as EDNS Client "
           "Subnet and caches per scope) for `edge.lab.test` at 20 queries/s; 50 ms ± 20 ms delay each way on every "
           "link. Every Boston target's process is killed at a random moment. *Detection* = kill → Boston's record "
           "gone from the tier (the lab API). *Clients moved* = kill → the first answer after the last Boston "
           "address, confirmed by Boston's absence for TTL + 2 s. Goal: clients moved p99 ≤ detection p99 + TTL + 1 s.",
           "",
           "| trials | detection p50 / p99 s | clients moved p50 / p99 s | trials with Boston cached at the kill | goal |",
           "| ---: | ---: | ---: | ---: | --- |"]
    with netlab.Testbed(ctx.work / "netlab-zones", targets=4, links=EVERY_LINK_DELAYED) as tb:
        r = in_namespace(tb.ns["region"], zone_failover_cell, ctx, b, tb, trials)
    ttl = 5
    ok = r["out_p99"] <= r["det_p99"] + ttl + 1
    out.append(f"| {trials} | {r['det_p50']:.2f} / {r['det_p99']:.2f} | {r['out_p50']:.2f} / {r['out_p99']:.2f} "
               f"| {r['cached']} | ≤ {r['det_p99'] + ttl + 1:.1f} s: **{'met' if ok else 'MISSED'}** |")
    out.append("")
    return out


def tier_config(ctx, b, name, api):
    """`wavelb health` over both zones' pools, with the tier."""
    # Every trial kills and restarts Boston's targets: the re-admission back-off would hold them
    # out longer each time (the flap suite measures that), so it is off here.
    cfg = health_cfg(ctx, b, name, api, 0.2, "wavelb", pool="edge.bos.lab.test", timeout=0.15,
                     extra='readmit_backoff = "0s"')
    text = cfg.read_text()
    one = text.split("[route53]")[0].replace("[pool]", "[[pool]]")
    zones = "".join(f'[[global.zone]]\npool = "edge.{z}.lab.test"\nwavelength_zone = "{z}"\n'
                    f"coordinates = [{lat}, {lon}]\n" for z, (_, (lat, lon)) in ZONES.items())
    tier = f'[global]\nname = "edge.lab.test"\nreturn_after = "5s"\n{zones}\n'
    cfg.write_text(one + one.replace("edge.bos.lab.test", "edge.nyc.lab.test") + tier + "[route53]"
                   + text.split("[route53]", 1)[1])
    return cfg


def zone_failover_cell(ctx, b, tb, trials):
    ttl = 5
    table = ctx.work / "zone-failover-geo.txt"
    # The clients' subnet in Boston; unbound's own (the queries' source address) in New York: only
    # the EDNS Client Subnet unbound passes on can send its clients to Boston.
    table.write_text(f"# the clients, behind unbound\n{CLIENTS_NET} 42.36 -71.06\n"
                     "# unbound itself\n10.77.2.0/24 40.71 -74.01\n")
    res = ctx.wavelb.resolver(core=None, extra=["--dns-listen", f"{REGION_DNS}:53", "--geo-table", str(table)])
    api = res.info["api_url"]
    for z, (first, _) in ZONES.items():
        b.Wavelb.register(api, [(f"t{i}", netlab.target_addr(i), 10) for i in (first, first + 1)], ttl=ttl,
                          pool=f"edge.{z}.lab.test")
    bos = targets(tb, b, 0, 2)
    nyc = targets(tb, b, 2, 2)
    h = ctx.wavelb.health(tier_config(ctx, b, "zone-failover", api), name="zone-failover")
    r53 = b.Wavelb.r53(api)
    zone = next(z["Id"] for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == "lab.test.")

    def in_tier():
        sets = r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName="edge.lab.test.")["ResourceRecordSets"]
        return {s.get("SetIdentifier") for s in sets if s["Name"] == "edge.lab.test." and s["Type"] == "A"}

    def boston_answered():
        # What a Boston client gets straight from the lab resolver (ECS: the clients' subnet).
        q = dns.message.make_query("edge.lab.test", "A")
        q.use_edns(0, options=[dns.edns.ECSOption(CLIENTS_NET.split("/")[0], 24)])
        r = dns.query.udp(q, REGION_DNS, port=53, timeout=1)
        ips = {rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == 1}
        return bool(ips & set(victims.split(",")))

    victims = ",".join(netlab.target_addr(i) for i in (0, 1))
    # Clients start once the tier is published: an answer without it would be cached negatively
    # (for the zone's SOA minimum), which is not what this suite measures.
    b.poll("both zones in the tier", 90, lambda: in_tier() == {"bos", "nyc"} and boston_answered(), every=0.2)
    unbound = start_unbound(ctx, b, tb, "unbound-zones", ecs=True)
    # The clients ask from their own subnet, an address of the carrier namespace's loopback.
    netlab.run(*tb.argv("carrier", ["ip", "link", "set", "lo", "up"]))
    netlab.run(*tb.argv("carrier", ["ip", "addr", "add", f"{CLIENT_ADDR}/32", "dev", "lo"]))
    client = start_clients(b, tb, "edge.lab.test", victims, CLIENT_ADDR)

    dets, outs, cached = [], [], 0
    for trial in range(trials):
        b.poll("both zones in the tier and Boston's clients answered by Boston", 90,
               lambda: in_tier() == {"bos", "nyc"} and boston_answered(), every=0.2)
        det, out_s, seen = kill_and_watch(b, client, bos, ttl, "Boston's addresses",
                                          lambda: "bos" not in in_tier(), "Boston out of the tier")
        dets.append(det)
        outs.append(out_s)
        cached += seen["last_seen"] is not None
        b.log(f"zone-failover trial {trial + 1}: detection {det:.2f}s clients moved {out_s:.2f}s "
              f"({seen['queries']} answers; Boston {'was' if seen['last_seen'] is not None else 'was not'} cached)")
        bos = targets(tb, b, 0, 2)
    for p in (client, unbound, h, bos, nyc, res):
        b.PROCS.stop(p)
    if cached == 0:
        raise RuntimeError("the clients behind unbound never got Boston's addresses: unbound's EDNS Client Subnet "
                           "does not reach the lab resolver (see unbound's configuration and the geo table)")
    return {"det_p50": b.pct(dets, 50), "det_p99": b.pct(dets, 99),
            "out_p50": b.pct(outs, 50), "out_p99": b.pct(outs, 99), "cached": f"{cached} of {trials}"}

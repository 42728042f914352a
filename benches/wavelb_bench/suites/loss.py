"""Suite `loss` (the network testbed): false quarantines, resends and detection of real kills under
loss and delay, wavelb's defaults against the plain fall = 3 prober and PowerDNS `ifportup`."""

import random
import shutil
import signal
import time

import dns.exception
import dns.message
import dns.query

from ..lab import addresses, register, with_pools
from ..netlab.region import CARRIER_DELAY, PORT, health_cfg, in_namespace, skipped, targets
from ..netlab.testbed import Testbed, target_addr
from ..peers import pdns_config
from ..procs import PROCS, free_port, poll
from ..report import log, met, skipped_peer
from ..stats import healthy_targets, pct, samples

# The bursty setting: the link is down for this long on average (wire.py's outage_ms).
OUTAGE_MS = 200


def run(ctx):
    if (section := skipped()) is not None:
        return section
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
    out = [
        f"{n} UDP echo targets in the testbed's zone namespace; two `wavelb health` processes in the region "
        f"namespace probe all of them at {int(1 / interval)} Hz (interval {int(interval * 1000)} ms, timeout "
        f"500 ms, fall 3, rise 2) for {run_s} s per setting, longer (up to {2 * run_s} s) until each prober "
        f"completed {min_probes:,} probes, through the wire (benches/wavelb_bench/netlab/wire.py: the "
        f"userspace netem) with the loss shown **each way** and 50 ms ± 20 ms delay each way. Loss is "
        f"independent per packet, except *in outages*: the zone–region link is down for exponentially "
        f"distributed periods of mean {OUTAGE_MS} ms (each way, every target at once), up long enough "
        f"between them for the loss shown. *wavelb* = the "
        f"defaults (`retransmit = 3`, `fast_interval` = interval / 4 → its 100 ms floor, re-admission back-off); "
        f"*plain* = `retransmit = 0`, one pace, no back-off: the fall = 3 prober wavelb had before. Both "
        f"watch the same targets in the same run (two pools of the lab resolver). *False quarantines* = down "
        f"verdicts of targets that never died, per 10 000 probes. Then {victims} targets are killed (their echo "
        f"process, SIGKILL) at random moments; *detection* = kill → the target's verdict unhealthy (its "
        f"`wavelb_target_healthy` gauge, read every 50 ms).",
        "",
        "*PowerDNS ifportup* = the peer: a LUA record over the same targets (`selector='all'`), TCP connect "
        "checks every second (`lua-health-checks-interval=1`, its fastest); its probes are counted as one "
        "per address and second, and a *false quarantine* is a live address dropping out of its answer "
        "(read every 500 ms).",
        "",
        "| loss each way | prober | probes | false quarantines | per 10 000 probes | resends | "
        "detection p50 / p99 s | goal |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    lossless_p99 = {}
    with Testbed(ctx.work / "netlab-loss", targets=n) as tb:
        for loss, outage_ms in settings:
            tb.impair(
                {"region-zone": {"loss": loss, "outage_ms": outage_ms, **CARRIER_DELAY}},
                seed=int(loss * 1000) + outage_ms + 1,
            )
            rows = in_namespace(
                tb.ns["region"], loss_setting, ctx, tb, n, victims, interval, run_s, min_probes, loss, outage_ms
            )
            label = f"{loss:.0%}" + (f" in outages (mean {outage_ms} ms)" if outage_ms else "")
            for variant, r in rows.items():
                per = 10_000 * r["false"] / max(1, r["probes"])
                goal = ""
                if variant == "wavelb" and loss == 0.05 and not outage_ms:
                    goal = f"0 false: {met(r['false'] == 0)}"
                    base = lossless_p99.get(variant)
                    if base:
                        ok = r["p99"] <= 1.2 * base
                        goal += f"; p99 ≤ 1.2 × lossless ({base:.2f} s): {met(ok)}"
                if variant == "wavelb" and loss == 0.20 and not outage_ms:
                    goal = f"< 1 per 10 000: {met(per < 1)}"
                if loss == 0.0:
                    lossless_p99[variant] = r["p99"]
                out.append(
                    f"| {label} | {variant} | {r['probes']:,} | {r['false']} | {per:.2f} | {r['resent']:,} "
                    f"| {r['p50']:.2f} / {r['p99']:.2f} | {goal} |"
                )
                log(
                    f"loss {label} {variant}: probes {r['probes']} false {r['false']} resent {r['resent']} "
                    f"detection p50 {r['p50']:.2f} p99 {r['p99']:.2f}"
                )
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
    return set(addresses(r))


def start_pdns(ctx, name, n):
    """PowerDNS with one LUA record: ifportup over the n targets, every address that answers
    (selector all), checked every second (its fastest). None when pdns_server is missing."""
    if not shutil.which("pdns_server"):
        skipped_peer("pdns-ifportup (loss)", "pdns_server not installed")
        return None, None
    port = free_port()
    d = ctx.work / f"{name}-{port}"
    d.mkdir()
    addrs = ",".join(f"'{target_addr(i)}'" for i in range(n))
    (d / "lab.test.zone").write_text(PDNS_ZONE.format(port=PORT, addrs=addrs))
    argv = pdns_config(d, port, "lua-health-checks-interval=1\n", d / "lab.test.zone")
    p = PROCS.start(argv, log_path=d / "server.log")
    poll("pdns to answer", 20, lambda: p.poll() is None and pdns_up(port))
    return p, port


def loss_setting(ctx, tb, n, victims, interval, run_s, min_probes, loss, outage_ms):
    """One loss setting, inside the region namespace: both variants, and PowerDNS ifportup,
    on the same targets."""
    res = ctx.wavelb.resolver(core=None)
    api = res.info["api_url"]
    alive = targets(tb, 0, n - victims, tcp=True)
    dying = [targets(tb, n - victims + i, 1, tcp=True) for i in range(victims)]
    pdns, pdns_port = start_pdns(ctx, f"pdns-loss-{int(loss * 100)}-{outage_ms}", n)
    variants = ["wavelb", "plain"]
    urls = {}
    procs = []
    # Route 53 allows at most 100 weighted sets per name and type; smoke runs use two pools too.
    per_pool = 12 if ctx.smoke else 80
    for v in variants:
        pools = [f"{v}{k}.lab.test" for k in range((n + per_pool - 1) // per_pool)]
        for k, pool in enumerate(pools):
            register(
                api, [(f"t{i}", target_addr(i), 10) for i in range(k * per_pool, min(n, (k + 1) * per_pool))], pool=pool
            )
        name = f"loss-{int(loss * 100)}-{outage_ms}-{v}"
        cfg = health_cfg(ctx, name, api, interval, v, pool=pools[0], timeout=0.5)
        cfg.write_text(with_pools(cfg.read_text(), pools))
        procs.append(ctx.wavelb.health(cfg, name=name))
        urls[v] = ctx.wavelb.health_metrics(name)
    for v in variants:
        poll(
            f"{v}: every target with a verdict",
            60,
            lambda v=v: len([x for x in healthy_targets(urls[v]).values() if x != -1]) >= n,
            every=0.5,
        )

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
        target, addr = f"t{n - victims + i}", target_addr(n - victims + i)
        time.sleep(random.uniform(0, 1))  # the kill's moment in the probe cycle, not a synchronisation
        t_kill = time.monotonic()
        PROCS.stop(p, signal.SIGKILL)
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
        rows[v] = {
            "probes": int(final[v][1] - before[v][1]),
            "false": int(false_downs),
            "resent": int(final[v][2] - before[v][2]),
            "p50": pct(detections[v], 50),
            "p99": pct(detections[v], 99),
        }
        # Smoke runs exist so that the testbed cannot rot: fail on what only a broken one shows.
        if rows[v]["probes"] < n * run_s / interval / 4 or float("inf") in detections[v]:
            raise RuntimeError(
                f"{v} at {loss:.0%} loss: {rows[v]['probes']} probes in {run_s} s, detections "
                f"{detections[v]}: the testbed or the prober is broken"
            )
    if loss > 0 and rows["wavelb"]["resent"] == 0:
        raise RuntimeError(f"no resend at {loss:.0%} loss: the wire does not drop packets")
    if pdns is not None:
        checks = (n - victims) * pdns_window  # one TCP check per address and second
        rows["PowerDNS ifportup (TCP, 1 s)"] = {
            "probes": int(checks),
            "false": pdns_out,
            "resent": 0,
            "p50": pct(detections["pdns"], 50),
            "p99": pct(detections["pdns"], 99),
        }
    for p in [*procs, alive, res, *([pdns] if pdns else [])]:
        PROCS.stop(p)
    return rows

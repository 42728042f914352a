"""Suite `prober`: one `wavelb health` process probing 1 000 / 5 000 / 10 000 UDP echo targets at
1 Hz: CPU, RSS, probe p99, missed slots."""

import ipaddress
import os
import time

from ..lab import echo, register, with_pools
from ..procs import LOADGEN_CORE, PROCS, SERVER_CORE, cpu_seconds, free_port, poll, rss_mib
from ..report import log, met
from ..stats import healthy_count, histogram, histogram_p99, metric_sum

PER_POOL = 100  # Route 53 allows at most 100 weighted sets per name and type


def prober_config(wavelb, name, api_url, port, pools):
    """One `wavelb health` configuration watching every pool in `pools` ([[pool]] sections),
    polling each every 30 s (see the suite's text)."""
    path = wavelb.health_config(name, api_url, port, 1.0, extra='lease_ttl = "90s"', pool=pools[0])
    path.write_text(with_pools(path.read_text(), pools).replace('poll_interval = "1s"', 'poll_interval = "30s"'))
    return path


def zone_record_sets(targets, pools):
    """The record sets of `targets` in `pools` in one hosted zone (docs/configuration.md, "Record
    sets per hosted zone"): an address and an ownership TXT per target, a lease per pool, the
    apex SOA and NS."""
    return 2 * targets + pools + 2


def run(ctx):
    sizes = [200] if ctx.smoke else [int(x) for x in os.environ.get("BENCH_PROBER_SIZES", "1000,5000,10000").split(",")]
    window = 3 if ctx.smoke else 20
    out = [
        f"N UDP echo targets (one process, one socket per 127.1.x.y address, one port), registered in the lab "
        f"resolver as N/{PER_POOL} pools of {PER_POOL} (Route 53's limit of weighted sets per name) in one hosted zone "
        f"(2 N + N/{PER_POOL} + 2 record sets: past Route 53's default quota of 10 000 per hosted zone from "
        f"5 000 targets on, so the resolver runs with `--max-record-sets-per-zone` at that count, a quota AWS "
        f'raises on request; docs/configuration.md, "Record sets per hosted zone"), all watched '
        f"by ONE `wavelb health` process (`[[pool]]` sections): udp probes at interval 1 s, poll_interval 30 s "
        f"(each round of each pool is a listing and a lease renewal: at 5 s, 100 pools would ask the API for 40 "
        f"requests/s, eight times Route 53's budget, and the lab resolver's core would be the bottleneck), "
        f"pinned to core {SERVER_CORE}; the echo process and the resolver on core {LOADGEN_CORE}. Measured over "
        f"{window} s once every target has a verdict of healthy (probed at least twice). Missed slots "
        "= N × seconds − probes completed "
        f"(`wavelb_probe_duration_seconds_count`).",
        "",
        "| targets | pools | CPU % of one core | goal ≤ 30 % at 10 000 | RSS MiB | probe p99 ms | probes/s "
        "| missed slots | failures |",
        "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in sizes:
        pools = [f"p{k}.lab.test" for k in range((n + PER_POOL - 1) // PER_POOL)]
        quota = zone_record_sets(n, len(pools))
        # One hosted zone holds them all: a quota AWS raised on request (`--max-record-sets-per-zone`).
        res = ctx.wavelb.resolver(core=LOADGEN_CORE, extra=("--max-record-sets-per-zone", str(max(quota, 10000))))
        log(f"prober n={n}: lab.test holds {quota} record sets (Route 53's default quota: 10000)")
        port = free_port()
        targets = echo("127.1.0.1", port, n, core=LOADGEN_CORE)
        for k, pool in enumerate(pools):
            register(
                res.info["api_url"],
                [
                    (f"t{i}", str(ipaddress.IPv4Address("127.1.0.1") + i), 10)
                    for i in range(k * PER_POOL, min(n, (k + 1) * PER_POOL))
                ],
                pool=pool,
            )
        cfg = prober_config(ctx.wavelb, f"prober-{n}", res.info["api_url"], port, pools)
        h = ctx.wavelb.health(cfg, core=SERVER_CORE, name=f"prober-{n}")
        url = ctx.wavelb.health_metrics(f"prober-{n}")

        def count(url=url):
            return metric_sum(url, "wavelb_probe_duration_seconds_count")

        try:
            poll(f"all {n} targets healthy", 30 + n / 50, lambda n=n, url=url: healthy_count(url) >= n, every=0.5)
        except RuntimeError as e:
            out.append(f"| {n} | {len(pools)} | {e} (probes counted: {count():.0f}) | | | | | | |")
            log(f"prober n={n}: {e}; probes counted {count():.0f}")
            for p in (h, targets, res):
                PROCS.stop(p)
            continue
        c0, p0, f0, b0 = (
            cpu_seconds(h.pid),
            count(),
            metric_sum(url, "wavelb_probe_failures_total"),
            histogram(url, "wavelb_probe_duration_seconds"),
        )
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
        goal = met(used <= 30) if n == 10000 else ""
        out.append(
            f"| {n} | {len(pools)} | {used:.1f} | {goal} | {rss:.0f} | {p99:.2f} "
            f"| {probes / dt:,.0f} | {missed} | {failed:.0f} |"
        )
        log(
            f"prober n={n}: cpu {used:.1f}% rss {rss:.0f} MiB p99 {p99:.2f} ms probes/s "
            f"{probes / dt:.0f} missed {missed}"
            f" (on core {LOADGEN_CORE}: echo process {echo_cpu:.0f} %, resolver {res_cpu:.0f} %)"
        )
        for p in (h, targets, res):
            PROCS.stop(p)
    out.append("")
    return out

"""Suite `flap` (the network testbed): a target up 3 s, down 3 s; the share of answers naming it
while down (and while up), with and without the re-admission back-off."""

import signal
import time

import dns.message
import dns.query

from ..lab import addresses, register_weights
from ..netlab.region import EVERY_LINK_DELAYED, health_cfg, in_namespace, skipped, targets
from ..netlab.testbed import Testbed, target_addr
from ..procs import PROCS, poll
from ..report import log
from ..stats import healthy_count


def run(ctx):
    if (section := skipped()) is not None:
        return section
    run_s = 8 if ctx.smoke else 120
    period = 3.0
    out = [
        f"Four UDP echo targets (weights 10/20/30/40); the 40-weight one alternates {period:.0f} s up, "
        f"{period:.0f} s down (its echo process started and killed) for {run_s} s. `wavelb health` (interval "
        f"200 ms, fall 3, rise 2) in the region namespace, 50 ms ± 20 ms delay each way on every link. A client "
        f"asks the lab resolver directly (no cache) at 50 queries/s. *Sent to it while down* = the share of the "
        f"answers given while its process was down that named it; *in rotation while up* = the same while it "
        f"was up (what the back-off costs).",
        "",
        "| re-admission back-off | answers while down | sent to it while down | answers while up | "
        "in rotation while up |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    with Testbed(ctx.work / "netlab-flap", targets=4, links=EVERY_LINK_DELAYED) as tb:
        for label, backoff in (("on (10 s, doubling, ≤ 5 min)", '"10s"'), ("off", '"0s"')):
            r = in_namespace(tb.ns["region"], flap_cell, ctx, tb, backoff, run_s, period)
            out.append(f"| {label} | {r['down_n']} | {r['down_share']:.1%} | {r['up_n']} | {r['up_share']:.1%} |")
            log(
                f"flap backoff={backoff}: down {r['down_share']:.1%} of {r['down_n']}, up "
                f"{r['up_share']:.1%} of {r['up_n']}"
            )
    out.append("")
    return out


def flap_cell(ctx, tb, backoff, run_s, period):
    weights = {target_addr(i): w for i, w in enumerate((10, 20, 30, 40))}
    victim = target_addr(3)
    res = ctx.wavelb.resolver(core=None)
    api = res.info["api_url"]
    register_weights(api, weights, first=0, ttl=5)
    others = targets(tb, 0, 3)
    proc = targets(tb, 3, 1)
    name = "flap-" + backoff.strip('"')
    h = ctx.wavelb.health(
        health_cfg(ctx, name, api, 0.2, "wavelb", timeout=0.15, extra=f"readmit_backoff = {backoff}"), name=name
    )
    url = ctx.wavelb.health_metrics(name)
    poll("every target healthy", 30, lambda: healthy_count(url) == 4)
    up, t0, switch = True, time.monotonic(), time.monotonic() + period
    counts = {True: [0, 0], False: [0, 0]}  # up/down → [answers, naming the victim]
    while time.monotonic() - t0 < run_s:
        now = time.monotonic()
        if now >= switch:
            if up:
                PROCS.stop(proc, signal.SIGKILL)
            else:
                proc = targets(tb, 3, 1)
            up, switch = not up, switch + period
        try:
            r = dns.query.udp(dns.message.make_query("www.lab.test", "A"), "127.0.0.1", port=res.dns_port, timeout=0.5)
            ips = addresses(r)
            counts[up][0] += 1
            counts[up][1] += victim in ips
        except Exception:  # a lost query is not an answer
            pass
        time.sleep(max(0.0, 0.02 - (time.monotonic() - now)))
    for p in (h, proc, others, res):
        PROCS.stop(p)
    return {
        "down_n": counts[False][0],
        "down_share": counts[False][1] / max(1, counts[False][0]),
        "up_n": counts[True][0],
        "up_share": counts[True][1] / max(1, counts[True][0]),
    }

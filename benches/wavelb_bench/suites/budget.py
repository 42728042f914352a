"""Suite `budget` (issue 25, item 2): the Route 53 requests a fleet spends, counted by the lab
resolver's API (`wavelb_api_requests_total`), beside registry::budget's model for the same fleet."""

import ipaddress
import json
import re
import subprocess
import time

from ..lab import echo, register, tier, with_pools
from ..procs import LOADGEN_CORE, PROCS, SERVER_CORE, free_port, poll, read_line
from ..report import met
from ..stats import api_requests, healthy_count, metric_sum

US_EAST_1_WLZ = ["atl", "bna", "bos", "chi", "clt", "dfw", "dtw", "iah", "mia", "msp", "nyc", "tpa", "was"]


def budget_model(wavelb, cfg, controllers, targets):
    """The controllers' requests/s in registry::budget's model, as `wavelb health --check-config`
    prints it for `cfg` (the listing and renewal lines; the agents' line is left out: no agent runs)."""
    out = subprocess.run(
        [
            wavelb.bin,
            "--config",
            str(cfg),
            "health",
            "--check-config",
            "--controllers",
            str(controllers),
            "--targets-per-pool",
            str(targets),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = re.findall(r": ([0-9.]+)/s (health listings|lease renewals)", out)
    if len(lines) != 2:
        raise RuntimeError(f"no budget lines in --check-config's output: {out}")
    return sum(float(v) for v, _ in lines)


def tier_config(wavelb, name, api_url, port, pools, zones, poll_s, lease):
    """A `wavelb health` configuration over `pools` ([[pool]] sections) with the zone tier
    `edge.lab.test` over `zones` (their Wavelength zone names), `poll_s` and `lease` in seconds."""
    path = wavelb.health_config(name, api_url, port, 1.0, extra=f'lease_ttl = "{lease}s"', pool=pools[0])
    text = with_pools(path.read_text(), pools).replace('poll_interval = "1s"', f'poll_interval = "{poll_s}s"')
    path.write_text(text + tier([(pool, zone, None) for pool, zone in zip(pools, zones, strict=True)]))
    return path


def run(ctx):
    window = 5 if ctx.smoke else 120
    event_s = 5 if ctx.smoke else 40
    settle = 2 if ctx.smoke else 35
    rows = []

    # 1. `wavelb lab --zones 8`: one controller over eight pools of two and the tier.
    lab = PROCS.start(
        [
            ctx.wavelb.bin,
            "lab",
            "--zones",
            "8",
            "--headless",
            "--dns-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--target-port",
            "0",
        ],
        core=SERVER_CORE,
        stdout=subprocess.PIPE,
        text=True,
    )
    info = json.loads(read_line(lab, want="{"))
    url = f"http://{info['metrics']}/metrics"
    poll("the lab's eight zones in the tier", 60, lambda: metric_sum(url, "wavelb_tier_in") >= 8, every=0.5)
    lab_pools = [f"edge.us-east-1-wl1-{z}-wlz-1.lab.test" for z in ("bos", "nyc", "dfw", "atl", "chi")] + [
        f"edge.us-west-2-wl1-{z}-wlz-1.lab.test" for z in ("sfo", "sea", "den")
    ]
    lab_zones = [p.split(".")[1] for p in lab_pools]
    model_cfg = tier_config(ctx.wavelb, "budget-lab-model", info["api_url"], 4000, lab_pools, lab_zones, 5, 15)
    model_cfg.write_text(model_cfg.read_text().replace("[health]", "[health]\nprobe_across_regions = true"))
    model = budget_model(ctx.wavelb, model_cfg, 1, 2)
    time.sleep(settle)  # past the first verdicts' writes, into the steady state; not a synchronisation
    a0, t0 = api_requests(url), time.monotonic()
    time.sleep(window)  # the measurement window itself
    rate = (api_requests(url) - a0) / (time.monotonic() - t0)
    rows.append(
        ("`wavelb lab --zones 8` (8 pools of 2, tier of 8), 1 controller, rounds 5 s, lease 15 s", model, rate, 0.6)
    )
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
        register(api_url, [(f"z{k}-t{i}", str(first + i), 10) for i in range(per_zone)], pool=pool)
    cfg = tier_config(ctx.wavelb, "budget-fleet", api_url, port, pools, zones, 15, 30)
    model2 = budget_model(ctx.wavelb, cfg, 2, per_zone)
    controllers = [ctx.wavelb.health(cfg, core=SERVER_CORE, name=f"budget-{c}") for c in ("a", "b")]
    urls = [ctx.wavelb.health_metrics(f"budget-{c}") for c in ("a", "b")]
    n = per_zone * len(pools)
    poll(f"all {n} targets healthy at both controllers", 120, lambda: all(healthy_count(u) >= n for u in urls), every=1)
    poll("the 13 zones in the tier", 120, lambda: metric_sum(urls[0], "wavelb_tier_in") >= len(pools), every=1)
    time.sleep(settle)  # past the first verdicts' writes and a lease renewal; not a synchronisation
    a0, t0 = api_requests(rurl), time.monotonic()
    time.sleep(window)  # the measurement window itself
    steady = (api_requests(rurl) - a0) / (time.monotonic() - t0)
    rows.append(
        (
            f"13 us-east-1 zones of {per_zone} targets ({n}), tier of 13, 2 controllers, rounds 15 s, lease 30 s",
            model2,
            steady,
            1.5 if per_zone == 100 else None,
        )
    )

    events = []
    leader = max(urls, key=lambda u: metric_sum(u, "wavelb_health_leader"))
    for what, proc, done in (
        ("one target killed (zone 1)", echoes[0], lambda: metric_sum(leader, "wavelb_health_quarantined") >= 1),
        (
            f"zone 2 failed (its {per_zone} targets killed)",
            echoes[2],
            lambda: metric_sum(leader, "wavelb_tier_in") <= len(pools) - 1,
        ),
    ):
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

    out = [
        "Route 53 API requests counted by the lab resolver (`wavelb_api_requests_total`: every operation, every "
        f"caller) in steady state over {window} s, beside registry::budget's model of the same fleet (its listing "
        "and lease-renewal lines, as `wavelb health --check-config --controllers C --targets-per-pool T` prints "
        "them; no agent runs here). UDP echo targets; probes every 1 s, fall 3, rise 2. Route 53 allows 5 "
        "requests/s per account.",
        "",
        "| fleet | model req/s | measured req/s | measured / model | goal | within 10 % of the model |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for what, model_rps, rate, goal in rows:
        ratio = rate / model_rps if model_rps else float("nan")
        goal_text = "" if goal is None else f"≤ {goal}: {met(rate <= goal)}"
        out.append(
            f"| {what} | {model_rps:.3f} | {rate:.3f} | {ratio:.2f} | {goal_text} | "
            f"{'**yes**' if abs(ratio - 1) <= 0.10 else '**NO**'} |"
        )
    out += [
        "",
        f"Through events, two controllers on the 13-zone fleet: requests over a {event_s} s window from the "
        "kill, and above the steady rate.",
        "",
        "| event | effect after s | requests in the window | above steady |",
        "| --- | ---: | ---: | ---: |",
    ]
    for what, took, spent, extra, _ in events:
        out.append(f"| {what} | {took:.1f} | {spent:.0f} | {extra:.1f} |")
    out.append("")
    return out

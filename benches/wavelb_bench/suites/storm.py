"""Suite `storm`: N agent processes registering at once against `--api-rate-limit 5`: time to all
registered against N/5 s, API calls, throttles, lost."""

import os
import signal
import time

from ..lab import agent_config, lab_zone, r53, registered
from ..procs import PROCS, poll
from ..report import log, met
from ..stats import metric_sum

PER_POOL = 100  # Route 53 allows at most 100 weighted sets per name and type


def storm_check(api_url, n):
    """Reads every pool back through the API: the agents whose A and TXT sets are both there,
    active, with the wanted weight (anything else counts as lost)."""
    client = r53(api_url)
    zone = lab_zone(client)
    good = 0
    for k in range((n + PER_POOL - 1) // PER_POOL):
        pool = f"edge{k}.lab.test."
        sets = client.list_resource_record_sets(HostedZoneId=zone, StartRecordName=pool, MaxItems="300")
        sets = sets["ResourceRecordSets"]
        more = client.list_resource_record_sets(HostedZoneId=zone, StartRecordName=f"_wavelb.{pool}", MaxItems="300")
        sets += more["ResourceRecordSets"]
        a = {s["SetIdentifier"] for s in sets if s["Name"] == pool and s["Type"] == "A" and s.get("Weight") == 60}
        txt = {
            s["SetIdentifier"]
            for s in sets
            if s["Name"] == f"_wavelb.{pool}"
            and s["Type"] == "TXT"
            and "state=active" in s["ResourceRecords"][0]["Value"]
        }
        good += len(a & txt)
    return good


def run(ctx):
    sizes = [10] if ctx.smoke else [int(x) for x in os.environ.get("BENCH_STORM_SIZES", "100,300,1000").split(",")]
    out = [
        f'N `wavelb agent` processes (separate processes; static addresses; `startup_jitter = "0s"`, so all '
        f"start at once; the configuration's defaults otherwise: reconcile 300 s, throttled requests retried at "
        f"≤ 3 s) register into pools of {PER_POOL} (`edge<k>.lab.test`; Route 53 allows {PER_POOL} weighted sets per "
        f"name) against `wavelb resolver --api-rate-limit 5`. The agents name the zone by `hosted_zone_id`, so a "
        f"new instance's registration is one API call (a blind CREATE). *All registered* = the resolver's durable "
        f"state file holds N ownership records (read from disk: the poll costs no API calls); *lost* = agents whose "
        f"A and TXT sets are not both there, active, with their weight, read back through the API at the end. "
        f"API calls and throttles from the resolver's /metrics. t = 0 when the first agent is started.",
        "",
        "| N | all registered s | ideal N/5 s | ratio | goal ≤ 1.2× | API requests | of them throttled | "
        "requests per agent | lost | agents exited early |",
        "| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in sizes:
        state = ctx.work / f"storm-{n}"
        state.mkdir()
        res = ctx.wavelb.resolver(extra=["--api-rate-limit", "5", "--state-dir", str(state)], core=None)
        api = res.info["api_url"]
        zone_id = lab_zone(r53(api)).rsplit("/", 1)[-1]
        metrics = f"http://{res.info['metrics']}/metrics"
        calls0, thr0 = (
            metric_sum(metrics, "wavelb_api_requests_total"),
            metric_sum(metrics, "wavelb_api_throttled_total"),
        )
        cfgs = [agent_config(ctx.work, api, i, pool=f"edge{i // PER_POOL}.lab.test", zone_id=zone_id) for i in range(n)]
        t0 = time.monotonic()
        agents = [ctx.wavelb.agent(c) for c in cfgs]
        spawned = time.monotonic() - t0
        limit = 3 * n / 5 + 30
        marks = {}  # fraction registered → seconds, for the log

        def progress(n=n, state=state, t0=t0, marks=marks):
            got = registered(state)
            for f in (0.25, 0.5, 0.75, 0.9):
                if got >= f * n and f not in marks:
                    marks[f] = time.monotonic() - t0
            return got >= n and time.monotonic() - t0

        try:
            took = poll(f"{n} registrations", limit, progress, every=0.1)
        except RuntimeError:
            took = float("nan")
        log(
            f"storm n={n}: all started after {spawned:.1f}s; "
            + ", ".join(f"{int(f * 100)}% at {t:.1f}s" for f, t in sorted(marks.items()))
        )
        calls = metric_sum(metrics, "wavelb_api_requests_total") - calls0
        throttled = metric_sum(metrics, "wavelb_api_throttled_total") - thr0
        early = sum(1 for a in agents if a.poll() is not None)
        for a in agents:
            PROCS.stop(a, signal.SIGKILL)
        good = storm_check(api, n)
        PROCS.stop(res)
        ideal = n / 5
        ratio = took / ideal
        shown = f"{took:.1f}" if took == took else f"not within {limit:.0f} s ({registered(state)} of {n})"
        out.append(
            f"| {n} | {shown} | {ideal:.0f} | {ratio:.2f}× | {met(ratio <= 1.2 and good == n)} "
            f"| {calls:.0f} | {throttled:.0f} | {calls / n:.1f} | {n - good} | {early} |"
        )
        log(
            f"storm n={n}: {took:.1f}s ({ratio:.2f}x), {calls:.0f} calls, {throttled:.0f} throttled, lost {n - good}, "
            f"early exits {early}"
        )
    out.append("")
    return out

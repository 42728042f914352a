"""Suite `client-failover` (the network testbed): kill → every answer a real caching resolver
(unbound) gives its clients excludes the target, cache included, at TTL 5 and 30 s and probe
intervals 200 ms and 1 s."""

from ..lab import lab_zone, r53, register_weights
from ..netlab.region import EVERY_LINK_DELAYED, health_cfg, in_namespace, skipped, targets
from ..netlab.testbed import Testbed, target_addr
from ..netlab.unbound import REGION_DNS, kill_and_watch, start_clients, start_unbound
from ..procs import PROCS, poll
from ..report import log, met
from ..stats import healthy_targets, pct


def run(ctx):
    if (section := skipped()) is not None:
        return section
    grid = [(5, 0.2, 1)] if ctx.smoke else [(5, 0.2, 8), (5, 1.0, 8), (30, 0.2, 4), (30, 1.0, 4)]
    out = [
        "Clients in the carrier namespace ask a real caching resolver (unbound, stub zone `lab.test` → the "
        "lab resolver in the region namespace) for `www.lab.test` at 20 queries/s, all the time "
        "(unbound's cache is refreshed by their own "
        "queries, its steady state); four UDP echo targets "
        "(weights 10/20/30/40) in the zone namespace; `wavelb health` (defaults, fall 3, rise 2) in the region "
        "namespace; 50 ms ± 20 ms delay each way on every link, no loss. The 40-weight target's process is "
        "killed while unbound's cached answer names it (the case the TTL costs; a weighted pick caches it 40 % "
        "of the time), at a random point of that answer's TTL. *Clients out* = kill → the first "
        "answer (through unbound, cache included) "
        "after the last one naming the victim, confirmed by the victim's absence for TTL + 2 s. *Detection* = "
        "kill → its quarantine in the lab resolver (its weight 0 in the API). Goal: clients-out p99 ≤ detection "
        "p99 + TTL + 1 s.",
        "",
        "| TTL | interval | trials | detection p50 / p99 s | clients out p50 / p99 s | goal |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    with Testbed(ctx.work / "netlab-failover", targets=4, links=EVERY_LINK_DELAYED) as tb:
        for ttl, interval, trials in grid:
            r = in_namespace(tb.ns["region"], failover_cell, ctx, tb, ttl, interval, trials)
            ok = r["out_p99"] <= r["det_p99"] + ttl + 1
            out.append(
                f"| {ttl} s | {int(interval * 1000)} ms | {trials} | {r['det_p50']:.2f} / {r['det_p99']:.2f} "
                f"| {r['out_p50']:.2f} / {r['out_p99']:.2f} | ≤ {r['det_p99'] + ttl + 1:.1f} s: "
                f"{met(ok)} |"
            )
    out += [
        "| any | EventBridge design (the AWS blog) | — | never: records change only when the instance's state "
        "changes, so a crashed process keeps its record | never | anchor |",
        "",
    ]
    return out


def failover_cell(ctx, tb, ttl, interval, trials):
    weights = {target_addr(i): w for i, w in enumerate((10, 20, 30, 40))}
    victim = target_addr(3)  # t3
    res = ctx.wavelb.resolver(core=None, extra=["--dns-listen", f"{REGION_DNS}:53"])
    api = res.info["api_url"]
    register_weights(api, weights, first=0, ttl=ttl)
    others = targets(tb, 0, 3)
    proc = targets(tb, 3, 1)
    name = f"failover-{ttl}-{int(interval * 1000)}"
    # Every trial kills and restarts the victim: the re-admission back-off would hold it out longer
    # each time (that is the flap suite's subject), so it is off here.
    h = ctx.wavelb.health(
        health_cfg(
            ctx, name, api, interval, "wavelb", timeout=min(0.4, interval * 0.75), extra='readmit_backoff = "0s"'
        ),
        name=name,
    )
    url = ctx.wavelb.health_metrics(name)
    unbound = start_unbound(ctx, tb, f"unbound-{name}")
    client = start_clients(tb, "www.lab.test", victim)
    client_api = r53(api)
    zone = lab_zone(client_api)

    def victim_weight():
        sets = client_api.list_resource_record_sets(HostedZoneId=zone, StartRecordName="www.lab.test.")[
            "ResourceRecordSets"
        ]
        return next(
            (s.get("Weight") for s in sets if s["Type"] == "A" and s["ResourceRecords"][0]["Value"] == victim), None
        )

    dets, outs = [], []
    for trial in range(trials):
        poll(
            "the victim healthy and weighted",
            60,
            lambda: healthy_targets(url).get("t3") == 1 and victim_weight() == 40,
            every=0.2,
        )
        det, out_s, seen = kill_and_watch(
            client, proc, ttl, victim, lambda: victim_weight() == 0, "the victim's quarantine"
        )
        dets.append(det)
        outs.append(out_s)
        cached = seen["last_seen"] is not None
        log(
            f"client-failover ttl={ttl} interval={interval} trial {trial + 1}: detection {det:.2f}s clients out "
            f"{out_s:.2f}s ({seen['queries']} answers; the victim {'was' if cached else 'was not'} in the cache)"
        )
        proc = targets(tb, 3, 1)
    for p in (client, unbound, h, proc, others, res):
        PROCS.stop(p)
    return {"det_p50": pct(dets, 50), "det_p99": pct(dets, 99), "out_p50": pct(outs, 50), "out_p99": pct(outs, 99)}

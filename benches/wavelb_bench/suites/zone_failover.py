"""Suite `zone-failover` (the network testbed): two zones behind one geoproximity name; every
target of Boston killed → Boston's clients (ECS through unbound's subnetcache) answered by New
York: detection and clients-moved p50/p99."""

import dns.edns
import dns.message
import dns.query

from ..lab import addresses, lab_zone, r53, register, tier, with_pools
from ..netlab import testbed
from ..netlab.region import EVERY_LINK_DELAYED, health_cfg, in_namespace, skipped, targets
from ..netlab.testbed import Testbed, target_addr
from ..netlab.unbound import CLIENTS_NET, REGION_DNS, kill_and_watch, start_clients, start_unbound
from ..procs import PROCS, poll
from ..report import log, met
from ..stats import pct

ZONES = {"bos": (0, (42.36, -71.06)), "nyc": (2, (40.71, -74.01))}  # first target, coordinates


CLIENT_ADDR = "10.77.20.1"


def run(ctx):
    if (section := skipped()) is not None:
        return section
    trials = 1 if ctx.smoke else 12
    out = [
        "Two Wavelength zones behind one name: `edge.lab.test` holds a geoproximity alias per zone (Boston "
        "42.36, −71.06 → `edge.bos.lab.test`; New York 40.71, −74.01 → `edge.nyc.lab.test`), each pool two UDP "
        "echo targets in the zone namespace (TTL 5 s). One `wavelb health` in the region namespace watches both "
        "pools and keeps the tier (`[global]`: min_healthy 1, leave_after 0 s, return_after 5 s; probes every "
        '200 ms, fall 3, rise 2, `readmit_backoff = "0s"`: every trial restarts the same targets). '
        "The lab resolver's geo table places the clients' subnet (10.77.20.0/24) in Boston "
        "and unbound's own (10.77.2.0/24) in New York, so only the Client Subnet unbound passes on sends its "
        "clients to Boston. "
        "Clients in the carrier namespace ask unbound (subnetcache module: it sends their /24 as EDNS Client "
        "Subnet and caches per scope) for `edge.lab.test` at 20 queries/s; 50 ms ± 20 ms delay each way on every "
        "link. Every Boston target's process is killed at a random moment. *Detection* = kill → Boston's record "
        "gone from the tier (the lab API). *Clients moved* = kill → the first answer after the last Boston "
        "address, confirmed by Boston's absence for TTL + 2 s. Goal: clients moved p99 ≤ detection p99 + TTL + 1 s.",
        "",
        "| trials | detection p50 / p99 s | clients moved p50 / p99 s | trials with Boston cached at the kill | goal |",
        "| ---: | ---: | ---: | ---: | --- |",
    ]
    with Testbed(ctx.work / "netlab-zones", targets=4, links=EVERY_LINK_DELAYED) as tb:
        r = in_namespace(tb.ns["region"], zone_failover_cell, ctx, tb, trials)
    ttl = 5
    ok = r["out_p99"] <= r["det_p99"] + ttl + 1
    out.append(
        f"| {trials} | {r['det_p50']:.2f} / {r['det_p99']:.2f} | {r['out_p50']:.2f} / {r['out_p99']:.2f} "
        f"| {r['cached']} | ≤ {r['det_p99'] + ttl + 1:.1f} s: {met(ok)} |"
    )
    out.append("")
    return out


def tier_config(ctx, name, api):
    """`wavelb health` over both zones' pools, with the tier."""
    # Every trial kills and restarts Boston's targets: the re-admission back-off would hold them
    # out longer each time (the flap suite measures that), so it is off here.
    cfg = health_cfg(
        ctx, name, api, 0.2, "wavelb", pool="edge.bos.lab.test", timeout=0.15, extra='readmit_backoff = "0s"'
    )
    pools = [f"edge.{z}.lab.test" for z in ZONES]
    zones = [(pool, z, coordinates) for pool, (z, (_, coordinates)) in zip(pools, ZONES.items(), strict=True)]
    cfg.write_text(with_pools(cfg.read_text(), pools) + tier(zones, 'return_after = "5s"\n'))
    return cfg


def zone_failover_cell(ctx, tb, trials):
    ttl = 5
    table = ctx.work / "zone-failover-geo.txt"
    # The clients' subnet in Boston; unbound's own (the queries' source address) in New York: only
    # the EDNS Client Subnet unbound passes on can send its clients to Boston.
    table.write_text(
        f"# the clients, behind unbound\n{CLIENTS_NET} 42.36 -71.06\n# unbound itself\n10.77.2.0/24 40.71 -74.01\n"
    )
    res = ctx.wavelb.resolver(core=None, extra=["--dns-listen", f"{REGION_DNS}:53", "--geo-table", str(table)])
    api = res.info["api_url"]
    for z, (first, _) in ZONES.items():
        register(api, [(f"t{i}", target_addr(i), 10) for i in (first, first + 1)], ttl=ttl, pool=f"edge.{z}.lab.test")
    bos = targets(tb, 0, 2)
    nyc = targets(tb, 2, 2)
    h = ctx.wavelb.health(tier_config(ctx, "zone-failover", api), name="zone-failover")
    client_api = r53(api)
    zone = lab_zone(client_api)

    def in_tier():
        sets = client_api.list_resource_record_sets(HostedZoneId=zone, StartRecordName="edge.lab.test.")[
            "ResourceRecordSets"
        ]
        return {s.get("SetIdentifier") for s in sets if s["Name"] == "edge.lab.test." and s["Type"] == "A"}

    def boston_answered():
        # What a Boston client gets straight from the lab resolver (ECS: the clients' subnet).
        q = dns.message.make_query("edge.lab.test", "A")
        q.use_edns(0, options=[dns.edns.ECSOption(CLIENTS_NET.split("/")[0], 24)])
        r = dns.query.udp(q, REGION_DNS, port=53, timeout=1)
        ips = set(addresses(r))
        return bool(ips & set(victims.split(",")))

    victims = ",".join(target_addr(i) for i in (0, 1))
    # Clients start once the tier is published: an answer without it would be cached negatively
    # (for the zone's SOA minimum), which is not what this suite measures.
    poll("both zones in the tier", 90, lambda: in_tier() == {"bos", "nyc"} and boston_answered(), every=0.2)
    unbound = start_unbound(ctx, tb, "unbound-zones", ecs=True)
    # The clients ask from their own subnet, an address of the carrier namespace's loopback.
    testbed.run(*tb.argv("carrier", ["ip", "link", "set", "lo", "up"]))
    testbed.run(*tb.argv("carrier", ["ip", "addr", "add", f"{CLIENT_ADDR}/32", "dev", "lo"]))
    client = start_clients(tb, "edge.lab.test", victims, CLIENT_ADDR)

    dets, outs, cached = [], [], 0
    for trial in range(trials):
        poll(
            "both zones in the tier and Boston's clients answered by Boston",
            90,
            lambda: in_tier() == {"bos", "nyc"} and boston_answered(),
            every=0.2,
        )
        det, out_s, seen = kill_and_watch(
            client, bos, ttl, "Boston's addresses", lambda: "bos" not in in_tier(), "Boston out of the tier"
        )
        dets.append(det)
        outs.append(out_s)
        cached += seen["last_seen"] is not None
        log(
            f"zone-failover trial {trial + 1}: detection {det:.2f}s clients moved {out_s:.2f}s "
            f"({seen['queries']} answers; Boston {'was' if seen['last_seen'] is not None else 'was not'} cached)"
        )
        bos = targets(tb, 0, 2)
    for p in (client, unbound, h, bos, nyc, res):
        PROCS.stop(p)
    if cached == 0:
        raise RuntimeError(
            "the clients behind unbound never got Boston's addresses: unbound's EDNS Client Subnet "
            "does not reach the lab resolver (see unbound's configuration and the geo table)"
        )
    return {
        "det_p50": pct(dets, 50),
        "det_p99": pct(dets, 99),
        "out_p50": pct(outs, 50),
        "out_p99": pct(outs, 99),
        "cached": f"{cached} of {trials}",
    }

"""The carrier namespace's caching resolver (unbound, stub zone lab.test → the lab resolver in the
region namespace) and the clients behind it, for the client-failover and zone-failover suites."""

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..procs import PROCS, poll, read_line
from .testbed import addr

REGION_DNS = addr("region", 1)  # the lab resolver, for unbound in the carrier namespace
UNBOUND = addr("carrier", 1)
CLIENTS = Path(__file__).resolve().parent / "clients.py"
CLIENTS_NET = "10.77.20.0/24"  # the zone-failover clients' subnet (unbound sends it as ECS)


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


UNBOUND_ECS = """    module-config: "subnetcache iterator"
    send-client-subnet: {region}
    max-client-subnet-ipv4: 24
    access-control: {clients} allow
"""


def start_unbound(ctx, tb, name, ecs=False):
    """unbound in the carrier namespace (with `ecs`: EDNS Client Subnet towards the lab resolver)."""
    if not shutil.which("unbound"):
        raise RuntimeError("unbound is not installed (Debian package unbound; benches/run.sh installs it)")
    d = ctx.work / name
    d.mkdir(exist_ok=True)
    conf = d / "unbound.conf"
    text = UNBOUND_CONF.format(unbound=UNBOUND, dir=d, region=REGION_DNS)
    if ecs:
        text = text.replace(
            '    module-config: "iterator"\n', UNBOUND_ECS.format(region=REGION_DNS, clients=CLIENTS_NET)
        )
    conf.write_text(text)
    return PROCS.start(tb.argv("carrier", ["unbound", "-d", "-c", str(conf)]), log_path=d / "unbound.log")


def start_clients(tb, name, victims, source=None):
    """The clients (clients.py) in the carrier namespace: 20 queries/s for `name` through unbound, from
    `source` (default: the namespace's own address); `victims` = comma-separated addresses."""
    argv = [sys.executable, str(CLIENTS), UNBOUND, name, victims, "20"] + ([source] if source else [])
    client = PROCS.start(tb.argv("carrier", argv), stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    read_line(client, want="ready")
    return client


def kill_and_watch(client, proc, ttl, victim, detected, what):
    """One trial: after one TTL for unbound's cache to settle with the victim in rotation, a random
    moment into the next TTL, and then while the answer unbound gives the clients names the victim
    (the case the TTL costs), SIGKILL `proc`. Returns (kill → `detected()`, kill → the clients'
    first answer after the last one naming the victim, the clients' report)."""
    time.sleep(ttl + random.uniform(0, ttl))  # the kill's moment, not a synchronisation
    client.stdin.write(f"wait {10 * ttl + 30}\n")
    client.stdin.flush()
    if read_line(client, deadline_s=10 * ttl + 40).strip() != "cached":
        raise RuntimeError(f"unbound never gave the clients {victim} within {10 * ttl + 30} s")
    t_kill = time.monotonic()
    PROCS.stop(proc, signal.SIGKILL)
    client.stdin.write(f"{t_kill} {ttl + 2}\n")
    client.stdin.flush()
    det = poll(what, 60, lambda: detected() and time.monotonic(), every=0.05) - t_kill
    seen = json.loads(read_line(client, deadline_s=ttl + 90))
    if seen["queries"] == 0:
        raise RuntimeError("unbound gave the clients no address at all: see its log and configuration")
    if seen["first_absent"] is None:
        raise RuntimeError(f"the clients never stopped getting {victim}")
    # The start of the absence that lasted: the first answer after the last one naming it.
    return det, max(0.0, seen["first_absent"] - t_kill), seen

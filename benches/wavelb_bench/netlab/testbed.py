"""A network testbed made of Linux network namespaces, for measuring wavelb as carrier networks
treat it: loss, delay and jitter on each link, and clients behind a real caching resolver.

    zone    10.77.1.0/24   the targets (UDP echo servers, one address each from 10.77.1.10)
    carrier 10.77.2.0/24   the clients and their caching resolver (unbound, at 10.77.2.1)
    region  10.77.3.0/24   the lab resolver and the health controller (at 10.77.3.1)
    router                 joins the three over veth pairs; every packet between subnets crosses
                           wire.py, which applies each link's loss, delay and jitter

The namespaces are named after this process (`wl<pid>-zone`, …) and removed on exit, with their
veths; nothing outside them (and loopback inside them) is touched. Needs root and `ip` (iproute2).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WIRE = Path(__file__).resolve().parent / "wire.py"
SIDES = {"zone": 1, "carrier": 2, "region": 3}
TARGET_BASE = 10  # targets are 10.77.1.10, .11, …
LINKS = ("carrier-region", "carrier-zone", "region-zone")


def addr(side, host):
    return f"10.77.{SIDES[side]}.{host}"


def target_addr(i):
    """The address of target i (0-based)."""
    return addr("zone", TARGET_BASE + i)


def run(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip() or r.returncode}")
    return r


def unavailable():
    """Why namespaces cannot be made here (not root, no `ip`, no netns support), or None."""
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN"
    probe = f"wlprobe{os.getpid()}"
    try:
        r = run("ip", "netns", "add", probe, check=False)
    except FileNotFoundError:
        return "`ip` (iproute2) is not installed"
    if r.returncode != 0:
        return f"`ip netns add` failed: {r.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing (the testbed's wire is a TUN device)"
    return None


class Testbed:
    """The namespaces, veths, routes and the wire; `with Testbed(work, targets=N) as tb:`."""

    def __init__(self, work, targets=4, links=None):
        """`targets` addresses in the zone; `links`: the impairment to start with (see impair())."""
        self.work, self.targets, self.links = Path(work), targets, links or {}
        self.tag = f"wl{os.getpid() % 100000}"
        self.ns = {k: f"{self.tag}-{k}" for k in ("router", *SIDES)}
        self.config = self.work / "wire.json"
        self.stats_path = self.work / "wire-stats.json"
        self.wire = None

    # -- lifetime

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()

    def up(self):
        self.work.mkdir(parents=True, exist_ok=True)
        for ns in self.ns.values():
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        router = self.ns["router"]
        for side, n in SIDES.items():
            r_end, s_end = f"{self.tag}{side[0]}r", f"{self.tag}{side[0]}s"
            run(
                "ip",
                "link",
                "add",
                r_end,
                "netns",
                router,
                "type",
                "veth",
                "peer",
                "name",
                s_end,
                "netns",
                self.ns[side],
            )
            # A /32 on the router side: no connected route, so the main table can send the subnet
            # into the wire while table 100 (packets coming out of the wire) sends it to the veth.
            run("ip", "-n", router, "addr", "add", f"{addr(side, 254)}/32", "dev", r_end)
            run("ip", "-n", router, "link", "set", r_end, "up")
            run("ip", "-n", self.ns[side], "addr", "add", f"{addr(side, 1)}/24", "dev", s_end)
            run("ip", "-n", self.ns[side], "link", "set", s_end, "up")
            run("ip", "-n", self.ns[side], "route", "add", "default", "via", addr(side, 254))
            run("ip", "-n", router, "route", "add", f"10.77.{n}.0/24", "dev", r_end, "table", "100")
        if self.targets:
            batch = "".join(f"addr add {target_addr(i)}/24 dev {self.tag}zs\n" for i in range(self.targets))
            r = subprocess.run(
                ["ip", "-n", self.ns["zone"], "-batch", "-"], input=batch, text=True, capture_output=True
            )
            if r.returncode != 0:
                raise RuntimeError(f"cannot add the target addresses: {r.stderr.strip()}")
        for key in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"):
            run("ip", "netns", "exec", router, "sysctl", "-qw", key)
        self.impair(self.links)
        self.wire = subprocess.Popen(
            ["ip", "netns", "exec", router, sys.executable, str(WIRE), str(self.config), str(self.stats_path)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        line = self.wire.stdout.readline()
        if "ready" not in line:
            raise RuntimeError(f"the wire did not start (exit {self.wire.poll()})")
        run("ip", "-n", router, "link", "set", "tun0", "up")
        for n in SIDES.values():
            run("ip", "-n", router, "route", "add", f"10.77.{n}.0/24", "dev", "tun0")
        run("ip", "-n", router, "rule", "add", "iif", "tun0", "lookup", "100", "pref", "100")

    def down(self):
        if self.wire is not None and self.wire.poll() is None:
            os.killpg(self.wire.pid, signal.SIGTERM)
            try:
                self.wire.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.wire.pid, signal.SIGKILL)
                self.wire.wait(timeout=5)
        for ns in self.ns.values():
            run("ip", "netns", "del", ns, check=False)

    # -- use

    def argv(self, side, argv):
        """`argv` run inside namespace `side`."""
        return ["ip", "netns", "exec", self.ns[side], *argv]

    def impair(self, links, seed=1):
        """Sets each link's impairment: {"zone-region": {"loss": 0.05, "delay_ms": 50,
        "jitter_ms": 20}} (loss each way); links not named are perfect."""
        unknown = set(links) - set(LINKS)
        if unknown:
            raise ValueError(f"unknown links {sorted(unknown)}: use {', '.join(LINKS)}")
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seed": seed, "links": links}))
        os.replace(tmp, self.config)
        if self.wire is not None:
            self.signal_wire(signal.SIGHUP)

    def signal_wire(self, sig):
        """Signals wire.py (the child of `ip netns exec`, which execs it: same pid)."""
        before = self.stats_path.stat().st_mtime_ns if self.stats_path.exists() else 0
        os.kill(self.wire.pid, sig)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if self.stats_path.exists() and self.stats_path.stat().st_mtime_ns != before:
                return
            time.sleep(0.01)
        raise RuntimeError("the wire did not answer a signal within 5 s")

    def stats(self):
        """Packets and drops per link since the last impair()."""
        self.signal_wire(signal.SIGUSR1)
        return json.loads(self.stats_path.read_text())

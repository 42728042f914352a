"""The testbed's wire: a userspace stand-in for `tc netem`, which this kernel does not have
(CONFIG_NET_SCH_NETEM is off on the CI and development machines).

Runs in the testbed's router namespace. It opens the TUN device `tun0`; the router's routes send
every packet between the testbed's subnets into it, and a policy rule (`iif tun0`) routes what this
process writes back out to the destination's veth. In between, each packet is dropped with the
loss probability of its link, or held for the link's delay plus a uniform jitter (so jitter
reorders packets, as netem's does). A link is an unordered pair of subnets: loss and delay apply
each way. Loss is independent per packet (netem's `loss P%`), or, when the link sets `outage_ms`,
comes in outages: each direction of the link alternates between up and down periods drawn from
exponential distributions, down ones with mean `outage_ms` and up ones long enough that the
down share of time is `loss` (a two-state Gilbert model on time, not on packet count: a radio
fade drops every packet for a while, whichever flow it belongs to).

Usage: wire.py CONFIG STATS   (run inside the router namespace, as root)
CONFIG is JSON: {"seed": 1, "links": {"zone-region": {"loss": 0.05, "delay_ms": 50, "jitter_ms": 20}}}
(optionally "outage_ms": 250 in a link: bursty loss, above)
and is read again on SIGHUP. Subnets: 10.77.1.0/24 zone, 10.77.2.0/24 carrier, 10.77.3.0/24 region.
STATS is rewritten (JSON, per link: packets, dropped) on SIGHUP, SIGUSR1 and exit. Prints "ready"
once tun0 exists.
"""

import asyncio
import fcntl
import json
import os
import random
import signal
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
SUBNETS = {1: "zone", 2: "carrier", 3: "region"}
# Bounds: a packet larger than this is dropped and counted; at most this many packets are in flight.
MAX_PACKET = 65535
MAX_HELD = 200_000


def link_of(pkt):
    """The link a packet crosses ('carrier-zone', …), or None for anything not IPv4 10.77.x."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[12] != 10 or pkt[13] != 77 or pkt[16] != 10 or pkt[17] != 77:
        return None
    a, b = SUBNETS.get(pkt[14]), SUBNETS.get(pkt[18])
    if a is None or b is None:
        return None
    return "-".join(sorted((a, b)))


class Wire:
    def __init__(self, config_path, stats_path):
        self.config_path, self.stats_path = config_path, stats_path
        self.links, self.stats, self.held = {}, {}, 0
        self.outages = {}  # (link, source subnet) → [down now?, monotonic end of this period]
        self.rng = random.Random()
        self.reload()

    def reload(self):
        with open(self.config_path) as f:
            cfg = json.load(f)
        self.rng.seed(cfg.get("seed", 1))
        self.links = cfg.get("links", {})
        self.outages = {}
        self.write_stats()
        self.stats = {}

    def write_stats(self):
        tmp = self.stats_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.stats, f)
        os.replace(tmp, self.stats_path)

    def on_packet(self, loop, fd, pkt):
        link = link_of(pkt) or "other"
        s = self.stats.setdefault(link, {"packets": 0, "dropped": 0})
        s["packets"] += 1
        p = self.links.get(link, {})
        if self.lost(link, pkt, p, loop.time()) or self.held >= MAX_HELD:
            s["dropped"] += 1
            return
        delay = p.get("delay_ms", 0) + self.rng.uniform(-1, 1) * p.get("jitter_ms", 0)
        if delay <= 0:
            os.write(fd, pkt)
            return
        self.held += 1

        def release():
            self.held -= 1
            try:
                os.write(fd, pkt)
            except OSError:
                pass

        loop.call_later(delay / 1000.0, release)

    def lost(self, link, pkt, p, now):
        """Whether this packet is lost: independently with probability `loss`, or, with
        `outage_ms`, when its direction of the link is in a down period."""
        loss = p.get("loss", 0)
        if not loss:
            return False
        if loss >= 1:
            return True
        outage = p.get("outage_ms", 0) / 1000.0
        if not outage:
            return self.rng.random() < loss
        up_mean = outage * (1 - loss) / loss
        state = self.outages.get((link, pkt[14]))
        if state is None:  # each direction starts in an up period
            state = self.outages[(link, pkt[14])] = [False, now + self.rng.expovariate(1 / up_mean)]
        while now >= state[1]:  # bounded: each period is at least 1 µs
            state[0] = not state[0]
            state[1] += max(1e-6, self.rng.expovariate(1 / (outage if state[0] else up_mean)))
        return state[0]


def open_tun(name=b"tun0"):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name, IFF_TUN | IFF_NO_PI))
    return fd


def main():
    config_path, stats_path = sys.argv[1], sys.argv[2]
    wire = Wire(config_path, stats_path)
    fd = open_tun()
    loop = asyncio.new_event_loop()

    def readable():
        for _ in range(256):  # a batch, then let timers run
            try:
                pkt = os.read(fd, MAX_PACKET)
            except BlockingIOError:
                return
            wire.on_packet(loop, fd, pkt)

    loop.add_reader(fd, readable)
    loop.add_signal_handler(signal.SIGHUP, wire.reload)
    loop.add_signal_handler(signal.SIGUSR1, wire.write_stats)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    print("ready", flush=True)
    try:
        loop.run_forever()
    finally:
        wire.write_stats()


if __name__ == "__main__":
    main()

"""What the testbed's suites share: running their measuring code inside the region namespace (a
thread that setns(2)-es into it, so the lab's helpers — the lab resolver on 127.0.0.1, boto3,
dnspython, /metrics — work unchanged there), the echo targets in the zone namespace, and the health
configuration they use."""

import ctypes
import os
import threading

from ..lab import echo
from .testbed import LINKS, target_addr, unavailable

CLONE_NEWNET = 0x40000000
PORT = 4000  # every target's UDP (and TCP, for ifportup) port
CARRIER_DELAY = {"delay_ms": 50, "jitter_ms": 20}
EVERY_LINK_DELAYED = {link: CARRIER_DELAY for link in LINKS}


def in_namespace(ns, fn, *args):
    """Runs fn(*args) in a thread whose network namespace is `ns` (processes it starts inherit it)."""
    out = {}

    def body():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                out["e"] = OSError(ctypes.get_errno(), f"setns into {ns}")
                return
        finally:
            os.close(fd)
        try:
            out["v"] = fn(*args)
        except BaseException as e:  # re-raised in the caller's thread
            out["e"] = e

    t = threading.Thread(target=body, name=f"in-{ns}")
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out.get("v")


def skipped():
    """The section of a testbed suite where namespaces cannot be made (with a loud line in the
    log), or None where they can."""
    why = unavailable()
    if not why:
        return None
    print(f"!!!!! SKIPPED netlab suites: network namespaces cannot be made here ({why}) !!!!!", flush=True)
    return ["**SKIPPED**: network namespaces cannot be made on this machine (see the run's log).", ""]


def targets(tb, first, count, tcp=False):
    """A UDP echo process in the zone namespace serving targets first … first+count-1."""
    return echo(target_addr(first), PORT, count, tcp=tcp, netns=tb.ns["zone"])


def health_cfg(ctx, name, api_url, interval, variant, pool="www.lab.test", timeout=0.4, extra=""):
    """A health configuration for the testbed: probes at `interval`, fall 3, rise 2; `variant` is
    "wavelb" (the defaults: resends, fast interval, re-admission back-off) or "plain" (today's
    fall = 3 prober before them: one datagram per probe, one pace, no back-off)."""
    knobs = {
        "wavelb": "",
        "plain": f'fast_interval = "{int(interval * 1000)}ms"\nreadmit_backoff = "0s"',
    }[variant]
    path = ctx.wavelb.health_config(
        name,
        api_url,
        PORT,
        interval,
        pool=pool,
        timeout=timeout,
        extra=f'probe_via = "published"\nmax_quarantined_fraction = 0.5\n{knobs}\n{extra}',
    )
    if variant == "plain":
        path.write_text(path.read_text() + "retransmit = 0\n")
    return path

"""The runner behind benches/run.sh: runs the named suites and appends their sections to the
report (run.sh writes its head and copies it to docs/benchmarks.md).

Usage (from benches/, in the venv): python -m wavelb_bench --bin WAVELB --out FILE [--smoke] SUITE...
"""

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .context import Context
from .lab import Wavelb
from .procs import PROCS
from .report import log
from .suites import (
    budget,
    client_failover,
    failover,
    flap,
    footprint,
    loss,
    micro,
    prober,
    quic,
    resolver,
    storm,
    zone_failover,
)

SUITES = {
    "resolver": resolver.run,
    "micro": micro.run,
    "failover": failover.run,
    "storm": storm.run,
    "prober": prober.run,
    "budget": budget.run,
    "footprint": footprint.run,
    "quic": quic.run,
    "loss": loss.run,
    "client-failover": client_failover.run,
    "flap": flap.run,
    "zone-failover": zone_failover.run,
}


def main():
    ap = argparse.ArgumentParser(prog="python -m wavelb_bench")
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("suites", nargs="+", choices=SUITES)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wavelb-bench-"))
    ctx = Context(smoke=a.smoke, work=work, wavelb=Wavelb(a.bin, work))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sections, failed = [], []
    try:
        for s in a.suites:
            log(f"suite {s} ({'smoke' if a.smoke else 'full'})")
            t0 = time.monotonic()
            try:
                sections.append((s, SUITES[s](ctx), time.monotonic() - t0))
            except Exception as e:  # reported, and the exit status says so
                failed.append(s)
                sections.append((s, [f"**FAILED**: {e}", ""], time.monotonic() - t0))
                log(f"suite {s} FAILED: {e}")
            finally:
                PROCS.stop_all()
    finally:
        PROCS.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    with open(a.out, "a") as f:
        for s, lines, took in sections:
            f.write(f"## Suite `{s}`{' (smoke)' if a.smoke else ''}\n\n_{took:.0f} s._ ")
            f.write("\n".join(lines) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

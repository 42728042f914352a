"""The load generators: dnsperf, and the project's own benches/dnsload, each pinned to the load
generator's core."""

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from .lab import BENCHES
from .procs import LOADGEN_CORE, cpu_seconds
from .stats import pct


def dnsperf(port, datafile, secs, qps=None, verbose=False):
    """One dnsperf run: qps, lost, avg_ms, run_s (the load, without the final -t wait), cpu_pct
    (its own CPU over the load), argv; with `verbose`, p50_ms and p99_ms from its per-query lines."""
    argv = [
        "taskset",
        "-c",
        str(LOADGEN_CORE),
        "dnsperf",
        "-s",
        "127.0.0.1",
        "-p",
        str(port),
        "-d",
        str(datafile),
        "-l",
        str(secs),
        "-c",
        "8",
        "-q",
        "256",
        "-T",
        "1",
        "-t",
        "2",
    ]
    if qps:
        argv += ["-Q", str(int(qps))]
    if verbose:
        argv += ["-v"]
    with tempfile.TemporaryFile("w+") as f:  # a file, not a pipe: -v writes a line per query
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.DEVNULL, text=True)
        time.sleep(secs)
        cpu = cpu_seconds(p.pid)  # read at the end of the load: dnsperf may spin while it waits -t for the lost
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise
        f.seek(0)
        out = f.read()
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    avg = re.search(r"Average Latency \(s\):\s+([\d.]+)", out)
    run = re.search(r"Run time \(s\):\s+([\d.]+)", out)  # the load, without the final -t wait
    res = {
        "qps": float(m.group(1)) if m else 0.0,
        "lost": int(lost.group(1)) if lost else -1,
        "avg_ms": float(avg.group(1)) * 1000 if avg else float("nan"),
        "argv": argv,
        "run_s": float(run.group(1)) if run else float(secs),
        "cpu_pct": 100 * cpu / secs,
    }
    if verbose:  # "> NOERROR www.lab.test A 0.000123": one line per completed query
        lat = [
            float(f[-1]) * 1000
            for f in (line.split() for line in out.splitlines() if line.startswith("> "))
            if re.fullmatch(r"[\d.]+", f[-1])
        ]
        res["p99_ms"] = pct(lat, 99)
        res["p50_ms"] = pct(lat, 50)
    return res


# benches/dnsload (the project's own load generator): 256 in flight like dnsperf's -q, 8 client ports
# like its -c.
DNSLOAD_ARGS = ["--outstanding", "256", "--sockets", "8"]


def dnsload_bin():
    """benches/dnsload's release binary (run.sh builds it and sets DNSLOAD)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR") or BENCHES.parent / "target")
    binary = Path(os.environ.get("DNSLOAD") or target / "release" / "dnsload")
    if not binary.is_file():
        raise RuntimeError(f"{binary} is missing: cargo build --release -p dnsload (benches/run.sh does)")
    return binary


def dnsload(binary, port, datafile, secs, qps=None, timeout_ms=1000):
    """One dnsload run pinned to the load generator core: its JSON report (qps, lost, avg_ms,
    p99_ms, answers, cpu_pct = its own CPU over the run, …) plus argv. A reply later than
    timeout_ms counts lost (and the run ends at most that long after its `secs`)."""
    argv = [
        "taskset",
        "-c",
        str(LOADGEN_CORE),
        str(binary),
        "--server",
        f"127.0.0.1:{port}",
        "--queries",
        str(datafile),
        "--secs",
        str(secs),
        *DNSLOAD_ARGS,
        "--timeout-ms",
        str(timeout_ms),
    ]
    argv += ["--qps", str(int(qps))] if qps else []
    r = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 30)
    if r.returncode != 0:
        raise RuntimeError(f"dnsload exited {r.returncode}: {r.stderr.strip()[-500:]}")
    res = {k: float("nan") if v is None else v for k, v in json.loads(r.stdout).items()}
    res["argv"] = argv
    return res

"""What the release profile's LTO and codegen settings buy against what they cost (issue 24,
item 5): each candidate profile is built fresh in its own target directory (wall time and CPU time
of `cargo build --release`, the binary's size), then the resolvers of every candidate answer the
same load in one run: instructions per query under callgrind (a count, not a time: the same
whatever else the machine does) and max QPS with benches/dnsload, the candidates interleaved.

Usage (from benches/): python -m wavelb_bench.profiles --work DIR [--reuse] [--only NAME,...] --out FILE
  --reuse   keep a candidate's target directory if its binary exists (no rebuild, no build time)
Run in benches/run.sh's environment (the venv with boto3; dnsload built in release, DNSLOAD set).
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import time
from pathlib import Path

from .cargo import ROOT
from .lab import Wavelb, query, register_weights
from .loadgen import dnsload, dnsload_bin
from .procs import PROCS, free_port, poll
from .report import log

# name → `--config` overrides of [profile.release] (Cargo.toml holds the chosen one). A key
# `package.<crate>.<setting>` overrides one crate: aws-sdk-ec2 is the longest unit of a fresh
# build (one crate, a few hundred thousand lines of generated code), and wavelb makes a handful
# of EC2 calls a minute, so its optimisation buys nothing a user sees.
EC2_LIGHT = {"package.aws-sdk-ec2.opt-level": "1", "package.aws-sdk-ec2.codegen-units": "16"}
EC2_DEBUG = {"package.aws-sdk-ec2.opt-level": "0", "package.aws-sdk-ec2.codegen-units": "16"}
CANDIDATES = {
    "thin-cgu4": {"lto": '"thin"', "codegen-units": "4"},
    "off-cgu16": {"lto": "false", "codegen-units": "16"},
    "thin-cgu4-ec2o1": {"lto": '"thin"', "codegen-units": "4", **EC2_LIGHT},
    "off-cgu16-ec2o1": {"lto": "false", "codegen-units": "16", **EC2_LIGHT},
    "thin-cgu4-ec2o0": {"lto": '"thin"', "codegen-units": "4", **EC2_DEBUG},
    "fat-cgu1": {"lto": '"fat"', "codegen-units": "1"},
}


def build(name, overrides, work, reuse):
    """Builds `wavelb` fresh with the profile `overrides`; returns wall s, CPU s, size, path."""
    target = work / f"target-{name}"
    binary = target / "release" / "wavelb"
    if reuse and binary.is_file():
        return dict(wall=None, cpu=None, size=binary.stat().st_size, bin=binary)
    subprocess.run(["rm", "-rf", str(target)], check=True)
    argv = ["cargo", "build", "--release", "--locked", "--timings"]
    for key, value in overrides.items():
        argv += ["--config", f"profile.release.{key}={value}"]
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(argv, cwd=ROOT, env=env, check=True, timeout=3600)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    log(name, f"built in {wall:.0f} s wall, {cpu:.0f} s CPU")
    return dict(wall=wall, cpu=cpu, size=binary.stat().st_size, bin=binary)


def serve(binary, work, valgrind=None):
    """The lab resolver with the benchmark's four weighted targets; (process, DNS port)."""
    under = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={valgrind}"] if valgrind else []
    p = Wavelb(str(binary), work).resolver(dns_port=free_port(), under=under, ready_s=120)
    register_weights(p.info["api_url"])
    poll("the resolver to answer", 60, lambda: query(p.dns_port, timeout=2))
    return p, p.dns_port


def instructions_per_query(binary, work, queries, name, n):
    """Instructions the resolver executes per answered query, counted by callgrind over `n`
    queries sent at a fixed rate (the counters zeroed just before the load, dumped just after)."""
    out = work / f"callgrind-{name}.out"
    p, port = serve(binary, work, valgrind=out)
    subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True, capture_output=True, timeout=60)
    rate = 1000
    r = dnsload(dnsload_bin(), port, queries, n / rate, qps=rate, timeout_ms=2000)
    subprocess.run(["callgrind_control", "-d", str(p.pid)], check=True, capture_output=True, timeout=60)
    PROCS.stop(p)
    # The dump after the load is `<out>.1` (callgrind numbers its dumps; `<out>` is the exit's).
    dump = Path(f"{out}.1")
    m = re.search(r"^(?:summary|totals):\s+(\d+)", dump.read_text(errors="replace"), re.M)
    if not m:
        raise RuntimeError(f"{dump}: no instruction total")
    total = int(m.group(1))
    for f in work.glob(f"callgrind-{name}.out*"):
        f.unlink()
    answered = int(r["received"])
    if answered < n // 2:
        raise RuntimeError(f"{name}: only {answered} of {n} queries answered under callgrind")
    return total / answered, answered


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--only", default=",".join(CANDIDATES))
    ap.add_argument("--qps-runs", type=int, default=3)
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    names = [n for n in a.only.split(",") if n]
    built = {n: build(n, CANDIDATES[n], work, a.reuse) for n in names}
    queries = work / "www.txt"
    queries.write_text("www.lab.test A\n" * 10)
    rows = {n: dict(built[n], qps=[]) for n in names}
    try:
        for n in names:
            rows[n]["ipq"], rows[n]["ipq_n"] = instructions_per_query(built[n]["bin"], work, queries, n, 20000)
            log(n, f"{rows[n]['ipq']:.0f} instructions per query over {rows[n]['ipq_n']} answers")
        for _ in range(a.qps_runs):
            for n in names:  # interleaved, so a change in the machine's load hits every candidate
                p, port = serve(built[n]["bin"], work)
                r = dnsload(dnsload_bin(), port, queries, 5)
                rows[n]["qps"].append(r["qps"])
                PROCS.stop(p)
                log(n, f"{r['qps']:.0f} QPS")
    finally:
        PROCS.stop_all()
    base = rows[names[0]]
    lines = [
        f"| profile (`[profile.release]`) | fresh build, wall | CPU | binary | instructions/query | "
        f"÷ {names[0]} | max QPS (median of {a.qps_runs}) | ÷ {names[0]} |",
        "| --- |" + " ---: |" * 7,
    ]
    for n in names:
        r = rows[n]
        qps = statistics.median(r["qps"])
        wall = "—" if r["wall"] is None else f"{r['wall'] / 60:.1f} min"
        cpu = "—" if r["cpu"] is None else f"{r['cpu'] / 60:.1f} min"
        cfg = ", ".join(f"{k} = {v}" for k, v in CANDIDATES[n].items())
        lines.append(
            f"| {n} ({cfg}) | {wall} | {cpu} | {r['size'] / 2**20:.1f} MiB | {r['ipq']:.0f} | "
            f"{r['ipq'] / base['ipq']:.2f} | {qps:.0f} | {qps / statistics.median(base['qps']):.2f} |"
        )
    with open(a.out, "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

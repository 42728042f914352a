"""Suite `micro`: the criterion micro-benchmarks of benches/hot_paths.rs, and the geoproximity
cost ratios they give."""

import os
import re
import subprocess
from itertools import pairwise

from ..cargo import ROOT, cargo_bench
from ..procs import SERVER_CORE
from ..report import met
from ..stats import to_ns


def geo_ratios(times):
    """Issue 23, item 3: the costliest geoproximity question against a weighted answer, in the same run."""
    out = []
    for path, what in (
        ("respond", "the general path (`respond`) for both"),
        ("reply", "the listeners' path (`reply`: the fast path answers the weighted name)"),
    ):
        worst, weighted = times.get(f"geo/{path}_worst_a"), times.get(f"geo/{path}_weighted_a")
        if worst and weighted:
            ratio = worst / weighted
            out.append(
                f"- costliest geoproximity question ÷ weighted answer, {what}: **{ratio:.1f}×** "
                f"(goal ≤ 20×: {met(ratio <= 20)})"
            )
    return out + [""] if out else out


def run(ctx):
    args = ["--test"] if ctx.smoke else ["--warm-up-time", "1", "--measurement-time", "3"]
    env = dict(os.environ)
    r = subprocess.run(
        ["taskset", "-c", str(SERVER_CORE), "cargo", *cargo_bench(), "hot_paths", "--", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    if r.returncode != 0:
        raise RuntimeError(f"cargo bench failed: {r.stderr[-1500:]}")
    if ctx.smoke:
        lines = r.stdout.splitlines()
        ran = [line.split()[1] for line, nxt in pairwise(lines) if line.startswith("Testing ") and nxt == "Success"]
        if len(ran) < 8:
            raise RuntimeError(f"only {len(ran)} of 8 micro-benchmarks passed: {r.stdout[-1500:]}")
        return [
            f"`cargo bench --bench hot_paths -- --test` (each benchmark once): {len(ran)} passed ({', '.join(ran)}).",
            "",
        ]
    out = [
        "`taskset -c 0 cargo bench --bench hot_paths -- --warm-up-time 1 --measurement-time 3` (criterion; "
        "median of the estimate).",
        "",
        "| benchmark | time |",
        "| --- | ---: |",
    ]
    name = None
    times = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(\S+)\s+time:\s+\[\S+ \S+ (\S+ \S+) \S+ \S+\]", line)
        if re.match(r"^[a-z_]+/\S+$", line.strip()) and "time:" not in line:
            name = line.strip()
        m2 = re.search(r"time:\s+\[\S+ \S+ (\S+ \S+) \S+ \S+\]", line)
        if m2:
            out.append(f"| `{m.group(1) if m else name}` | {m2.group(1)} |")
            times[m.group(1) if m else name] = to_ns(m2.group(1))
    out.append("")
    out += geo_ratios(times)
    return out

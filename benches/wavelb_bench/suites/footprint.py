"""Suite `footprint`: one idle agent's RSS and CPU, and the binary's size."""

import subprocess
import time
from pathlib import Path

from ..cargo import profile_name
from ..lab import agent_config, registered
from ..procs import PROCS, cpu_seconds, poll, rss_mib
from ..report import met


def run(ctx):
    window = 3 if ctx.smoke else 60
    state = ctx.work / "footprint"
    state.mkdir()
    res = ctx.wavelb.resolver(extra=["--state-dir", str(state)], core=None)
    agent = ctx.wavelb.agent(
        agent_config(ctx.work, res.info["api_url"], 0, reconcile="60s"), log_path=ctx.work / "footprint-agent.log"
    )
    poll("the agent to register", 30, lambda: registered(state) >= 1)
    c0, t0 = cpu_seconds(agent.pid), time.monotonic()
    time.sleep(window)  # the idle window being measured
    cpu = 100 * (cpu_seconds(agent.pid) - c0) / (time.monotonic() - t0)
    rss = rss_mib(agent.pid)
    alive = agent.poll() is None
    PROCS.stop(agent)
    PROCS.stop(res)
    size = Path(ctx.wavelb.bin).stat().st_size
    stripped = ctx.work / "wavelb.stripped"
    subprocess.run(["strip", "-o", str(stripped), ctx.wavelb.bin], check=True)
    ssize = stripped.stat().st_size
    return [
        f"One `wavelb agent` (static address, reconcile 60s) registered against the lab resolver, then idle for "
        f"{window} s. CPU = utime+stime delta over the window; RSS = VmRSS at its end.",
        "",
        "| measure | value | goal |",
        "| --- | ---: | --- |",
        f"| agent RSS | {rss:.1f} MiB | ≤ 15 MB: {met(rss * 1.048576 <= 15)} |",
        f"| agent idle CPU | {cpu:.3f} % | ≤ 0.1 %: {met(cpu <= 0.1)} |",
        f"| agent still running at the end | {'yes' if alive else 'NO'} | |",
        f"| `wavelb` binary, {profile_name()} "
        f"profile{' (strips symbols)' if profile_name() == 'bench' else ''} | {size / 1e6:.1f} MB | |",
        f"| after `strip` | {ssize / 1e6:.1f} MB | |",
        "",
    ]

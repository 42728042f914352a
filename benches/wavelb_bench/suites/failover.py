"""Suite `failover`: kill → out of the answers and restart → back, over trials, for wavelb's udp and
quic probes and for PowerDNS `ifportup` (TCP checks)."""

import os
import random
import shutil
import signal
import time

from ..cargo import quic_server
from ..lab import WEIGHTS, echo, query, register_weights
from ..peers import start_peer
from ..procs import PROCS, free_port, poll
from ..report import log, met, skipped_peer
from ..stats import pct


def failover_trial(port, proc, restart, victim, limit_s, phase_s, rate=400, name="www.lab.test"):
    """Kills the victim's process `proc`, restarts it with `restart()`. Returns (seconds until the
    resolver stops returning it, seconds from the restart until it is returned again, the new
    process). One clock: time.monotonic(). The kill comes at a random moment of the checker's
    cycle (a uniform wait of up to `phase_s`, its check interval, once the victim is answered):
    without it every kill would land just after the check that brought the victim back."""
    gap = 1.0 / rate

    def loop(until, limit):
        seen, t0 = [], time.monotonic()
        while time.monotonic() - t0 < limit:
            t = time.monotonic()
            ips = query(port, name, timeout=0.2)
            if ips is not None:
                seen.append((t, victim in ips))
                if until(seen):
                    return seen
            time.sleep(max(0.0, gap - (time.monotonic() - t)))
        raise RuntimeError(f"no verdict within {limit}s")

    poll("the victim to be answered", limit_s, lambda: victim in (query(port, name) or []))
    time.sleep(random.uniform(0, phase_s))  # the crash's moment in the probe cycle, not a synchronisation
    t_kill = time.monotonic()
    PROCS.stop(proc, signal.SIGKILL)

    def gone(seen):  # absent for ≥ 1 s and ≥ 200 answers in a row after the last sighting
        last = max((i for i, (_, v) in enumerate(seen) if v), default=-1)
        tail = seen[last + 1 :]
        return len(tail) >= 200 and tail[-1][0] - tail[0][0] >= 1.0

    seen = loop(gone, limit_s)
    last = max((i for i, (_, v) in enumerate(seen) if v), default=-1)
    out_s = seen[last + 1][0] - t_kill
    t_restart = time.monotonic()
    proc = restart()
    seen = loop(lambda s: s[-1][1], limit_s)
    back_s = seen[-1][0] - t_restart
    return out_s, back_s, proc


def quic_probe_table(cfg, port, cert):
    """Replaces the udp probe of a health configuration with a quic one: a full handshake with ALPN h3,
    the certificate checked against `cert` (the bench servers' own) for the default SNI localhost."""
    head = cfg.read_text().split("[health.probe]")[0]
    cfg.write_text(
        head
        + f'''[health.probe]
kind = "quic"
port = {port}
alpn = ["h3"]
ca = "{cert}"
'''
    )
    return cfg


def run(ctx):
    trials = 3 if ctx.smoke else 20
    intervals = [0.2] if ctx.smoke else [0.2, 1.0]
    # The rows to run (default all): udp, quic (wavelb's probes), pdns (the peer).
    wanted = os.environ.get("BENCH_FAILOVER_ROWS", "udp,quic,pdns").split(",")
    out = [
        f"Four targets (weights 10/20/30/40) registered in `wavelb resolver`; `wavelb health` with fall 3, "
        "rise 2, poll_interval 1s, probe timeout min(500 ms, 0.75 × interval), `readmit_backoff = "
        '"0s"` (every trial restarts the same target; the flap suite measures the back-off). '
        "*udp* rows: UDP echo targets "
        f'(benches/echo.py), `kind = "udp"`. *quic* rows: each target a quinn QUIC server process '
        f'(`quic_handshakes serve`, benches/quic_handshakes.rs), `kind = "quic"` (full handshake, ALPN h3, '
        f"certificate checked with `ca`). The 40-weight target's process is killed "
        "(SIGKILL) at a random moment of the probe cycle (a uniform wait of up to one interval once "
        "it is answered) and restarted; a dnspython loop queries the resolver at ~400 q/s. *Out* = kill → first "
        f"query after the last answer naming it (then ≥ 200 answers and ≥ 1 s without it); *back* = "
        f"restart → first answer naming it. {trials} trials each, one clock (monotonic).",
        "",
        "| probe | interval | fall | trials | out p50 / p99 s | back p50 / p99 s | goal (out p99) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    fast = {}  # (kind, interval) → out p99, for the ratios to the peer
    peer_default = None
    victim = "127.0.0.14"
    for kind in [k for k in ("udp", "quic") if k in wanted]:
        for interval in intervals:
            res = ctx.wavelb.resolver(core=None)
            port = free_port()

            def start(ip, kind=kind, port=port):
                return echo(ip, port) if kind == "udp" else quic_server(ctx.work, f"{ip}:{port}")

            others = [start(ip) for ip in list(WEIGHTS)[:3]]
            register_weights(res.info["api_url"])
            # Every trial kills and restarts the same target: the re-admission back-off would hold
            # it out longer each time (the flap suite measures that), so it is off here.
            cfg = ctx.wavelb.health_config(
                f"failover-{kind}-{interval}", res.info["api_url"], port, interval, extra='readmit_backoff = "0s"'
            )
            if kind == "quic":
                quic_probe_table(cfg, port, others[0].info["cert"])
            h = ctx.wavelb.health(cfg, name=f"health-{kind}-{int(interval * 1000)}ms")
            proc = start(victim)
            outs, backs = [], []
            for i in range(trials):
                o, b, proc = failover_trial(res.dns_port, proc, lambda start=start: start(victim), victim, 30, interval)
                outs.append(o)
                backs.append(b)
                log(f"failover {kind} interval={interval}s trial {i + 1}: out {o:.3f}s back {b:.3f}s")
            goal = 1.0 if interval < 0.5 else 3.5
            p99 = pct(outs, 99)
            fast[(kind, interval)] = p99
            out.append(
                f"| {kind} | {int(interval * 1000)} ms | 3 | {trials} | {pct(outs, 50):.2f} / {p99:.2f} "
                f"| {pct(backs, 50):.2f} / {pct(backs, 99):.2f} | ≤ {goal} s: {met(p99 <= goal)} |"
            )
            for p in [h, proc, *others, res]:
                if p is not None:
                    PROCS.stop(p)
    # The peer: PowerDNS ifportup (TCP connect checks) at its default interval (5 s) and its fastest (1 s).
    if "pdns" in wanted and not shutil.which("pdns_server"):
        skipped_peer("pdns-ifportup failover", "pdns_server not installed")
    for interval in ([1] if ctx.smoke else [5, 1]) if "pdns" in wanted else []:
        ptrials = 2 if ctx.smoke else int(os.environ.get("BENCH_PDNS_TRIALS", "20"))
        if not shutil.which("pdns_server"):
            break
        tcp = [echo(ip, 4000, tcp=True) for ip in list(WEIGHTS)[:3]]
        proc = echo(victim, 4000, tcp=True)
        p, port = start_peer("pdns-ifportup", ctx.work, f"lua-health-checks-interval={interval}\n")
        outs, backs = [], []
        for i in range(ptrials):
            o, b, proc = failover_trial(
                port, proc, lambda: echo(victim, 4000, tcp=True), victim, 60, interval, name="up.lab.test"
            )
            outs.append(o)
            backs.append(b)
            log(f"pdns ifportup interval={interval}s trial {i + 1}: out {o:.3f}s back {b:.3f}s")
        out.append(
            f"| PowerDNS `ifportup` (TCP) | {interval} s | — | {ptrials} | {pct(outs, 50):.2f} / {pct(outs, 99):.2f} "
            f"| {pct(backs, 50):.2f} / {pct(backs, 99):.2f} | peer |"
        )
        if peer_default is None:  # the default interval (5 s) in a full run; 1 s in smoke mode
            peer_default = (interval, pct(outs, 99))
        for q in [p, proc, *tcp]:
            PROCS.stop(q)
    out.append("")
    if peer_default:
        peer_interval, peer_p99 = peer_default
        for (kind, interval), p99 in sorted(fast.items()):
            ratio = peer_p99 / p99
            goal = (
                f" (goal ≥ 5× against the default 5 s: {met(ratio >= 5)})"
                if interval < 0.5 and peer_interval == 5
                else ""
            )
            out.append(
                f"- out p99, PowerDNS `ifportup` at {peer_interval} s ÷ wavelb {kind} at {int(interval * 1000)} ms: "
                f"**{ratio:.1f}×**{goal}"
            )
        out.append("")
    return out

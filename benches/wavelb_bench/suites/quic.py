"""Suite `quic`: full QUIC handshakes per CPU-second of wavelb's `quic` probe against one quinn
server, beside aioquic's client (benches/quic_client.py)."""

import json
import subprocess
import sys
import time

from ..cargo import quic_bench_exe, quic_server
from ..lab import BENCHES
from ..procs import LOADGEN_CORE, PROCS, SERVER_CORE, cpu_seconds
from ..report import log, met, skipped_peer


def run(ctx):
    secs, warmup, conc = (1, 0.3, 32) if ctx.smoke else (10, 1, 32)
    runs = (
        [("wavelb", "ca"), ("aioquic", "ca")]
        if ctx.smoke
        else [("wavelb", "ca"), ("wavelb", "pin"), ("wavelb", "insecure"), ("aioquic", "ca"), ("aioquic", "insecure")]
    )
    exe = quic_bench_exe()
    server = quic_server(ctx.work, "127.0.0.1:0", core=SERVER_CORE, name="quic-bench-server")
    port, cert = server.info["port"], server.info["cert"]
    rows = {}
    for client, trust in runs:
        load = ["--secs", str(secs), "--warmup", str(warmup), "--concurrency", str(conc)]
        if client == "wavelb":
            argv = [
                exe,
                "client",
                "--target",
                f"127.0.0.1:{port}",
                "--cert",
                cert,
                "--trust",
                trust,
                "--core",
                str(LOADGEN_CORE),
                *load,
            ]
        else:
            argv = [
                sys.executable,
                str(BENCHES / "quic_client.py"),
                "127.0.0.1",
                str(port),
                "--cert",
                cert,
                "--trust",
                trust,
                *load,
            ]
        argv = ["taskset", "-c", str(LOADGEN_CORE), *argv]
        c0, t0 = cpu_seconds(server.pid), time.monotonic()
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=secs + warmup + 60)
        except subprocess.TimeoutExpired:
            r = None
        server_cpu = 100 * (cpu_seconds(server.pid) - c0) / (time.monotonic() - t0)
        lines = [line for line in (r.stdout.splitlines() if r else []) if line.startswith("{")]
        if r is None or r.returncode != 0 or not lines:
            why = "timed out" if r is None else f"exit {r.returncode}: {(r.stderr or r.stdout)[-800:].strip()}"
            if client == "aioquic":
                skipped_peer(f"aioquic ({trust})", why)
                continue
            raise RuntimeError(f"wavelb's quic prober ({trust}) failed: {why}")
        res = json.loads(lines[-1])
        res["server_cpu"] = server_cpu
        rows[(client, trust)] = res
        log(
            f"quic {client} {trust}: {res['handshakes']} handshakes in {res['wall_s']:.2f}s, {res['per_s']:.0f}/s, "
            f"cpu {res['cpu_s']:.2f}s, {res['per_cpu_s']:.0f} per CPU-second, server cpu {server_cpu:.0f}%"
        )
    PROCS.stop(server)
    out = [
        f"Full QUIC handshakes (TLS 1.3, ALPN h3, ECDSA P-256 certificate; the server sends no session tickets, so "
        f"none is a resumption) against one quinn server (`quic_handshakes serve`, benches/quic_handshakes.rs) "
        f"pinned to core {SERVER_CORE}. *wavelb* = the product's `quic` probe (`health::probe::Prober`, the code "
        f"`wavelb health` runs; one tokio thread) in a loop, {conc} probes in flight, pinned to core {LOADGEN_CORE}; "
        f"trust `ca` = chain and name checked against the server's certificate, `pin` = SPKI pin, `insecure` = "
        f"any certificate (the handshake signature is checked in every mode). *aioquic* = aioquic's client "
        f"(`connect()`, benches/quic_client.py) in the same way: `ca` = `load_verify_locations`, `insecure` = "
        f"`CERT_NONE`. {warmup} s warm-up, then {secs} s measured. *Per CPU-second* = handshakes ÷ the client "
        f"process's own user+system CPU time (getrusage / `time.process_time`), i.e. handshakes per second one core "
        f"sustains, valid even when the server is the bottleneck (server CPU shown).",
        "",
        "| client | trust | in flight | handshakes | wall s | handshakes/s | client CPU-s | handshakes per CPU-second "
        "(one core) | server CPU | handshake p50 / p99 ms | failures | goal ≥ 500 / core | wavelb ÷ aioquic |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for client, trust in runs:
        r = rows.get((client, trust))
        if not r:
            out.append(f"| {client} | {trust} | SKIPPED | | | | | | | | | | |")
            continue
        failed = sum(r["failures"].values())
        goal = met(r["per_cpu_s"] >= 500) if client == "wavelb" else "peer"
        peer = rows.get(("aioquic", trust))
        ratio = f"{r['per_cpu_s'] / peer['per_cpu_s']:.1f}×" if client == "wavelb" and peer else "—"
        out.append(
            f"| {client} | {trust} | {r['concurrency']} | {r['handshakes']:,} | {r['wall_s']:.2f} "
            f"| {r['per_s']:,.0f} | {r['cpu_s']:.2f} | {r['per_cpu_s']:,.0f} | {r['server_cpu']:.0f} % "
            f"| {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {failed} | {goal} | {ratio} |"
        )
    out.append("")
    for (client, trust), r in rows.items():
        if r.get("first_failure"):
            out.append(f"- {client} {trust}, first failure: {str(r['first_failure'])[:300]}")
    if not any(c == "aioquic" for c, _ in rows):
        out.append("- aioquic was not measured (see the SKIPPED PEER line): no ratio.")
    out.append("")
    return out

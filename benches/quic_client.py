"""aioquic's client as the peer of the `quic` benchmark suite: full QUIC handshakes (ALPN h3) in a
loop against one server, CONCURRENCY in flight, for SECS seconds after a warm-up, then one JSON
line with the handshakes and this process's own CPU time (time.process_time: user+system, every
thread). Each handshake is aioquic's `connect()` (its own UDP socket, close on exit), the way an
aioquic application opens a connection.

Usage: quic_client.py HOST PORT --cert CERT.pem [--trust ca|insecure] [--secs S] [--warmup S]
                      [--concurrency N]
"""

import argparse
import asyncio
import json
import logging
import ssl
import sys
import time

from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration


def configuration(trust, cert):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name="localhost")
    if trust == "ca":
        cfg.load_verify_locations(cafile=cert)  # chain to this certificate, valid for localhost
    else:
        cfg.verify_mode = ssl.CERT_NONE
    return cfg


async def run_for(host, port, cfg, concurrency, secs, timeout):
    deadline = time.monotonic() + secs
    ok, latencies, failures = 0, [], {}

    async def loop():
        nonlocal ok
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                async with asyncio.timeout(timeout):
                    async with connect(host, port, configuration=cfg) as _client:
                        latencies.append((time.monotonic() - t0) * 1000)
                        ok += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                key = type(e).__name__
                failures[key] = failures.get(key, 0) + 1
                failures.setdefault("first", f"{key}: {e}")

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return ok, sorted(latencies), failures


def pct(values, p):
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, -(-len(values) * p // 100) - 1))]


async def main():
    logging.disable(logging.CRITICAL)
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--trust", choices=["ca", "insecure"], default="ca")
    ap.add_argument("--secs", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=2.0)
    a = ap.parse_args()
    if not a.host.startswith("127."):
        sys.exit("quic_client.py probes loopback addresses only")
    cfg = configuration(a.trust, a.cert)
    if a.warmup > 0:
        ok, _, failures = await run_for(a.host, a.port, cfg, a.concurrency, a.warmup, a.timeout)
        if not ok:
            sys.exit(f"no aioquic handshake completed during the warm-up: {failures}")
    c0, t0 = time.process_time(), time.monotonic()
    ok, lat, failures = await run_for(a.host, a.port, cfg, a.concurrency, a.secs, a.timeout)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    first = failures.pop("first", None)
    print(
        json.dumps(
            {
                "client": "aioquic",
                "trust": a.trust,
                "concurrency": a.concurrency,
                "handshakes": ok,
                "failures": failures,
                "first_failure": first,
                "wall_s": wall,
                "cpu_s": cpu,
                "per_s": ok / wall,
                "per_cpu_s": ok / cpu if cpu > 0 else float("nan"),
                "p50_ms": pct(lat, 50),
                "p99_ms": pct(lat, 99),
                "max_ms": pct(lat, 100),
            }
        ),
        flush=True,
    )
    if not ok:
        sys.exit(f"no aioquic handshake completed: {failures} (first: {first})")


if __name__ == "__main__":
    asyncio.run(main())

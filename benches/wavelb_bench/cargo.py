"""The Rust bench executables run.sh built: `cargo bench` arguments with its feature resolution and
profile, and the `quic_handshakes` bench (benches/quic_handshakes.rs) as a QUIC server."""

import functools
import json
import os
import subprocess
from pathlib import Path

from .lab import BENCHES
from .procs import PROCS, read_line

ROOT = BENCHES.parent


def profile_name():
    """The cargo profile run.sh built with: bench (release, thin LTO), or dev for --smoke."""
    return os.environ.get("WAVELB_BENCH_PROFILE", "bench")


def cargo_bench():
    """`cargo bench` arguments up to the bench name, with run.sh's feature resolution (the whole
    workspace) and profile (`WAVELB_BENCH_PROFILE`: bench, or dev for --smoke), so that the bench
    reuses what run.sh built instead of building the tree again."""
    return ["bench", "--workspace", "--profile", profile_name(), "--bench"]


@functools.cache
def quic_bench_exe():
    """The `quic_handshakes` bench executable (benches/quic_handshakes.rs): its `serve` mode is the
    quinn QUIC server of the quic and failover suites, its `client` mode wavelb's prober in a loop.
    Built by run.sh (`cargo build --benches`); this asks cargo where it is."""
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(Path.home() / ".cache/wavelb/target"))  # as run.sh
    r = subprocess.run(
        ["cargo", *cargo_bench(), "quic_handshakes", "--no-run", "--message-format=json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
    )
    exe = None
    for line in r.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "quic_handshakes":
            exe = msg.get("executable") or exe
    if r.returncode != 0 or not exe:
        raise RuntimeError(f"cannot build the quic_handshakes bench (exit {r.returncode}): {r.stderr[-1500:]}")
    return exe


def quic_server(work, listen, core=None, name=None):
    """A quinn QUIC server (`quic_handshakes serve`, ALPN h3, the bench's certificate for localhost)
    as its own process, on `listen` ("127.x.y.z:port"; port 0: any), its files in a directory of
    `work`. Returns the process, with `.info` = its ready line ({"listen", "port", "cert", "spki_sha256"})."""
    d = work / (name or f"quic-{listen.replace(':', '-')}")
    d.mkdir(exist_ok=True)
    p = PROCS.start(
        [quic_bench_exe(), "serve", "--listen", listen, "--dir", str(d)], core=core, stdout=subprocess.PIPE, text=True
    )
    p.info = json.loads(read_line(p, 15, want="{"))
    return p

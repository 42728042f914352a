"""The other DNS servers, started from the zones and configurations in benches/peers/ (`$port`,
`$dir` and `$peers` filled in at run time), each on a free port and pinned to the server core."""

import shutil
import string
from pathlib import Path

from .lab import BENCHES, query
from .procs import PROCS, SERVER_CORE, free_port, poll

PEERS = BENCHES / "peers"


def fill(template: Path, dest: Path, **kw):
    dest.write_text(string.Template(template.read_text()).substitute(**kw))


def pdns_config(d, port, extra_conf, zone_file):
    """PowerDNS's configuration in `d` (bind backend): port `port`, the zone lab.test from
    `zone_file`, and `extra_conf` appended (its LUA records' check interval)."""
    fill(PEERS / "pdns.conf", d / "pdns.conf", port=port, dir=d, peers=PEERS)
    with open(d / "pdns.conf", "a") as f:
        f.write(extra_conf)
    (d / "named.conf").write_text(f'zone "lab.test" {{ type master; file "{zone_file}"; }};\n')
    return ["pdns_server", f"--config-dir={d}"]


def start_peer(name, work, extra_conf=""):
    """Starts one peer (knot, nsd, pdns-lua, pdns-ifportup, gdnsd) on a free port, pinned to the
    server core. Returns (process, port)."""
    port = free_port()
    d = work / f"{name}-{port}"
    d.mkdir()
    kw = dict(port=port, dir=d, peers=PEERS)
    if name == "knot":
        fill(PEERS / "knot.conf", d / "knot.conf", **kw)
        argv = ["knotd", "-c", str(d / "knot.conf")]
    elif name == "nsd":
        fill(PEERS / "nsd.conf", d / "nsd.conf", **kw)
        argv = ["nsd", "-d", "-c", str(d / "nsd.conf")]
    elif name.startswith("pdns"):
        argv = pdns_config(d, port, extra_conf, PEERS / "lab.test.pdns.zone")
    elif name == "gdnsd":
        shutil.copytree(PEERS / "gdnsd", d / "etc")
        fill(PEERS / "gdnsd" / "config", d / "etc" / "config", **kw)
        argv = ["gdnsd", "-c", str(d / "etc"), "start"]
    else:
        raise ValueError(name)
    p = PROCS.start(argv, core=SERVER_CORE, log_path=d / "server.log")
    try:
        poll(f"{name} to answer on 127.0.0.1:{port}", 20, lambda: p.poll() is None and query(port, timeout=0.2))
    except RuntimeError as e:
        raise RuntimeError(f"{name} did not start: {(d / 'server.log').read_text()[-2000:]}") from e
    return p, port

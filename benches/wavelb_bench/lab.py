"""The lab: wavelb's own processes (the resolver with its Route 53 API, `wavelb health`, agents),
the UDP echo targets they watch, and DNS questions to a resolver."""

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import boto3
import dns.exception
import dns.message
import dns.query

from .procs import PROCS, SERVER_CORE, poll, read_line

BENCHES = Path(__file__).resolve().parent.parent
# The four weighted targets of `www.lab.test` most suites register.
WEIGHTS = {"127.0.0.11": 10, "127.0.0.12": 20, "127.0.0.13": 30, "127.0.0.14": 40}


def addresses(response):
    """The A addresses of a DNS response, in its order."""
    return [rr.address for rrset in response.answer for rr in rrset if rrset.rdtype == 1]


def query(port, name="www.lab.test", timeout=0.5, addr="127.0.0.1"):
    """The A addresses of one answer, sorted (None on timeout)."""
    try:
        r = dns.query.udp(dns.message.make_query(name, "A"), addr, port=port, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return None
    return sorted(addresses(r))


def r53(api_url):
    """A boto3 Route 53 client of the lab resolver's API."""
    return boto3.client(
        "route53",
        endpoint_url=api_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def lab_zone(client):
    """The hosted zone id ("/hostedzone/…") of lab.test."""
    return next(z["Id"] for z in client.list_hosted_zones()["HostedZones"] if z["Name"] == "lab.test.")


def register(api_url, targets, owner="wavelb-lab", ttl=30, pool="www.lab.test"):
    """Creates weighted A sets plus their ownership TXT sets (the record protocol), as the
    agent would. targets: [(set_id, address, weight)]."""
    client = r53(api_url)
    zone = lab_zone(client)
    changes = []
    for sid, addr, weight in targets:
        txt = f'"v=1" "owner={owner}" "weight={weight}" "state=active" "since=1"'
        for name, rtype, w, value in ((pool, "A", weight, addr), (f"_wavelb.{pool}", "TXT", 0, txt)):
            changes.append(
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": rtype,
                        "SetIdentifier": sid,
                        "Weight": w,
                        "TTL": ttl,
                        "ResourceRecords": [{"Value": value}],
                    },
                }
            )
    for i in range(0, len(changes), 400):  # within 1000 changes and 32 000 value characters
        client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes[i : i + 400]})


def register_weights(api_url, weights=WEIGHTS, first=1, **kw):
    """register() of {address: weight}, set identifiers t<first>, t<first + 1>, … in order."""
    register(api_url, [(f"t{i}", ip, w) for i, (ip, w) in enumerate(weights.items(), first)], **kw)


class Wavelb:
    """The wavelb binary under test and the run's work directory."""

    def __init__(self, binary, work):
        self.bin, self.work = binary, work

    def resolver(self, dns_port=0, extra=(), core=SERVER_CORE, under=(), ready_s=30.0):
        """`wavelb resolver` (zone lab.test) on loopback, run by `under` (a command prefix: valgrind)
        if given; the process, with `.info` = its ready line ({"dns", "api_url", "metrics", …}) and
        `.dns_port`."""
        p = PROCS.start(
            [
                *under,
                self.bin,
                "-q",
                "resolver",
                "--dns-listen",
                f"127.0.0.1:{dns_port}",
                "--api-listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
                "--zone",
                "lab.test",
                *extra,
            ],
            core=core,
            stdout=subprocess.PIPE,
            text=True,
        )
        info = json.loads(read_line(p, ready_s, want="{"))
        p.info = info
        p.dns_port = int(info["dns"][0].rsplit(":", 1)[1])
        return p

    def health_config(self, name, api_url, port, interval, extra="", pool="www.lab.test", timeout=None):
        """A `wavelb health` configuration: udp probes of `port` every `interval` s (timeout: by
        default min(500 ms, 0.75 × interval)), fall 3, rise 2, poll_interval 1s."""
        timeout = min(0.5, interval * 0.75) if timeout is None else timeout
        path = self.work / f"{name}.toml"
        path.write_text(f"""[pool]
name = "{pool}"
zone = "lab.test"
ttl = 30
owner_id = "wavelb-lab"

[route53]
endpoint_url = "{api_url}"
max_requests_per_second = 100

[health]
interval = "{int(interval * 1000)}ms"
timeout = "{int(timeout * 1000)}ms"
rise = 2
fall = 3
poll_interval = "1s"
metrics_listen = "127.0.0.1:0"
{extra}

[health.probe]
kind = "udp"
port = {port}
send = "ping"
expect = "ping"
""")
        return path

    def health(self, cfg, core=None, name="health"):
        """`wavelb health` with `cfg`, logging to <work>/<name>.log."""
        return PROCS.start(
            [self.bin, "--config", str(cfg), "health", "--controller-id", name],
            core=core,
            log_path=self.work / f"{name}.log",
        )

    def health_metrics(self, name):
        """The /metrics URL of the health() process called `name`, read from its log."""
        log_file = self.work / f"{name}.log"
        m = poll(
            f"{name}'s metrics address",
            60,
            lambda: re.search(r'"metrics"\s*:\s*"([^"]+)"', log_file.read_text(errors="replace")),
        )
        return f"http://{m.group(1)}/metrics"

    def agent(self, cfg, **kw):
        """`wavelb agent` with `cfg` and the fake credentials it needs (no IMDS)."""
        env = dict(
            os.environ,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
        )
        return PROCS.start([self.bin, "-q", "--config", str(cfg), "agent"], env=env, **kw)


def with_pools(cfg, pools):
    """A health configuration's text with its `[pool]` section (naming pools[0]) as one `[[pool]]`
    section per name of `pools`."""
    head, rest = cfg.split("[route53]", 1)
    sections = "".join(
        head.replace("[pool]", "[[pool]]").replace(f'name = "{pools[0]}"', f'name = "{pool}"') for pool in pools
    )
    return sections + "[route53]" + rest


def tier(zones, settings=""):
    """The `[global]` tier `edge.lab.test` over `zones`: [(pool, Wavelength zone, (lat, lon) or None)]."""
    out = f'[global]\nname = "edge.lab.test"\n{settings}'
    for pool, wavelength_zone, coordinates in zones:
        out += f'[[global.zone]]\npool = "{pool}"\nwavelength_zone = "{wavelength_zone}"\n'
        if coordinates:
            out += f"coordinates = [{coordinates[0]}, {coordinates[1]}]\n"
    return out


def agent_config(work, api_url, i, reconcile=None, pool="edge.lab.test", zone_id=None):
    """An agent with a static address and set identifier. With zone_id, the agent skips the
    ListHostedZonesByName a zone name costs at every start (what a large fleet should do)."""
    path = work / f"agent-{i}.toml"
    zone = f'hosted_zone_id = "{zone_id}"' if zone_id else 'zone = "lab.test"'
    interval = f'reconcile_interval = "{reconcile}"' if reconcile else "# reconcile_interval: the default"
    path.write_text(f"""[pool]
name = "{pool}"
{zone}
ttl = 30
owner_id = "storm"

[route53]
endpoint_url = "{api_url}"

[agent]
weight = 60
address = "127.2.{i // 250}.{i % 250 + 1}"
target_id = "lab-host-{i:04}"
imds_endpoint = "http://127.0.0.1:9"
{interval}
startup_jitter = "0s"
notice_poll_interval = "60s"
metrics_listen = "127.0.0.1:0"
""")
    return path


def registered(state_dir):
    """The agents' (owner "storm") ownership records in the resolver's state database (read-only,
    beside the running resolver: SQLite's WAL lets a reader in while it writes)."""
    try:
        db = sqlite3.connect(f"file:{state_dir / 'state.sqlite3'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM record_sets WHERE record_set LIKE '%owner=storm%'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def echo(first, port, count=1, tcp=False, core=None, netns=None):
    """UDP echo targets (benches/echo.py) on `count` addresses from `first`, optionally with TCP
    listeners (what PowerDNS ifportup checks); in the network namespace `netns` if given."""
    argv = [sys.executable, str(BENCHES / "echo.py"), first, str(port), str(count)] + (["--tcp"] if tcp else [])
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    p = PROCS.start(argv, core=core, stdout=subprocess.PIPE, text=True)
    read_line(p, want="ready")
    return p

#!/usr/bin/env python3
"""The resolver's CPU per question for the costliest geoproximity name against a weighted one
(issue 23, item 3), end to end: kernel and listener included, as the audit measured it.

    benches/geo_cost.py PATH/TO/wavelb [SECONDS]

Starts `wavelb resolver` on 127.0.0.1 (pin it with taskset to measure on a quiet core), creates
through its API the weighted pool `www` (four sets) and the costliest state the API accepts: `a`
and `b`, each with 30 geoproximity members (Route 53's quota), every member an alias to the
other name with EvaluateTargetHealth. Then, for each name in turn, one client keeps 32 queries in
flight for SECONDS (default 5) and the resolver's CPU time (utime + stime of /proc/PID/stat) is
divided by the answers it sent. Prints one JSON line; stops the resolver. Standard library only.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request

NS = "https://route53.amazonaws.com/doc/2013-04-01/"


def change_batch(api, zone, changes):
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="{NS}">'
        f"<ChangeBatch><Changes>{''.join(changes)}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
    )
    req = urllib.request.Request(f"{api}/2013-04-01/hostedzone/{zone}/rrset", body.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.read()


def geo(action, name, set_id, i, zone, target):
    if target[0].isdigit():
        content = (
            f"<TTL>30</TTL><ResourceRecords><ResourceRecord><Value>{target}</Value></ResourceRecord></ResourceRecords>"
        )
    else:
        content = (
            f"<AliasTarget><HostedZoneId>{zone}</HostedZoneId><DNSName>{target}</DNSName>"
            "<EvaluateTargetHealth>true</EvaluateTargetHealth></AliasTarget>"
        )
    return (
        f"<Change><Action>{action}</Action><ResourceRecordSet><Name>{name}</Name><Type>A</Type>"
        f"<SetIdentifier>{set_id}</SetIdentifier>{content}<GeoProximityLocation><Coordinates>"
        f"<Latitude>{i % 80}.5</Latitude><Longitude>{(i * 7) % 170}.25</Longitude></Coordinates>"
        "</GeoProximityLocation></ResourceRecordSet></Change>"
    )


def weighted(set_id, value):
    return (
        "<Change><Action>CREATE</Action><ResourceRecordSet><Name>www.lab.test</Name><Type>A</Type>"
        f"<SetIdentifier>{set_id}</SetIdentifier><Weight>10</Weight><TTL>30</TTL><ResourceRecords>"
        f"<ResourceRecord><Value>{value}</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>"
    )


def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0\0\x01\0\x01"


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(dns, name, seconds, pid):
    """Answers and the resolver's CPU seconds for `seconds` of `name` with 32 in flight."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    packet = query(name, 1)
    answered, in_flight = 0, 0
    cpu0, end = cpu_seconds(pid), time.monotonic() + seconds
    while time.monotonic() < end:
        while in_flight < 32:
            s.sendto(packet, dns)
            in_flight += 1
        try:
            s.recv(1500)
            answered += 1
            in_flight -= 1
        except TimeoutError:
            in_flight = 0
    cpu = cpu_seconds(pid) - cpu0
    s.close()
    return answered, cpu


def main():
    binary, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    proc = subprocess.Popen(
        [
            binary,
            "-q",
            "resolver",
            "--dns-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--zone",
            "lab.test",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        api = ready["api_url"]
        host, port = ready["dns"][0].rsplit(":", 1)
        dns = (host, int(port))
        with urllib.request.urlopen(f"{api}/2013-04-01/hostedzonesbyname?dnsname=lab.test", timeout=10) as r:
            zone = r.read().decode().split("<Id>/hostedzone/")[1].split("<")[0]
        change_batch(
            api,
            zone,
            [weighted(f"t{i}", f"192.0.2.{i}") for i in range(1, 5)]
            + [geo("CREATE", n, "seed", 0, zone, "192.0.2.1") for n in ("a.lab.test", "b.lab.test")],
        )

        def cross(action, i):
            return [
                geo(action, "a.lab.test", f"m{i:02}", i, zone, "b.lab.test"),
                geo(action, "b.lab.test", f"m{i:02}", i, zone, "a.lab.test"),
            ]

        change_batch(api, zone, [c for i in range(29) for c in cross("CREATE", i)])
        change_batch(
            api,
            zone,
            cross("CREATE", 29)
            + [geo("DELETE", n, "seed", 0, zone, "192.0.2.1") for n in ("a.lab.test", "b.lab.test")],
        )
        out = {}
        for label, name in (("weighted", "www.lab.test"), ("worst", "a.lab.test")):
            answered, cpu = load(dns, name, seconds, proc.pid)
            out[label] = {
                "answered": answered,
                "cpu_s": round(cpu, 3),
                "cpu_us_per_query": round(cpu / max(answered, 1) * 1e6, 2),
            }
        out["ratio"] = round(out["worst"]["cpu_us_per_query"] / out["weighted"]["cpu_us_per_query"], 2)
        print(json.dumps(out))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()

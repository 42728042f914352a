"""Clients behind the caching resolver: they query all the time (so the cache is in its steady
state, refreshed by their own queries). On a stdin line "wait SECONDS" they print "cached" once
their newest answer names a victim; on each stdin line "T_KILL TAIL" they report, once the
victims (a comma-separated list of addresses) have been absent for TAIL seconds after T_KILL, when
they were last seen and the first answer after that (time.monotonic(): one clock for every process
on this machine).

Usage: clients.py SERVER NAME VICTIMS RATE [SOURCE] (run in the carrier namespace by unbound.py).
"""

import json
import sys
import threading
import time

import dns.message
import dns.query

server, name, victims, rate = sys.argv[1], sys.argv[2], set(sys.argv[3].split(",")), float(sys.argv[4])
source = sys.argv[5] if len(sys.argv) > 5 else None  # the clients' own address, when not the default
answers = []  # (t, victim named)
lock = threading.Lock()


def ask():
    while True:
        t = time.monotonic()
        try:
            r = dns.query.udp(dns.message.make_query(name, "A"), server, port=53, timeout=1, source=source)
            ips = [rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == 1]
            if ips:  # an empty answer (NXDOMAIN, SERVFAIL) is no answer
                with lock:
                    answers.append((t, bool(victims.intersection(ips))))
                    del answers[:-20000]
        except Exception:
            pass
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - t)))


threading.Thread(target=ask, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    if line.startswith("wait"):
        # "wait SECONDS": until the newest answer (under 200 ms old) names a victim.
        deadline = time.monotonic() + float(line.split()[1])
        state = "timeout"
        while time.monotonic() < deadline:
            with lock:
                newest = answers[-1] if answers else None
            if newest and newest[1] and time.monotonic() - newest[0] < 0.2:
                state = "cached"
                break
            time.sleep(0.01)
        print(state, flush=True)
        continue
    t_kill, tail = map(float, line.split())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with lock:
            after = [a for a in answers if a[0] >= t_kill]
        last = max((t for t, named in after if named), default=None)
        if after and after[-1][0] - (last if last is not None else t_kill) >= tail:
            break
        time.sleep(0.05)
    first = next((t for t, named in after if not named and (last is None or t > last)), None)
    print(json.dumps({"last_seen": last, "first_absent": first, "queries": len(after)}), flush=True)

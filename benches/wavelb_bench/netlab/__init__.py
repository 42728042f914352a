"""The network testbed (benches/README.md): `testbed` makes the namespaces zone, carrier, region and
a router joining them; `wire.py` (a script run in the router namespace) is the router's wire, a TUN
device through which every packet between the namespaces passes and gets its link's loss, delay and
jitter; `region` runs a suite's measuring code inside the region namespace and starts the
processes of the others; `unbound` is the carrier's caching resolver and its clients. The suites
themselves are suites/loss.py, client_failover.py, flap.py and zone_failover.py."""

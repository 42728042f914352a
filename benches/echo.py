"""UDP echo targets for the benchmarks: one process serving `count` addresses from `first` upward
(127.x, or the network testbed's zone subnet) on one port, optionally with a TCP listener per
address for PowerDNS `ifportup`.
Usage: echo.py FIRST_ADDR PORT [COUNT] [--tcp]. Prints "ready" once every socket is bound."""

import ipaddress
import resource
import selectors
import socket
import sys


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    first, port = ipaddress.IPv4Address(args[0]), int(args[1])
    count = int(args[2]) if len(args) > 2 else 1
    # Loopback, or the network testbed's zone subnet (inside the namespaces benches/wavelb_bench/netlab makes).
    allowed = [ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv4Network("10.77.1.0/24")]
    if not any(first in net and first + count - 1 in net for net in allowed):
        sys.exit("echo.py serves 127.0.0.0/8 or the testbed's 10.77.1.0/24 only")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * count + 64)), hard))
    sel = selectors.DefaultSelector()
    keep = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((str(first + i), port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        if "--tcp" in sys.argv:
            t = socket.socket()
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((str(first + i), port))
            t.listen(64)
            t.setblocking(False)
            # Connect checks need only the handshake, but each one waits in the accept queue
            # until accepted: accept and close them, or after 64 checks every SYN is dropped.
            sel.register(t, selectors.EVENT_READ, data="tcp")
            keep.append(t)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            try:
                if key.data == "tcp":
                    key.fileobj.accept()[0].close()
                    continue
                data, peer = key.fileobj.recvfrom(2048)
                key.fileobj.sendto(data, peer)
            except (BlockingIOError, ConnectionRefusedError, ConnectionAbortedError):
                pass


if __name__ == "__main__":
    main()

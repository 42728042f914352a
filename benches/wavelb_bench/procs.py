"""Processes: starting them pinned and in their own process group, stopping every one on exit,
reading their ready line, waiting with a deadline, and their CPU time and RSS."""

import os
import re
import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path

# The server under test on one core, the load generator on the other.
SERVER_CORE, LOADGEN_CORE = 0, 1


class Procs:
    """Every process the suites start, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self):
        self.procs = []

    def start(self, argv, core=None, log_path=None, stdout=None, **kw):
        if core is not None:
            argv = ["taskset", "-c", str(core), *argv]
        out = stdout if stdout is not None else (open(log_path, "w") if log_path else subprocess.DEVNULL)
        p = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL, start_new_session=True, **kw
        )
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)
        self.procs.clear()


PROCS = Procs()


def read_line(p, deadline_s=30.0, want=None):
    """The first stdout line of `p` (containing `want`), within a deadline."""
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if sel.select(timeout=max(0.0, end - time.monotonic())):
            line = p.stdout.readline()
            if not line:
                break
            if want is None or want in line:
                return line.strip()
    raise RuntimeError(f"{p.args} printed no {want or 'line'} within {deadline_s}s (exit {p.poll()})")


def poll(what, deadline_s, check, every=0.05):
    """check()'s first truthy value, asked every `every` seconds for at most `deadline_s`."""
    end = time.monotonic() + deadline_s
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > end:
            raise RuntimeError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(every)


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def tree(pid):
    """pid and all its descendants."""
    children = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_mib(pid):
    """VmRSS summed over the process tree, MiB."""
    total = 0
    for p in tree(pid):
        try:
            m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pid):
    """user+system CPU seconds summed over the process tree."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError):
            pass
    return total / tick

"""What a run prints and what its tables say: the log line, the loud SKIPPED lines, goal verdicts,
answer shares, and which side of a load limited it."""

from .lab import WEIGHTS


def log(*a):
    print("[bench]", *a, flush=True)


def skipped_peer(what, why):
    """The loud line a peer that could not be measured leaves in the log."""
    print(f"!!!!! SKIPPED PEER {what}: {why} !!!!!", flush=True)


def met(ok):
    """A goal's verdict cell: "**met**" or "**MISSED**"."""
    return f"**{'met' if ok else 'MISSED'}**"


def verdict(value, ok):
    """ "**1.02× — met**"."""
    return f"**{value} — {'met' if ok else 'MISSED'}**"


def limited_by(server_cpu, gen_cpu, gen):
    """Which side saturated its core at max QPS (≥ 90 %), as far as CPU shows."""
    server, generator = server_cpu >= 90, gen_cpu >= 90
    return "both" if server and generator else "server" if server else gen if generator else "neither"


def shares(counts, weights=WEIGHTS):
    """ "10/20/30/40 % (max dev …)" of {address: answers}, in the order of `weights`."""
    n = sum(counts.values())
    if not n:
        return "no answers"
    total = sum(weights.values())
    worst = max(abs(counts.get(ip, 0) / n - w / total) for ip, w in weights.items()) * 100
    return f"{'/'.join(f'{100 * counts.get(ip, 0) / n:.0f}' for ip in weights)} % (max dev {worst:.1f} pp, n={n})"

"""Numbers: percentiles, criterion's times, and the Prometheus pages of wavelb's processes."""

import re
import urllib.request


def pct(values, p):
    """The p-th percentile of `values` (nearest rank); NaN for none."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def to_ns(text):
    """Criterion's `618.36 ns` (or ps, µs, ms, s) in nanoseconds."""
    value, unit = text.split()
    scale = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
    return float(value) * scale


def page(url):
    return urllib.request.urlopen(url, timeout=5).read().decode()


def samples(url, name):
    """{labels text: value} of every sample of `name` on a Prometheus page."""
    out = {}
    for line in page(url).splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(None, 1)
            out[key] = float(value)
    return out


def metric_sum(url, name):
    """The sum of every sample of `name` (all labels) on a Prometheus page."""
    return sum(samples(url, name).values())


def healthy_targets(url):
    """{target: wavelb_target_healthy} of a `wavelb health` process (1 healthy, 0 not, -1 no verdict yet)."""
    return {k.split('target="')[1].split('"')[0]: v for k, v in samples(url, "wavelb_target_healthy").items()}


def healthy_count(url):
    """The targets with a verdict of healthy (each probed at least rise = 2 times)."""
    return sum(1 for v in samples(url, "wavelb_target_healthy").values() if v == 1)


def api_requests(url):
    """Route 53 API requests the lab resolver has served (every operation and outcome)."""
    return metric_sum(url, "wavelb_api_requests_total")


def histogram(url, name):
    """{upper bound: count} of the histogram `name`, summed over its labels."""
    b = {}
    for line in page(url).splitlines():
        m = re.match(name + r'_bucket\{.*le="([^"]+)".*\}\s+(\S+)', line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            b[le] = b.get(le, 0) + float(m.group(2))
    return b


def histogram_p99(before, after):
    """The bucket bound under which 99 % of the observations between two histogram() reads fall."""
    delta = sorted((le, after[le] - before.get(le, 0)) for le in after)
    if not delta or delta[-1][1] <= 0:
        return float("nan")
    for le, c in delta:
        if c >= 0.99 * delta[-1][1]:
            return le
    return float("nan")

"""Suite `resolver`: max QPS, latency at half load, CPU, RSS and answer distribution of wavelb's
resolver beside Knot, NSD, PowerDNS (LUA `pickwrandom`, `ifportup`) and gdnsd, measured with
dnsperf and with benches/dnsload."""

import shutil

from ..lab import WEIGHTS, echo, query, register_weights
from ..loadgen import DNSLOAD_ARGS, dnsload, dnsload_bin, dnsperf
from ..peers import start_peer
from ..procs import LOADGEN_CORE, PROCS, SERVER_CORE, cpu_seconds, free_port, poll, rss_mib
from ..report import limited_by, log, shares, skipped_peer, verdict


def distribution(port, name, n, weights=WEIGHTS):
    """The shares of `n` answers' first address (or "static" when every answer names them all)."""
    counts, answers = {}, 0
    for _ in range(n):
        ips = query(port, name)
        if ips is None:
            continue
        answers += 1
        key = ips[0] if len(ips) == 1 else f"all {len(ips)}"
        counts[key] = counts.get(key, 0) + 1
    if not answers:
        return "no answers"
    if any(k.startswith("all") for k in counts):
        return f"{next(iter(counts))} records in every answer (static)"
    return shares(counts, weights)


def run(ctx):
    work, secs = ctx.work, (1 if ctx.smoke else 10)
    # The smoke runs every server and both load generators on one workload: the second only
    # changes the query file.
    workloads = ("www",) if ctx.smoke else ("www", "www+10%nx")
    dl_bin, dl_secs, dl_timeout = dnsload_bin(), (0.5 if ctx.smoke else secs), (250 if ctx.smoke else 1000)
    data = {}
    for wl, lines in (("www", ["www.lab.test A"] * 10), ("www+10%nx", ["www.lab.test A"] * 9 + ["nx.lab.test A"])):
        for peer_name in ("www", "up"):
            f = work / f"{wl}-{peer_name}.txt"
            f.write_text(
                "\n".join(q.replace("www.", f"{peer_name}.", 1) if q.startswith("www") else q for q in lines) + "\n"
            )
            data[(wl, peer_name)] = f
    servers = ["wavelb", "knot", "nsd", "pdns-lua", "pdns-ifportup", "gdnsd"]
    missing = [
        s
        for s, b in (
            ("knot", "knotd"),
            ("nsd", "nsd"),
            ("pdns-lua", "pdns_server"),
            ("pdns-ifportup", "pdns_server"),
            ("gdnsd", "gdnsd"),
            ("dnsperf", "dnsperf"),
        )
        if not shutil.which(b)
    ]
    for m in missing:
        skipped_peer(m, "not installed (run benches/run.sh as root to install it)")
    if "dnsperf" in missing:
        raise RuntimeError("dnsperf is missing: wavelb's resolver could not be measured")
    servers = [s for s in servers if s not in missing]
    tcp_targets = echo("127.0.0.11", 4000, 4, tcp=True)  # what pdns ifportup checks (TCP connect)
    rows = {}
    commands = set()
    for s in servers:
        if s == "wavelb":
            p = ctx.wavelb.resolver(dns_port=free_port())
            register_weights(p.info["api_url"])
            port = p.dns_port
        else:
            try:
                p, port = start_peer(s, work)
            except RuntimeError as e:
                skipped_peer(s, e)
                continue
        name = "up.lab.test" if s == "pdns-ifportup" else "www.lab.test"
        poll(f"{s} to answer {name}", 15, lambda port=port, name=name: query(port, name))
        rss0 = rss_mib(p.pid)
        for wl in workloads:
            f = data[(wl, "up" if s == "pdns-ifportup" else "www")]
            # Server CPU over the load's run time (dnsperf then waits -t 2 s for lost replies: idle).
            c0 = cpu_seconds(p.pid)
            mx = dnsperf(port, f, secs)
            cpu, gen_cpu = 100 * (cpu_seconds(p.pid) - c0) / mx["run_s"], mx["cpu_pct"]
            half = dnsperf(port, f, secs, qps=max(100, mx["qps"] / 2), verbose=True)
            c0 = cpu_seconds(p.pid)
            lmx = dnsload(dl_bin, port, f, dl_secs, timeout_ms=dl_timeout)
            lcpu = 100 * (cpu_seconds(p.pid) - c0) / lmx["elapsed_s"]
            lhalf = dnsload(dl_bin, port, f, dl_secs, qps=max(100, lmx["qps"] / 2), timeout_ms=dl_timeout)
            dl = dict(
                qps=lmx["qps"],
                lost=lmx["lost"],
                cpu=lcpu,
                gen_cpu=lmx["cpu_pct"],
                avg=lhalf["avg_ms"],
                p99=lhalf["p99_ms"],
                half_qps=lhalf["qps"],
                answers=lhalf["answers"],
            )
            rows[(s, wl)] = dict(
                qps=mx["qps"],
                lost=mx["lost"],
                cpu=cpu,
                gen_cpu=gen_cpu,
                avg=half["avg_ms"],
                p99=half["p99_ms"],
                half_qps=half["qps"],
                rss=rss_mib(p.pid),
                rss0=rss0,
                dl=dl,
            )
            log(s, wl, rows[(s, wl)])
            commands.add(" ".join(mx["argv"]).replace(str(work), "$WORK").replace(str(port), "$PORT"))
        rows[(s, "dist")] = distribution(
            port, name, 200 if ctx.smoke else 4000, dict.fromkeys(WEIGHTS, 1) if s == "pdns-ifportup" else WEIGHTS
        )
        if s == "pdns-ifportup":
            rows[(s, "dist")] += " — ifportup takes no weights: expected 25 % each"
        log(s, rows[(s, "dist")])
        PROCS.stop(p)
    PROCS.stop(tcp_targets)
    if not any(k[0] == "wavelb" for k in rows):
        raise RuntimeError("wavelb's resolver did not run")
    out = [
        f"dnsperf: {secs} s per run, 8 clients, 256 outstanding, one thread on core {LOADGEN_CORE}; every server "
        f"pinned to core {SERVER_CORE} with one worker where it has the setting (wavelb: its default runtime, "
        "pinned). Max = dnsperf unthrottled; latency at `-Q` = 50 % of that server's own max, p99 from "
        "dnsperf `-v` per-query times. RSS = VmRSS of the process tree after the runs (idle before).",
        "",
        f"dnsload (`benches/dnsload`, the project's own generator: one thread, `sendmmsg`/`recvmmsg`, "
        f"`{' '.join(DNSLOAD_ARGS)} --timeout-ms {dl_timeout}`, {dl_secs:g} s per run, core {LOADGEN_CORE}) "
        "measures the same servers with the same query files, because dnsperf saturates its own core first: "
        "max = its window of 256 in flight, latency at `--qps` = 50 % of that server's own dnsload max (open "
        "loop, 100 µs ticks). CPU = user+system time over the load's run time (dnsperf's *Run time*, dnsload's "
        "`elapsed_s`; dnsperf's own CPU read when its load ends), not over the final wait for lost replies, "
        "when the server idles and dnsperf may spin. *Limited by* = the side at ≥ 90 % of its core at max (on "
        "loopback the kernel's receive work for the queries is charged to the sender's core, and softirq time "
        "to neither process, so a server short of 100 % can still be the limit). Lost at max: with 256 in "
        "flight a server's socket buffer (about 200 queries at the default 208 KiB) overflows; dnsload keeps a "
        "lost query in its window for the 1 s timeout, so it loses about (256 − that) per second.",
        "",
    ]
    goals = {"gdnsd": 1.0, "pdns-lua": 5.0, "knot": 0.7}
    for wl in workloads:
        out += [
            f"### Workload `{wl}`",
            "",
            "With dnsperf:",
            "",
            "| server | max QPS | server CPU at max | dnsperf CPU at max | limited by | lost | avg / p99 ms at 50 % "
            "| RSS MiB (idle → after) | wavelb ÷ server |",
            "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        base = rows.get(("wavelb", wl))
        for s in servers:
            r = rows.get((s, wl))
            if not r:
                out.append(f"| {s} | SKIPPED | | | | | | | |")
                continue
            ratio = base["qps"] / r["qps"] if base and r["qps"] else float("nan")
            out.append(
                f"| {s} | {r['qps']:,.0f} | {r['cpu']:.0f} % | {r['gen_cpu']:.0f} % "
                f"| {limited_by(r['cpu'], r['gen_cpu'], 'dnsperf')} | {r['lost']} "
                f"| {r['avg']:.3f} / {r['p99']:.3f} | {r['rss0']:.1f} → {r['rss']:.1f} | {ratio:.2f}× |"
            )
        out += [
            "",
            "With dnsload:",
            "",
            "| server | max QPS | ÷ dnsperf's | server CPU at max | dnsload CPU at max | limited by | lost "
            "| avg / p99 ms at 50 % | wavelb ÷ server |",
            "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
        ]
        for s in servers:
            r = rows.get((s, wl))
            if not r:
                out.append(f"| {s} | SKIPPED | | | | | | | |")
                continue
            d = r["dl"]
            ratio = base["dl"]["qps"] / d["qps"] if base and d["qps"] else float("nan")
            vs = d["qps"] / r["qps"] if r["qps"] else float("nan")
            out.append(
                f"| {s} | {d['qps']:,.0f} | {vs:.2f}× | {d['cpu']:.0f} % | {d['gen_cpu']:.0f} % "
                f"| {limited_by(d['cpu'], d['gen_cpu'], 'dnsload')} | {d['lost']} "
                f"| {d['avg']:.3f} / {d['p99']:.3f} | {ratio:.2f}× |"
            )
        out.append("")
        if base:
            for peer, goal in goals.items():
                r = rows.get((peer, wl))
                if r and r["qps"] and r["dl"]["qps"]:
                    ratio, dl_ratio = base["qps"] / r["qps"], base["dl"]["qps"] / r["dl"]["qps"]
                    out.append(
                        f"- goal ≥ {goal}× {peer}: dnsperf {verdict(f'{ratio:.2f}×', ratio >= goal)}, "
                        f"dnsload {verdict(f'{dl_ratio:.2f}×', dl_ratio >= goal)}"
                    )
                else:
                    out.append(f"- goal ≥ {goal}× {peer}: not measured (peer skipped)")
            p99, dl_p99 = base["p99"], base["dl"]["p99"]
            out.append(
                f"- goal p99 < 1 ms at 50 % load: dnsperf {verdict(f'{p99:.3f} ms', p99 < 1)}, "
                f"dnsload {verdict(f'{dl_p99:.3f} ms', dl_p99 < 1)}"
            )
            out.append("")
    out += [
        "### Answer distribution (expected 10/20/30/40 %)",
        "",
        "| server | share of 127.0.0.11/12/13/14 | first A of dnsload's replies (`www`, 50 % run) |",
        "| --- | --- | --- |",
    ]
    for s in servers:
        if (s, "dist") in rows:
            static = "static" in rows[(s, "dist")]
            first = (
                "— (static)"
                if static or (s, "www") not in rows
                else shares(
                    rows[(s, "www")]["dl"]["answers"], dict.fromkeys(WEIGHTS, 1) if s == "pdns-ifportup" else WEIGHTS
                )
            )
            out.append(f"| {s} | {rows[(s, 'dist')]} | {first} |")
    out.append("")
    # The commands, for a rerun by hand.
    out += [
        "dnsperf commands (max runs; the 50 % runs add `-Q <half of max> -v`):",
        "",
        "```sh",
        *sorted(commands),
        "```",
        "",
    ]
    return out

"""The benchmark suites behind benches/run.sh (benches/README.md).

Run through run.sh, which installs the peers, builds wavelb and starts the runner
(`python -m wavelb_bench`, from benches/) in the venv. Everything listens on 127.0.0.0/8 only
(the network testbed's suites also on 10.77.0.0/16 inside the namespaces they make), every load
and every wait is bounded in time, and every process started here is stopped on exit.

Modules: `__main__` (the runner: arguments, the suite registry, the report), `suites/` (one module
per suite, each with `run(ctx)` returning its section's lines), and the helpers they share:
`procs` (starting and stopping processes, waits, CPU and RSS), `lab` (the wavelb binary's resolver,
health and agent processes, the echo targets, DNS queries), `peers` (the other DNS servers),
`loadgen` (dnsperf and benches/dnsload), `cargo` (the Rust bench executables), `stats`
(percentiles, Prometheus samples), `report` (the goal verdicts and shares the tables print) and
`netlab/` (the network testbed).
"""

"""One module per suite of benches/run.sh; each `run(ctx)` returns the lines of its section of
docs/benchmarks.md (the runner adds the heading and the time it took)."""

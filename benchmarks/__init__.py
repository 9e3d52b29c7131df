"""Benchmarks: `make bench` runs them all and rewrites docs/benchmarks.md.

Targets are proved here, never by timed assertions in tests. Each benchmark
module has ``run() -> Section``: the figures it measured and whether each
target was met, with the command that reproduces it.
"""

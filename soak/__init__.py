"""A load test with faults in which nothing may be lost (issue 12, [5/6]).

``harness.run(Config(...))`` builds a fleet on a fresh PostgreSQL database,
runs it under load while injecting faults, settles every cable and checks
that every session the cables recorded reached the right account exactly
once. ``make soak`` (``python -m soak``) runs it for ``SOAK_SECONDS`` and
writes ``docs/soak.md``; ``tests/e2e/test_soak.py`` runs a bounded version
in ``make test``.
"""

"""`cablepin demo`: the whole system on one machine."""

from __future__ import annotations


def demo() -> None:
    """Start cloud, portal and simulated cables on SQLite."""
    raise SystemExit("not built yet")

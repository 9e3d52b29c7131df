"""`cablepin serve`: run the cloud service."""

from __future__ import annotations


def serve() -> None:
    """Run the cloud service (API and portal)."""
    raise SystemExit("not built yet")

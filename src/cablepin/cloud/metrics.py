"""The cloud's own metrics (Prometheus), defined once; ``observability.py`` serves them.

Counters and histograms count in the process that saw the event; under
``cablepin serve`` every worker writes them to ``PROMETHEUS_MULTIPROC_DIR`` and
``/metrics`` sums the files. Label values are bounded sets (route templates,
status codes, reasons), never a serial, an e-mail or anything a caller typed.
"""

from __future__ import annotations

from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import Engine, event

__all__ = [
    "LATENCY",
    "LOGINS_REFUSED",
    "MAIL_DELIVERIES",
    "POOL_CHECKED_OUT",
    "POOL_CONNECTS",
    "POOL_OPEN",
    "REGISTRY",
    "REQUESTS",
    "SESSIONS_INGESTED",
    "instrument_pool",
]

# The process's own metrics live in their own registry, so that several apps in one
# process (tests) share them and nothing else registers into it.
REGISTRY: Final = CollectorRegistry(auto_describe=True)

REQUESTS: Final = Counter(
    "cablepin_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY: Final = Histogram(
    "cablepin_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
SESSIONS_INGESTED: Final = Counter(
    "cablepin_sessions_ingested",
    "Charging sessions stored from app uploads (duplicates not counted)",
    registry=REGISTRY,
)
LOGINS_REFUSED: Final = Counter(
    "cablepin_logins_refused",
    "Sign-ins refused (API and portal), by reason: wrong_credentials or throttled",
    ["reason"],
    registry=REGISTRY,
)
MAIL_DELIVERIES: Final = Counter(
    "cablepin_mail_deliveries",
    "Attempts to hand an outbox message to the SMTP server, by outcome: sent, deferred "
    "(temporary refusal, tried again later) or failed (given up; support can retry)",
    ["outcome"],
    registry=REGISTRY,
)
# Pool gauges move with SQLAlchemy's pool events, so every worker's share is summed
# ("livesum": a worker that has ended no longer counts).
POOL_CHECKED_OUT: Final = Gauge(
    "cablepin_db_pool_checked_out",
    "Database connections lent out to requests right now (all workers)",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_OPEN: Final = Gauge(
    "cablepin_db_pool_connections",
    "Database connections open right now, idle or lent out (all workers)",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_CONNECTS: Final = Counter(
    "cablepin_db_pool_connects",
    "Database connections opened since start (a growing rate means reconnects)",
    registry=REGISTRY,
)


def instrument_pool(engine: Engine) -> None:
    """Move the pool gauges with the engine's pool events."""

    @event.listens_for(engine, "connect")
    def _connect(*_: Any) -> None:
        POOL_CONNECTS.inc()
        POOL_OPEN.inc()

    @event.listens_for(engine, "close")
    def _close(*_: Any) -> None:
        POOL_OPEN.dec()

    @event.listens_for(engine, "close_detached")
    def _close_detached(*_: Any) -> None:
        POOL_OPEN.dec()

    @event.listens_for(engine, "checkout")
    def _checkout(*_: Any) -> None:
        POOL_CHECKED_OUT.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(*_: Any) -> None:
        POOL_CHECKED_OUT.dec()

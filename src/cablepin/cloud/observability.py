"""What operators and the load test see of a running cloud: metrics, JSON logs, request ids.

Rules kept here:
- One ASGI middleware (``Observe``, outermost, so a 500 counts too) gives every
  HTTP request an id: a well-formed incoming ``X-Request-ID`` (``REQUEST_ID_RE``)
  is kept, anything else is replaced by a fresh one. The id is in a context
  variable for the whole request, on every log line written meanwhile
  (``RequestIdFilter``), and in the response's ``X-Request-ID``.
- Labels name the route *template* (``/api/v1/cables/{serial}``), never the raw
  path: a serial, an e-mail in a query or a token never becomes a label value,
  and the number of series stays bounded. A request no route matched is
  ``unmatched``.
- Log lines hold fixed fields only (method, route template, status, duration):
  no body, header, query string or path value is logged, so no PIN, password,
  token or IBAN can reach a log line (P7).
- Counters and histograms are per process; with several workers
  (``cablepin serve --workers N``) they live in ``PROMETHEUS_MULTIPROC_DIR``
  and ``/metrics`` sums every worker's files. Values read from the database
  (commands by kind and state, the outbox by state) are computed at scrape
  time, once, by the process that answers.
- ``/metrics`` answers only a bearer token equal to the setting
  ``metrics_token`` (compared in constant time); without that setting it is
  404: metrics are off.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, Final

from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cablepin.cloud.domain.outbox import MailState
from cablepin.cloud.headers import CloudApp
from cablepin.cloud.metrics import LATENCY, REGISTRY, REQUESTS
from cablepin.cloud.models import CommandRow, OutboxMessage

__all__ = [
    "LOG_CONFIG",
    "METRICS_PATH",
    "MULTIPROC_ENV",
    "REQUEST_ID_HEADER",
    "CommandsCollector",
    "Observe",
    "ObservedApp",
    "RequestIdFilter",
    "current_request_id",
    "mark_worker_gone",
    "metrics_response",
]

METRICS_PATH: Final = "/metrics"
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_ID_HEADER: Final = "X-Request-ID"
# What we accept from a caller (a proxy's or load balancer's id): short, printable, no spaces.
REQUEST_ID_RE: Final = re.compile(r"[A-Za-z0-9._:-]{8,128}")
UNMATCHED: Final = "unmatched"
LOGGER = logging.getLogger("cablepin.cloud.request")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cablepin_request_id", default=None
)


def current_request_id() -> str | None:
    """The id of the request this code runs for, or ``None`` outside one."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every log record (``None`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


LOG_FIELDS: Final = ["levelname", "name", "message", "request_id", "process"]

# For ``uvicorn.run(log_config=...)``: every worker applies it at start. One JSON
# object per line on stderr; uvicorn's own access log is off (it would write the raw
# path and query), ``cablepin.cloud.request`` writes one line per request instead.
LOG_CONFIG: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "cablepin.cloud.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": LOG_FIELDS,
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        }
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "cablepin": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}


def _route_template(scope: Scope, templates: dict[int, str]) -> str:
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    found = templates.get(id(route))
    if found is not None:
        return found
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class Observe:
    """Pure ASGI, outermost: request id, one log line and the HTTP metrics per request.

    ``templates`` maps each route object to its full path template (FastAPI keeps an
    included router's prefix outside the route object); the app fills it in once its
    routes are final.
    """

    def __init__(self, app: ASGIApp, templates: dict[int, str]) -> None:
        self.app = app
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = str(scope.get("method", ""))
            route = _route_template(scope, self.templates)
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            LOGGER.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            _request_id.reset(token)


class CommandsCollector(Collector):
    """``cablepin_commands{kind,state}``: rows of the commands table, counted at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "cablepin_commands",
            "Cloud-signed commands stored, by kind and state (read from the database)",
            labels=["kind", "state"],
        )
        query = select(CommandRow.kind, CommandRow.state, func.count()).group_by(
            CommandRow.kind, CommandRow.state
        )
        try:
            with self.engine.connect() as connection:
                rows = list(connection.execute(query))
        except SQLAlchemyError:
            # Metrics matter most when the database is away: serve the rest without these.
            logging.getLogger("cablepin.cloud.metrics").warning(
                "metrics: the database did not answer; cablepin_commands left out"
            )
            return
        for kind, state, count in rows:
            family.add_metric([str(kind), str(state)], float(count))
        yield family


class OutboxCollector(Collector):
    """``cablepin_outbox_messages{state}``: the outbox's backlog, counted at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "cablepin_outbox_messages",
            "E-mail in the outbox by state: pending (waiting, maybe for a retry), sending, "
            "sent, failed (given up; support can retry) (read from the database)",
            labels=["state"],
        )
        query = select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
        try:
            with self.engine.connect() as connection:
                found = {str(state): int(count) for state, count in connection.execute(query)}
        except SQLAlchemyError:
            logging.getLogger("cablepin.cloud.metrics").warning(
                "metrics: the database did not answer; cablepin_outbox_messages left out"
            )
            return
        for state in MailState:
            family.add_metric([state.value], float(found.get(state.value, 0)))
        yield family


class _Processes(Collector):
    """This process's metrics, or, with several workers, every worker's files summed."""

    def collect(self) -> Iterable[Metric]:
        directory = os.environ.get(MULTIPROC_ENV)
        if directory:
            # prometheus-client's multiprocess module has no type hints.
            summed = multiprocess.MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
            families: Iterable[Metric] = summed.collect()  # type: ignore[no-untyped-call]
            return families
        return REGISTRY.collect()


def metrics_response(request: Request, engine: Engine, token: str | None) -> Response:
    """The answer to ``GET /metrics``: Prometheus text, for the holder of the metrics token."""
    if token is None:
        return JSONResponse(
            {
                "error": "not_found",
                "message": "metrics are off; set CABLEPIN_METRICS_TOKEN to serve them",
            },
            status_code=404,
        )
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token}"
    if not secrets.compare_digest(given.encode(), expected.encode()):
        return JSONResponse(
            {
                "error": "unauthorized",
                "message": "send the metrics token (CABLEPIN_METRICS_TOKEN) as a bearer token",
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Processes())
    registry.register(CommandsCollector(engine))
    registry.register(OutboxCollector(engine))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def mark_worker_gone() -> None:
    """At a worker's shutdown: drop its live gauges from the shared directory."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class ObservedApp(CloudApp):
    """The cloud's app class: ``Observe`` outside the security headers, so it sees every answer.

    ``route_templates`` is filled in by ``create_app`` once every router is included.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.route_templates: dict[int, str] = {}
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return Observe(super().build_middleware_stack(), self.route_templates)

    def learn_route_templates(self) -> None:
        self.route_templates.clear()
        for context in iter_route_contexts(self.routes):
            if context.path:
                self.route_templates[id(context.original_route)] = context.path

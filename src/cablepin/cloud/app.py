"""The FastAPI application factory of the cloud service.

``create_app(settings)`` wires settings, keys, the database and the routers;
API request bodies are capped at 1 MiB (``api/limits.py``: 413 ``too_large``).
Every response gets its security headers from one middleware (``headers.py``,
outermost, so error responses too); ``/openapi.json`` is ``api/openapi.py``'s
exact document. There is no ``/docs`` or ``/redoc``: FastAPI's pages load
Swagger UI and ReDoc from a CDN, which the CSP forbids.
Outside even those headers, ``observability.Observe`` gives every request its id,
its log line and its metrics; ``/healthz`` is liveness (the process answers),
``/readyz`` readiness (the database answers too), ``/metrics`` Prometheus text
for the holder of the metrics token (not in the OpenAPI document: it is not JSON).
It does not migrate: ``cablepin serve``/``admin`` do that first
(``cablepin.cloud.db.migrate``). The portal router is included only when
``cablepin.cloud.portal`` exists and exposes ``router``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import text

from cablepin.cloud import mail
from cablepin.cloud.api import errors, openapi
from cablepin.cloud.api.billing_routes import TARIFF_UPLOAD_LIMIT, TARIFF_UPLOAD_PATH
from cablepin.cloud.api.billing_routes import router as billing_router
from cablepin.cloud.api.limits import MAX_BODY, BodyLimit
from cablepin.cloud.api.payout_routes import router as payout_router
from cablepin.cloud.api.privacy_routes import router as privacy_router
from cablepin.cloud.api.routes import connect_router
from cablepin.cloud.api.routes import router as api_router
from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.domain.policy import check_complete
from cablepin.cloud.keys import load_keys
from cablepin.cloud.metrics import instrument_pool
from cablepin.cloud.observability import (
    METRICS_PATH,
    ObservedApp,
    mark_worker_gone,
    metrics_response,
)
from cablepin.cloud.services import accounts
from cablepin.cloud.settings import Settings

__all__ = ["API_PREFIX", "api_routes", "app_from_env", "create_app", "utc_now"]

API_PREFIX = "/api/v1"
PORTAL_MODULE = "cablepin.cloud.portal"
_LIVE = {
    "type": "object",
    "properties": {"status": {"type": "string"}},
    "required": ["status"],
}
_READY = {
    "type": "object",
    "properties": {"status": {"type": "string"}, "database": {"type": "boolean"}},
    "required": ["status", "database"],
}
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the process serves (liveness: the database is not asked)",
        "content": {"application/json": {"schema": _LIVE}},
    },
}
READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "ready: the database answers",
        "content": {"application/json": {"schema": _READY}},
    },
    503: {
        "description": "not ready: the database does not answer",
        "content": {"application/json": {"schema": _READY}},
    },
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], dt.datetime] = utc_now
) -> FastAPI:
    settings = settings or Settings()
    keys = load_keys(settings.keys)
    accounts.configure_password_hashing(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        slots=settings.password_hash_slots,
    )
    mail.configure(public_url=settings.public_url)
    engine = make_engine(settings.db_url())
    instrument_pool(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()
        mark_worker_gone()

    app = ObservedApp(
        title="cablepin cloud",
        version="1",
        description="Fleet operations, PIN-reset permissions, handovers and session sync "
        "for PIN-protected charging cables. See docs/api.md for the flows.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keys = keys
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.clock = clock
    portal = _portal()
    errors.install(app, page=getattr(portal, "error_page", None), api_prefix=API_PREFIX)
    app.add_middleware(
        BodyLimit,
        limit=MAX_BODY,
        prefix=f"{API_PREFIX}/",
        overrides={TARIFF_UPLOAD_PATH: TARIFF_UPLOAD_LIMIT},
    )
    # The connect first: it is the hot path (B3), and routing tries the routes in order.
    app.include_router(connect_router)
    app.include_router(api_router)
    app.include_router(billing_router)
    app.include_router(privacy_router)
    app.include_router(payout_router)

    @app.get("/healthz", tags=["health"], responses=HEALTH_RESPONSES)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", tags=["health"], responses=READY_RESPONSES)
    def readyz() -> JSONResponse:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # the probe must answer, whatever the database does
            return JSONResponse({"status": "unavailable", "database": False}, status_code=503)
        return JSONResponse({"status": "ok", "database": True})

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics(request: Request) -> Response:
        return metrics_response(request, engine, settings.metrics_token)

    router = getattr(portal, "router", None)
    if router is not None:
        app.include_router(router)

    check_complete(api_routes(app))
    app.learn_route_templates()
    openapi.install(app, api_prefix=API_PREFIX)
    return app


def _portal() -> ModuleType | None:
    """The portal package, when it is installed (the API runs without it)."""
    if importlib.util.find_spec(PORTAL_MODULE) is None:
        return None
    return importlib.import_module(PORTAL_MODULE)


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every ``(method, path)`` under ``/api/v1``, however the routers were included."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or ""
        if isinstance(route, APIRoute) and path.startswith(API_PREFIX):
            found.update((method, path) for method in route.methods or ())
    return sorted(found)


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory`` (several workers): settings come from CABLEPIN_*."""
    return create_app(Settings())

"""Turns every refusal into ``{"error": code, "message": text, ...}`` (U2).

Validation errors come out as 422 ``invalid_request``; a body that is not
JSON in UTF-8 as 400 ``invalid_json``; unknown routes as 404 ``not_found``;
a method the path does not take as 405 ``method_not_allowed`` with an
``Allow`` header naming every method of that path (Starlette's own names only
the first route's); a database connection that broke while the request used
it (a database restart or failover, ``pg_terminate_backend``) as 503
``database_unavailable`` with ``Retry-After``, since sending the request
again is what helps (the soak test found these as 500s); anything else
unexpected as 500 ``internal_error`` without internals (the traceback goes
to the log, which never holds a PIN).
The machine paths (the API, ``/openapi.json``, ``/healthz``, ``/readyz``,
``/metrics``) always answer
JSON; only the portal's URLs get the portal's HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from cablepin.cloud.errors import CloudError, DatabaseUnavailable
from cablepin.cloud.headers import is_machine_path

__all__ = ["install"]

log = logging.getLogger("cablepin.cloud")

HTTP_CODES = {
    400: "invalid_json",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
}


def _cloud_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CloudError)
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if "retry_after_s" in exc.details:
        headers["Retry-After"] = str(exc.details["retry_after_s"])
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


# A connect without the cable's hello signature is a bad hello, not just a bad form.
HELLO_SIGNATURE_FIELDS = frozenset({"body.sig", "body.locked", "body.challenge"})


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields: list[dict[str, Any]] = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error.get("loc", ()))
        fields.append({"field": loc, "problem": str(error.get("msg", "invalid"))})
    summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
    if request.url.path.endswith("/connect") and any(
        f["field"] in HELLO_SIGNATURE_FIELDS for f in fields
    ):
        return JSONResponse(
            {
                "error": "bad_hello",
                "message": f"the hello is incomplete ({summary}); connect to the cable again; "
                "relay the hello exactly as the cable sent it (with its sig, locked and challenge)",
                "fields": fields,
            },
            status_code=422,
        )
    return JSONResponse(
        {
            "error": "invalid_request",
            "message": f"the request is not valid ({summary}); fix it and send it again",
            "fields": fields,
        },
        status_code=422,
    )


#: Renders an HTML page for a browser (the portal's); given ``(request, status)``.
PageRenderer = Callable[[Request, int], Response]


def allowed_methods(request: Request) -> str:
    """Every method some route takes at this path, for the ``Allow`` header of a 405."""
    path = request.url.path
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        route_methods = getattr(context.original_route, "methods", None)
        if context.path and route_methods and compile_path(context.path)[0].fullmatch(path):
            methods.update(route_methods)
    return ", ".join(sorted(methods))


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = {
        # The only 400 FastAPI raises is for a body it cannot decode.
        400: "the request body is not JSON encoded as UTF-8; send a JSON object in UTF-8",
        404: "there is no such page or route; check the URL (the API lives under /api/v1)",
        405: "this route does not take that method; see /openapi.json",
    }.get(exc.status_code, str(exc.detail))
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return JSONResponse(
        {"error": code, "message": message}, status_code=exc.status_code, headers=headers
    )


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return JSONResponse(
        {
            "error": "internal_error",
            "message": "the server failed; try again later, and tell support if it persists",
        },
        status_code=500,
    )


#: Seconds a client waits before sending a request again after a lost database connection.
RETRY_AFTER_DB_S = 1


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if not exc.connection_invalidated:
        return _unexpected(request, exc)
    log.warning("database connection lost during a request", exc_info=exc)
    return _cloud_error(
        request,
        DatabaseUnavailable(
            "the cloud lost its connection to the database while answering; "
            "send the request again in a moment",
            retry_after_s=RETRY_AFTER_DB_S,
        ),
    )


def install(app: FastAPI, *, page: PageRenderer | None = None, api_prefix: str = "/api") -> None:
    """Our error shape for the API; with ``page``, a browser's unknown URL gets a page."""

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        path = request.url.path
        if page is None or path.startswith(api_prefix) or is_machine_path(path):
            return _http_error(request, exc)
        response = page(request, exc.status_code)
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    app.add_exception_handler(CloudError, _cloud_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)

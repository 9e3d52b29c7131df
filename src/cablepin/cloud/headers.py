"""Security headers for every HTTP response of the cloud, from this one middleware.

Rules kept here:
- Every response (API JSON, the login's token, ``/openapi.json``, ``/healthz``,
  portal pages, error pages, even the 500 of an unexpected exception, because
  ``CloudApp`` puts this middleware outside Starlette's error handling) carries
  ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, a
  ``Referrer-Policy``, a ``Content-Security-Policy`` and ``Cache-Control``.
- Machine-readable responses (under ``/api/``, ``/openapi.json``, the probes
  ``/healthz`` and ``/readyz``, ``/metrics``)
  get ``default-src 'none'`` (JSON needs nothing loaded) and ``no-referrer``;
  API and health answers are ``no-store`` (tokens, fleet data), the public
  OpenAPI document ``no-cache``. Pages get the portal's CSP (own origin only,
  no inline script) and ``same-origin``.
- ``Strict-Transport-Security`` only when the request came over HTTPS (the ASGI
  scheme, which uvicorn's ``--proxy-headers`` takes from a trusted proxy): HSTS
  sent over plain HTTP is ignored by browsers and would mislead a reader.
- A header a route set itself wins (the login page's ``no-referrer``, a static
  file's ``max-age``): these are defaults, set only where missing.
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "API_CSP",
    "HSTS",
    "PAGE_CSP",
    "CloudApp",
    "SecurityHeaders",
    "defaults_for",
    "download_headers",
    "is_machine_path",
]

API_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HSTS: Final = "max-age=63072000; includeSubDomains"
OPENAPI_PATH: Final = "/openapi.json"
HEALTH_PATH: Final = "/healthz"
# Readiness and Prometheus metrics (cloud/observability.py): for programs too.
PROBE_PATHS: Final = (HEALTH_PATH, "/readyz", "/metrics")
API_PATHS: Final = "/api/"


def download_headers(name: str) -> dict[str, str]:
    """A file about people goes out as a download, never shown on our origin, never cached.

    For every such file (a tariff's proof, a receipt PDF, a payroll or SEPA file): a
    stored upload that starts with ``%PDF-`` may still carry HTML, and served inline
    on the portal's origin a browser could run it there.
    """
    return {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }


def is_machine_path(path: str) -> bool:
    """The paths that answer programs (the API, its document, the probes, the metrics)."""
    return path.startswith(API_PATHS) or path == OPENAPI_PATH or path in PROBE_PATHS


def defaults_for(path: str, *, https: bool) -> list[tuple[str, str]]:
    """The security headers a response to ``path`` gets unless it set them itself."""
    common = [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY")]
    if https:
        common.append(("Strict-Transport-Security", HSTS))
    if path == OPENAPI_PATH:
        return [
            *common,
            ("Content-Security-Policy", API_CSP),
            ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-cache"),
        ]
    if is_machine_path(path):
        return [
            *common,
            ("Content-Security-Policy", API_CSP),
            ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-store"),
        ]
    return [
        *common,
        ("Content-Security-Policy", PAGE_CSP),
        ("Referrer-Policy", "same-origin"),
        ("Cache-Control", "no-store"),
    ]


class SecurityHeaders:
    """Pure ASGI: adds ``defaults_for(path)`` to the response start, where missing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = defaults_for(str(scope.get("path", "")), https=scope.get("scheme") == "https")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in defaults:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CloudApp(FastAPI):
    """FastAPI with ``SecurityHeaders`` outermost, so even a 500 gets the headers.

    ``add_middleware`` would put it inside Starlette's ``ServerErrorMiddleware``,
    whose answer to an unexpected exception would then go out bare.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())

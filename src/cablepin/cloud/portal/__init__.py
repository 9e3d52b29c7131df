"""The fleet portal and support console: server-rendered pages on the cloud service.

``router`` is mounted by ``cablepin.cloud.create_app``. The portal is glue:
pages read through ``queries`` (organisation-scoped, keyset-paged) and every
action calls ``cablepin.cloud.services`` through ``backend``, so the portal
and the JSON API keep one set of rules.

**Invariant:** no page shows, asks for or stores a PIN (P7).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from cablepin.cloud.portal import (
    audit_routes,
    auth_routes,
    billing_routes,
    driver_routes,
    fleet_routes,
    mail_routes,
    me_routes,
    money_routes,
    support_routes,
)
from cablepin.cloud.portal.web import (
    BAD_LINK,
    FAILED,
    NOT_FOUND,
    PortalRoute,
    Refusal,
    error_page_for,
)

__all__ = ["STATIC", "error_page", "router"]

STATIC = Path(__file__).resolve().parent.parent / "static"
_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The portal's few static files (no directory walking: names only)."""
    path = STATIC / name
    if (
        "/" in name
        or name.startswith(".")
        or path.suffix not in _STATIC_TYPES
        or not path.is_file()
    ):
        raise Refusal(404, *NOT_FOUND)
    return Response(
        path.read_bytes(),
        media_type=_STATIC_TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


for _module in (
    auth_routes,
    fleet_routes,
    driver_routes,
    me_routes,
    billing_routes,
    money_routes,
    audit_routes,
    support_routes,
    mail_routes,
):
    router.include_router(_module.router)


def error_page(request: Request, status: int) -> Response:
    """A page, not JSON, for a browser's URL that matches no route (404) or method (405)."""
    if status == 404:
        return error_page_for(request, status, *NOT_FOUND)
    return error_page_for(request, status, FAILED, BAD_LINK)

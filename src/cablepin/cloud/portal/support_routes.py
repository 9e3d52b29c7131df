"""The support console: find any cable across organisations, act with a reason.

Reading is no exception: the search finds cables by serial number only and its
list shows serial and organisation only; opening a cable page asks for a reason
first, and the read is audited in the cable organisation's log (R1).

Support acts only in exceptional cases (R1): every action here calls the same
service as the fleet pages, which demands a reason from support and writes
it to the cable organisation's audit log, where its fleet managers read it.
The banner in the layout shows on every page while a support user is signed in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Response

from cablepin.cloud.errors import CloudError, ReasonRequired
from cablepin.cloud.portal import backend, queries
from cablepin.cloud.portal.fleet_routes import _list, cable_view
from cablepin.cloud.portal.forms import field, refusal_text
from cablepin.cloud.portal.web import CsrfForm, Ctx, PortalRoute, SupportCtx, redirect, render

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/support")
def console(ctx: SupportCtx) -> Response:
    """The search across organisations: exempt from a reason because it finds cables by
    serial number only and shows serial and organisation only (ARCHITECTURE.md, "Security
    decisions"); a name or e-mail address finds nothing here, the cable page needs a reason."""
    q = (ctx.request.query_params.get("q") or "").strip()
    if q and not queries.looks_like_serial(q):
        return render(
            ctx,
            "portal/support.html",
            page=queries.CablePage(rows=[], total=0, next_after=None),
            q=q,
            searched=True,
            serial_search=False,
        )
    return _list(
        ctx,
        org_id=None,
        template="portal/support.html",
        searched=bool(q),
        serial_search=True,
    )


@router.get("/support/cables/{serial}")
def support_cable(ctx: SupportCtx, serial: str) -> Response:
    # The reason for reading this organisation's cable: asked first, audited by the service.
    read_reason = (ctx.request.query_params.get("reason") or "").strip()[:1000] or None
    return cable_view(ctx, serial, template="portal/support_cable.html", read_reason=read_reason)


def _read_reason(form: Any) -> str | None:
    """The reason the page was opened with, carried by the action forms (hidden field)."""
    return field(form, "read_reason")[:1000] or None


def _act(ctx: Ctx, serial: str, values: dict[str, str], done: str, action: Any) -> Response:
    assert ctx.user is not None
    read_reason = values.get("read_reason") or None
    try:
        action(backend.actor(ctx.db, ctx.user))
    except ReasonRequired:
        ctx.db.rollback()
        return cable_view(
            ctx,
            serial,
            status=422,
            template="portal/support_cable.html",
            error=ctx.gettext(
                "Please give a reason. Support actions are only allowed with a reason."
            ),
            form=values,
            invalid=values.get("which", ""),
            read_reason=read_reason,
        )
    except CloudError as e:
        ctx.db.rollback()
        return cable_view(
            ctx,
            serial,
            status=e.status,
            template="portal/support_cable.html",
            error=refusal_text(ctx.translations, e),
            form=values,
            read_reason=read_reason,
        )
    query = urlencode({"done": done, **({"reason": read_reason} if read_reason else {})})
    return redirect(ctx, f"/support/cables/{serial}?{query}")


@router.post("/support/cables/{serial}/pin-reset")
def support_pin_reset(ctx: SupportCtx, serial: str, form: CsrfForm) -> Response:
    values = {
        "which": "pin",
        "pin_reason": field(form, "reason"),
        "read_reason": _read_reason(form) or "",
    }
    return _act(
        ctx,
        serial,
        values,
        "pin_reset_allowed",
        lambda who: backend.cables.allow_pin_reset(
            ctx.db, who, serial, now=ctx.now, reason=values["pin_reason"]
        ),
    )


@router.post("/support/cables/{serial}/reset")
def support_reset(ctx: SupportCtx, serial: str, form: CsrfForm) -> Response:
    values = {
        "which": "reset",
        "reset_reason": field(form, "reason"),
        "confirm": field(form, "confirm"),
        "read_reason": _read_reason(form) or "",
    }
    if values["confirm"] != "yes":
        return cable_view(
            ctx,
            serial,
            status=422,
            template="portal/support_cable.html",
            error=ctx.gettext("Please confirm that unsynced sessions will be deleted."),
            form=values,
            invalid="confirm",
            read_reason=values["read_reason"] or None,
        )
    return _act(
        ctx,
        serial,
        values,
        "reset_started",
        lambda who: backend.cables.reset_cable(
            ctx.db, who, serial, now=ctx.now, reason=values["reset_reason"]
        ),
    )

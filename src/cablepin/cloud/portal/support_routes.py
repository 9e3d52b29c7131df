"""The support console: find any cable across organisations, act with a reason.

Support acts only in exceptional cases (R1): every action here calls the same
service as the fleet pages, which demands a reason from support and writes
it to the cable organisation's audit log, where its fleet managers read it.
The banner in the layout shows on every page while a support user is signed in.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from cablepin.cloud.errors import CloudError, ReasonRequired
from cablepin.cloud.portal import backend, queries
from cablepin.cloud.portal.fleet_routes import _list, cable_view
from cablepin.cloud.portal.forms import field, refusal_text
from cablepin.cloud.portal.web import CsrfForm, Ctx, PortalRoute, SupportCtx, redirect

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/support")
def console(ctx: SupportCtx) -> Response:
    q = (ctx.request.query_params.get("q") or "").strip()
    return _list(
        ctx,
        org_id=None,
        template="portal/support.html",
        searched=bool(q),
        serial_search=queries.looks_like_serial(q),
    )


@router.get("/support/cables/{serial}")
def support_cable(ctx: SupportCtx, serial: str) -> Response:
    return cable_view(ctx, serial, template="portal/support_cable.html")


def _act(ctx: Ctx, serial: str, values: dict[str, str], done: str, action: Any) -> Response:
    assert ctx.user is not None
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
        )
    return redirect(ctx, f"/support/cables/{serial}?done={done}")


@router.post("/support/cables/{serial}/pin-reset")
def support_pin_reset(ctx: SupportCtx, serial: str, form: CsrfForm) -> Response:
    values = {"which": "pin", "pin_reason": field(form, "reason")}
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

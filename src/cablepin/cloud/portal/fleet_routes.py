"""Fleet manager pages: overview, cable list, cable page and the cable actions.

Every action calls ``services.cables`` with the signed-in fleet manager as
actor; the services check organisation and state. A refusal re-renders the
cable page with the message and with what was typed (U2).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from cablepin.cloud.errors import CloudError, ReasonRequired, UnknownDriver
from cablepin.cloud.portal import backend, queries
from cablepin.cloud.portal.forms import field, refusal_text
from cablepin.cloud.portal.web import (
    CsrfForm,
    Ctx,
    FleetCtx,
    PortalRoute,
    not_found,
    redirect,
    render,
)

__all__ = ["ask_reason", "cable_view", "router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

POOL = "pool"


@router.get("/")
def overview(ctx: FleetCtx) -> Response:
    counts = queries.overview(ctx.db, ctx.org_id, ctx.now)
    return render(
        ctx,
        "portal/overview.html",
        counts=counts,
        stale_days=queries.STALE_DAYS,
        org=queries.org_name(ctx.db, ctx.org_id),
    )


def _list(ctx: Ctx, *, org_id: int | None, template: str, **extra: Any) -> Response:
    params = ctx.request.query_params
    q = (params.get("q") or "").strip()[:100]
    which = queries.CableFilter.parse(params.get("filter"))
    after = (params.get("after") or "").strip()[:32] or None
    page = queries.cable_page(ctx.db, org_id=org_id, now=ctx.now, q=q, which=which, after=after)
    return render(
        ctx,
        template,
        page=page,
        q=q,
        which=which.value,
        after=after,
        filters=[f.value for f in queries.CableFilter],
        **extra,
    )


@router.get("/cables")
def cable_list(ctx: FleetCtx) -> Response:
    return _list(ctx, org_id=ctx.org_id, template="portal/cables.html")


def cable_view(
    ctx: Ctx,
    serial: str,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
    template: str = "portal/cable.html",
    read_reason: str | None = None,
    **extra: Any,
) -> Response:
    """The cable page; the services decide whether this user may see this cable (404).

    Support must give a reason to read it (``read_reason``, audited by the service);
    without one, support gets the small form that asks for it, and nothing of the cable.
    """
    org_id = None if ctx.is_support else ctx.org_id
    cable_id = queries.cable_id_in_org(ctx.db, serial, org_id)
    if cable_id is None:
        raise not_found()
    try:
        detail = backend.cables.cable_detail(
            ctx.db, backend.actor(ctx.db, _user(ctx)), serial, now=ctx.now, reason=read_reason
        )
    except ReasonRequired:
        ctx.db.rollback()
        return ask_reason(ctx, f"/support/cables/{serial}")
    cable_org = queries.org_name_for_cable(ctx.db, cable_id)
    # Driver pickers are a search (``?driver_q=``): a few matches, never every driver.
    driver_q = (ctx.request.query_params.get("driver_q") or "").strip()[:100]
    if form and not driver_q:
        driver_q = form.get("driver_email") or form.get("to") or ""
        driver_q = "" if driver_q == POOL else driver_q
    fleet = not ctx.is_support and ctx.org_id is not None
    return render(
        ctx,
        template,
        status=status,
        cable=detail,
        history=queries.cable_history(ctx.db, cable_id),
        choices=queries.driver_choices(ctx.db, ctx.org_id, driver_q) if fleet else None,
        driver_q=driver_q,
        any_driver=fleet and queries.has_active_driver(ctx.db, ctx.org_id),
        org=cable_org,
        error=error,
        form=form or {},
        read_reason=read_reason or "",
        **extra,
    )


def ask_reason(ctx: Ctx, action: str, keep: list[tuple[str, str]] | None = None) -> Response:
    """Support's reason form before a read of another organisation's data (R1).

    ``keep``: query parameters (filters) to carry over to the read.
    """
    return render(ctx, "portal/support_reason.html", action=action, keep=keep or [])


def _user(ctx: Ctx) -> Any:
    assert ctx.user is not None
    return ctx.user


@router.get("/cables/{serial}")
def cable_page(ctx: FleetCtx, serial: str) -> Response:
    return cable_view(ctx, serial)


def _act(ctx: Ctx, serial: str, form: dict[str, str], done: str, action: Any) -> Response:
    """Run one service call; on refusal show the cable page again with the message."""
    try:
        action(backend.actor(ctx.db, _user(ctx)))
    except CloudError as e:
        ctx.db.rollback()
        return cable_view(
            ctx, serial, status=e.status, error=refusal_text(ctx.translations, e), form=form
        )
    base = "/support/cables" if ctx.is_support else "/cables"
    return redirect(ctx, f"{base}/{serial}?done={done}")


@router.post("/cables/{serial}/assign")
def assign(ctx: FleetCtx, serial: str, form: CsrfForm) -> Response:
    email = field(form, "driver_email")
    values = {"driver_email": email}
    if not email:
        return cable_view(
            ctx,
            serial,
            status=422,
            error=ctx.gettext("Please choose who gets the cable."),
            form=values,
        )
    return _act(
        ctx,
        serial,
        values,
        "assigned",
        lambda who: backend.cables.assign(ctx.db, who, serial, email, now=ctx.now),
    )


def parse_days(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 30:
        raise ValueError(text)
    return int(text)


@router.post("/cables/{serial}/pin-reset")
def allow_pin_reset(ctx: FleetCtx, serial: str, form: CsrfForm) -> Response:
    values = {"days": field(form, "days"), "reason": field(form, "reason")}
    try:
        days = parse_days(values["days"])
    except ValueError:
        return cable_view(
            ctx,
            serial,
            status=422,
            error=ctx.gettext("Please give a whole number of days from 1 to 30."),
            form=values,
        )
    return _act(
        ctx,
        serial,
        values,
        "pin_reset_allowed",
        lambda who: backend.cables.allow_pin_reset(
            ctx.db, who, serial, now=ctx.now, expires_in_days=days, reason=values["reason"] or None
        ),
    )


@router.post("/cables/{serial}/pin-reset/revoke")
def revoke_pin_reset(ctx: FleetCtx, serial: str, form: CsrfForm) -> Response:
    return _act(
        ctx,
        serial,
        {},
        "pin_reset_revoked",
        lambda who: backend.cables.revoke_pin_reset(ctx.db, who, serial, now=ctx.now),
    )


@router.get("/cables/{serial}/handover")
def handover_confirm(ctx: FleetCtx, serial: str, to: str = "") -> Response:
    """Step 2 of a handover: show the last sync and what the reset deletes (H4)."""
    to = to.strip()[:320]
    if not to:
        return cable_view(
            ctx, serial, status=422, error=ctx.gettext("Please choose who gets the cable.")
        )
    target_name = ctx.gettext("Pool (no driver)")
    if to != POOL:
        match = queries.active_driver(ctx.db, ctx.org_id, to)
        if match is None:
            return cable_view(
                ctx,
                serial,
                status=422,
                error=refusal_text(ctx.translations, _unknown_driver()),
                form={"to": to},
            )
        target_name = f"{match.name} <{match.email}>"
    return cable_view(
        ctx, serial, template="portal/handover_confirm.html", to=to, target_name=target_name
    )


def _unknown_driver() -> CloudError:
    return UnknownDriver("this driver is not an active driver of your organisation; choose another")


@router.post("/cables/{serial}/handover")
def start_handover(ctx: FleetCtx, serial: str, form: CsrfForm) -> Response:
    to = field(form, "to")
    if not to:
        return cable_view(
            ctx, serial, status=422, error=ctx.gettext("Please choose who gets the cable.")
        )
    email = None if to == POOL else to
    return _act(
        ctx,
        serial,
        {"to": to},
        "handover_started",
        lambda who: backend.cables.start_handover(ctx.db, who, serial, email, now=ctx.now),
    )


@router.post("/cables/{serial}/handover/cancel")
def cancel_handover(ctx: FleetCtx, serial: str, form: CsrfForm) -> Response:
    return _act(
        ctx,
        serial,
        {},
        "handover_cancelled",
        lambda who: backend.cables.cancel_handover(ctx.db, who, serial, now=ctx.now),
    )

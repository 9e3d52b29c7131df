"""Fleet manager pages about drivers: list, invite, re-invite, a driver's page, deactivation, CSV,
a driver's data (D1: the export, audited) and their erasure (D2: a confirm page, then a
CSRF-protected POST); the personnel number (M4; the driver's IBAN shows here masked only).

A fleet manager sees only their organisation's drivers and those drivers'
sessions (S3); another organisation's driver id answers 404.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from fastapi import APIRouter, Response
from markupsafe import Markup
from pydantic import ValidationError

from cablepin.cloud.billing_schemas import PayrollRequest
from cablepin.cloud.errors import CloudError
from cablepin.cloud.models import User
from cablepin.cloud.portal import backend, queries
from cablepin.cloud.portal.export import bar_chart_svg, csv_stream, kwh_text
from cablepin.cloud.portal.forms import field, refusal_text
from cablepin.cloud.portal.i18n import N_
from cablepin.cloud.portal.web import (
    CsrfForm,
    Ctx,
    FleetCtx,
    PathId,
    PortalRoute,
    bad_request,
    not_found,
    redirect,
    render,
)

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MONTH = re.compile(r"^[0-9]{4}-[0-9]{2}$", re.ASCII)


def _list(ctx: Ctx, *, status: int = 200, **extra: object) -> Response:
    """One page of drivers (keyset ``?after=``), optionally searched (``?q=``)."""
    params = ctx.request.query_params
    q = (params.get("q") or "").strip()[:100]
    after = (params.get("after") or "").strip()[:1000] or None
    page = queries.drivers(ctx.db, ctx.org_id, q=q, after=after)
    return render(
        ctx,
        "portal/drivers.html",
        status=status,
        drivers=page.rows,
        next_after=page.next_after,
        q=q,
        after=after,
        form=extra.pop("form", {}),
        **extra,
    )


@router.get("/drivers")
def driver_list(ctx: FleetCtx) -> Response:
    return _list(ctx)


@router.post("/drivers")
def driver_add(ctx: FleetCtx, form: CsrfForm) -> Response:
    values = {"name": field(form, "name"), "email": field(form, "email")}
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = ctx.gettext("Please enter a name.")
    elif backend.name_refusal(values["name"]) is not None:
        errors["name"] = ctx.gettext("Please enter the name on one line, at most 200 characters.")
    if not EMAIL.match(values["email"]) or len(values["email"]) > 320:
        errors["email"] = ctx.gettext("Please enter a valid e-mail address (name@example.com).")
    if errors:
        return _list(ctx, status=422, form=values, errors=errors)
    try:
        user, token, expires_at = backend.invite_driver(
            ctx.db,
            backend.actor(ctx.db, _me(ctx)),
            email=values["email"],
            name=values["name"],
            now=ctx.now,
        )
    except CloudError as e:
        ctx.db.rollback()
        message = (
            ctx.gettext(
                "This e-mail address is already taken. Use another or find the driver in the list."
            )
            if e.code == "already_exists"
            else refusal_text(ctx.translations, e)
        )
        return _list(ctx, status=e.status, form=values, errors={"email": message})
    link = backend.invitation_link(ctx.request, token)
    mailed = backend.mail_server(ctx.request) is not None
    return _list(
        ctx, invite={"email": user.email, "link": link, "expires": expires_at, "mailed": mailed}
    )


def _me(ctx: Ctx) -> User:
    assert ctx.user is not None
    return ctx.user


def _driver(ctx: Ctx, driver_id: int) -> User:
    found = queries.driver(ctx.db, ctx.org_id, driver_id)
    if found is None:
        raise not_found()
    return found


def _driver_page(
    ctx: Ctx, driver_id: int, *, status: int = 200, error: str | None = None, **extra: object
) -> Response:
    user = _driver(ctx, driver_id)
    months = queries.sessions_by_month(ctx.db, user.id, ctx.now)
    title = ctx.gettext("Chart: kWh per month; the table next to it has the same values.")
    chart = Markup(bar_chart_svg(months, title=title))  # noqa: S704 - numbers only, escaped
    return render(
        ctx,
        "portal/driver.html",
        status=status,
        driver=user,
        cables=queries.driver_cables(ctx.db, user.id),
        months=list(reversed(months)),
        has_sessions=any(m.count for m in months),
        chart=chart,
        error=error,
        invitation=queries.pending_invitation(ctx.db, user.id, ctx.now),
        account=backend.payouts.account_of(ctx.db, user.id),
        **extra,
    )


@router.get("/drivers/{driver_id}")
def driver_page(ctx: FleetCtx, driver_id: PathId) -> Response:
    return _driver_page(ctx, driver_id)


@router.post("/drivers/{driver_id}/deactivate")
def driver_deactivate(ctx: FleetCtx, driver_id: PathId, form: CsrfForm) -> Response:
    user = _driver(ctx, driver_id)
    if field(form, "confirm") != "yes":
        return _driver_page(
            ctx,
            driver_id,
            status=422,
            error=ctx.gettext("Please tick the box to confirm the deactivation."),
        )
    try:
        backend.deactivate_driver(ctx.db, backend.actor(ctx.db, _me(ctx)), user.id, now=ctx.now)
    except CloudError as e:
        ctx.db.rollback()
        return _driver_page(
            ctx, driver_id, status=e.status, error=refusal_text(ctx.translations, e)
        )
    return redirect(ctx, f"/drivers/{driver_id}?done=deactivated")


@router.get("/drivers/{driver_id}/export")
def driver_export(ctx: FleetCtx, driver_id: PathId) -> Response:
    """D1 for a driver of the organisation: the API's export, audited as ``driver.exported``."""
    # Here, not at the top: services -> mail -> portal would import the API while it loads.
    from cablepin.cloud.api.privacy_routes import export_response

    user = _driver(ctx, driver_id)
    actor = backend.actor(ctx.db, _me(ctx))
    found = backend.privacy.find_driver(ctx.db, actor, user.email)
    backend.privacy.record_export(ctx.db, actor, found, now=ctx.now)
    return export_response(
        ctx.request, found.id, ctx.now, filename=f"cablepin-driver-{found.id}.json"
    )


def _erase_page(ctx: Ctx, user: User, *, status: int = 200, error: str | None = None) -> Response:
    return render(
        ctx,
        "portal/driver_erase.html",
        status=status,
        driver=user,
        cables=[c for c in queries.driver_cables(ctx.db, user.id) if c.ended_at is None],
        years=backend.retention_years(ctx.request),
        error=error,
    )


@router.get("/drivers/{driver_id}/erase")
def driver_erase_confirm(ctx: FleetCtx, driver_id: PathId) -> Response:
    """D2, step 1: what erasing this driver does, and the confirmation form."""
    return _erase_page(ctx, _driver(ctx, driver_id))


@router.post("/drivers/{driver_id}/erase")
def driver_erase(ctx: FleetCtx, driver_id: PathId, form: CsrfForm) -> Response:
    """D2, step 2: hand the cables over, delete the personal data, keep the receipts."""
    user = _driver(ctx, driver_id)
    if field(form, "confirm") != "yes":
        return _erase_page(
            ctx,
            user,
            status=422,
            error=ctx.gettext("Please tick the box to confirm the erasure."),
        )
    try:
        backend.privacy.erase_driver(
            ctx.db,
            backend.actor(ctx.db, _me(ctx)),
            user.email,
            now=ctx.now,
            years=backend.retention_years(ctx.request),
            reason=field(form, "reason")[:1000] or None,
        )
    except CloudError as e:
        ctx.db.rollback()
        return _erase_page(ctx, user, status=e.status, error=refusal_text(ctx.translations, e))
    return redirect(ctx, "/drivers?done=erased")


@router.post("/drivers/{driver_id}/payroll")
def driver_payroll(ctx: FleetCtx, driver_id: PathId, form: CsrfForm) -> Response:
    """The driver's personnel number, the payroll file's first column (M4)."""
    user = _driver(ctx, driver_id)
    try:
        request = PayrollRequest(personnel_number=field(form, "personnel_number"))
    except ValidationError:
        return _driver_page(
            ctx,
            driver_id,
            status=422,
            error=ctx.gettext(
                "Enter the personnel number as payroll knows it: up to 20 letters and digits "
                "(also . / -), starting with a letter or digit."
            ),
        )
    try:
        backend.payouts.set_personnel_number(
            ctx.db, backend.actor(ctx.db, _me(ctx)), user.email, request, now=ctx.now
        )
    except CloudError as e:
        ctx.db.rollback()
        return _driver_page(
            ctx, driver_id, status=e.status, error=refusal_text(ctx.translations, e)
        )
    return redirect(ctx, f"/drivers/{driver_id}?done=payroll_saved")


# Session months live well inside these years; the month after 9999-12 does not exist.
MIN_YEAR, MAX_YEAR = 1970, 9998


@router.post("/drivers/{driver_id}/invitation")
def driver_reinvite(ctx: FleetCtx, driver_id: PathId, form: CsrfForm) -> Response:
    """A fresh one-time link for an invited driver who never chose a password.

    The service voids the older links and audits ``driver.reinvited``; the new
    link is shown once, on this answer only (like after adding a driver).
    """
    user = _driver(ctx, driver_id)
    # Why the service may refuse, read before it runs (its Conflict carries no sub-code).
    why = (
        N_(
            "This driver is deactivated; an invitation link would not let them in. Contact "
            "support if they need access again."
        )
        if not user.active
        else N_(
            "This driver has already chosen a password and can sign in to the app; no new "
            "invitation link is needed. Reload the page to see the current state."
        )
    )
    try:
        _user, token, expires_at = backend.reissue_invitation(
            ctx.db, backend.actor(ctx.db, _me(ctx)), user.id, now=ctx.now
        )
    except CloudError as e:
        ctx.db.rollback()
        message = ctx.gettext(why) if e.code == "conflict" else refusal_text(ctx.translations, e)
        return _driver_page(ctx, driver_id, status=e.status, error=message)
    link = backend.invitation_link(ctx.request, token)
    mailed = backend.mail_server(ctx.request) is not None
    return _driver_page(
        ctx, driver_id, new_invite={"link": link, "expires": expires_at, "mailed": mailed}
    )


BAD_MONTH = N_(
    "Please give months as YYYY-MM (for example 2026-01) with a year from 1970 to "
    "9998. Choose the period again on the driver's page and download the CSV file again."
)


def _month_start(text: str) -> dt.datetime | None:
    """The first of a ``YYYY-MM`` month; empty -> ``None``; anything else is a 400 page."""
    text = text.strip()
    if not text:
        return None
    if not MONTH.match(text):
        raise bad_request(BAD_MONTH)
    year, month = int(text[:4]), int(text[5:])
    if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12):
        raise bad_request(BAD_MONTH)
    return dt.datetime(year, month, 1, tzinfo=queries.MONTH_TZ)


def _next_month(start: dt.datetime) -> dt.datetime:
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month)


@router.get("/drivers/{driver_id}/sessions.csv")
def driver_csv(ctx: FleetCtx, driver_id: PathId, start: str = "", end: str = "") -> Response:
    """Reimbursement export; ``start``/``end`` are months (YYYY-MM), both included."""
    user = _driver(ctx, driver_id)
    first = _month_start(start)
    last = _month_start(end)
    start_s = int(first.timestamp()) if first else None
    end_s = int(_next_month(last).timestamp()) if last else None
    # Each message id is written out in a gettext call, so `pybabel extract` finds it.
    header = [
        ctx.gettext("Driver"),
        ctx.gettext("E-mail"),
        ctx.gettext("Serial"),
        ctx.gettext("Epoch"),
        ctx.gettext("Seq"),
        ctx.gettext("Start (UTC)"),
        ctx.gettext("End (UTC)"),
        ctx.gettext("kWh"),
        ctx.gettext("Meter start (Wh)"),
        ctx.gettext("Meter end (Wh)"),
    ]

    def rows() -> Iterator[list[object]]:
        for s in queries.driver_sessions(ctx.db, user.id, start_s=start_s, end_s=end_s):
            yield [
                user.name,
                user.email,
                s.serial,
                s.epoch,
                s.seq,
                _iso(s.start_s),
                _iso(s.end_s),
                kwh_text(s.wh, ctx.locale),
                s.meter_start_wh,
                s.meter_end_wh,
            ]

    body = "".join(csv_stream(header, rows(), locale=ctx.locale))
    name = f"sessions-{user.email.split('@')[0]}-{start or 'all'}.csv"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "Cache-Control": "no-store",
        },
    )


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

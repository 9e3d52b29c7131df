"""Fleet manager pages about drivers: list, invite, re-invite, a driver's page, deactivation, CSV.

A fleet manager sees only their organisation's drivers and those drivers'
sessions (S3); another organisation's driver id answers 404.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from fastapi import APIRouter, Response
from markupsafe import Markup

from cablepin.cloud.errors import CloudError
from cablepin.cloud.models import User
from cablepin.cloud.portal import backend, queries
from cablepin.cloud.portal.export import bar_chart_svg, csv_stream
from cablepin.cloud.portal.forms import field, refusal_text
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
    return render(
        ctx,
        "portal/drivers.html",
        status=status,
        drivers=queries.drivers(ctx.db, ctx.org_id),
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
        errors["name"] = ctx.t("drivers.name_missing")
    if not EMAIL.match(values["email"]) or len(values["email"]) > 320:
        errors["email"] = ctx.t("drivers.email_invalid")
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
            ctx.t("drivers.exists") if e.code == "already_exists" else refusal_text(ctx.locale, e)
        )
        return _list(ctx, status=e.status, form=values, errors={"email": message})
    link = str(ctx.request.url_for("invite_page", token=token))
    return _list(ctx, invite={"email": user.email, "link": link, "expires": expires_at})


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
    chart = Markup(bar_chart_svg(months, title=ctx.t("driver.chart")))  # noqa: S704 - numbers only, escaped
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
        **extra,
    )


@router.get("/drivers/{driver_id}")
def driver_page(ctx: FleetCtx, driver_id: PathId) -> Response:
    return _driver_page(ctx, driver_id)


@router.post("/drivers/{driver_id}/deactivate")
def driver_deactivate(ctx: FleetCtx, driver_id: PathId, form: CsrfForm) -> Response:
    user = _driver(ctx, driver_id)
    if field(form, "confirm") != "yes":
        return _driver_page(ctx, driver_id, status=422, error=ctx.t("driver.deactivate_missing"))
    try:
        backend.deactivate_driver(ctx.db, backend.actor(ctx.db, _me(ctx)), user.id, now=ctx.now)
    except CloudError as e:
        ctx.db.rollback()
        return _driver_page(ctx, driver_id, status=e.status, error=refusal_text(ctx.locale, e))
    return redirect(ctx, f"/drivers/{driver_id}?done=deactivated")


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
    why = "driver.reinvite_inactive" if not user.active else "driver.reinvite_active"
    try:
        _user, token, expires_at = backend.reissue_invitation(
            ctx.db, backend.actor(ctx.db, _me(ctx)), user.id, now=ctx.now
        )
    except CloudError as e:
        ctx.db.rollback()
        message = ctx.t(why) if e.code == "conflict" else refusal_text(ctx.locale, e)
        return _driver_page(ctx, driver_id, status=e.status, error=message)
    link = str(ctx.request.url_for("invite_page", token=token))
    return _driver_page(ctx, driver_id, new_invite={"link": link, "expires": expires_at})


def _month_start(text: str) -> dt.datetime | None:
    """The first of a ``YYYY-MM`` month; empty -> ``None``; anything else is a 400 page."""
    text = text.strip()
    if not text:
        return None
    if not MONTH.match(text):
        raise bad_request("error.bad_month")
    year, month = int(text[:4]), int(text[5:])
    if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12):
        raise bad_request("error.bad_month")
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
    t = ctx.t
    header = [
        t("csv.driver"),
        t("csv.email"),
        t("csv.serial"),
        t("csv.epoch"),
        t("csv.seq"),
        t("csv.start"),
        t("csv.end"),
        t("csv.kwh"),
        t("csv.meter_start"),
        t("csv.meter_end"),
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
                f"{s.wh / 1000:.3f}",
                s.meter_start_wh,
                s.meter_end_wh,
            ]

    body = "".join(csv_stream(header, rows()))
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

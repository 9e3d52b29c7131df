"""The audit log page and its CSV export (R2).

Fleet managers read their organisation's events (support actions on their
cables included); support reads every organisation's, optionally narrowed
to one, but only with a reason (asked first) and audited as
``support.audit_read`` in the log of each organisation shown (R1). Apart from
that event the page only reads: the chain is written by ``services.audit``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from fastapi import APIRouter, Response

from cablepin.cloud.portal import backend, queries
from cablepin.cloud.portal.export import csv_stream
from cablepin.cloud.portal.fleet_routes import ask_reason
from cablepin.cloud.portal.i18n import N_
from cablepin.cloud.portal.labels import AUDIT_ACTION
from cablepin.cloud.portal.web import (
    DISPLAY_TZ,
    Ctx,
    PortalRoute,
    UserCtx,
    bad_request,
    query_int,
    render,
)

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


BAD_DATE = N_(
    "Please give dates as YYYY-MM-DD with a year from 1970 to 9998. Correct the "
    "filter in the audit log and download the CSV file again."
)

# Audit dates live well inside these years; outside them date arithmetic overflows.
MIN_YEAR, MAX_YEAR = 1970, 9998


def _date(text: str) -> dt.datetime:
    """A ``YYYY-MM-DD`` day in the display time zone; ``ValueError`` if bad or out of range."""
    day = dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=DISPLAY_TZ)
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(text)
    return day


def _filters(ctx: Ctx) -> tuple[queries.AuditFilter, dict[str, str], bool]:
    params = ctx.request.query_params
    values = {
        name: (params.get(name) or "").strip()[:320]
        for name in ("action", "target", "actor", "from", "to", "support", "org")
    }
    bad_date = False
    since = until = None
    try:
        since = _date(values["from"]) if values["from"] else None
        last = _date(values["to"]) if values["to"] else None
        until = last + dt.timedelta(days=1) if last else None
    except (ValueError, OverflowError):
        bad_date = True
        since = until = None
    org = query_int(values["org"]) if ctx.is_support else None
    return (
        queries.AuditFilter(
            action=values["action"],
            target=values["target"],
            actor=values["actor"],
            support_only=values["support"] == "1",
            org_id=org,
            since=since,
            until=until,
        ),
        values,
        bad_date,
    )


def _scope(ctx: Ctx) -> int | None:
    """Support reads all organisations; everyone else only their own."""
    return None if ctx.is_support else ctx.org_id


def _check_role(ctx: Ctx) -> None:
    from cablepin.cloud.portal.web import not_found

    assert ctx.user is not None
    if ctx.user.role not in ("fleet_manager", "support"):
        raise not_found()


def _read_reason(ctx: Ctx) -> str | None:
    """Support's reason for reading the audit log (query parameter ``reason``)."""
    return (ctx.request.query_params.get("reason") or "").strip()[:1000] or None


def _ask_reason(ctx: Ctx) -> Response:
    keep = [(k, v) for k, v in ctx.request.query_params.items() if k != "reason"]
    return ask_reason(ctx, ctx.request.url.path, keep)


def _record_read(
    ctx: Ctx, reason: str | None, org_ids: list[int | None], values: dict[str, str], what: str
) -> None:
    """Support's read of the log, in the log of every organisation it showed (R1)."""
    assert ctx.user is not None
    backend.reads.record(
        ctx.db,
        backend.actor(ctx.db, ctx.user),
        now=ctx.now,
        action="support.audit_read",
        org_ids=org_ids,
        target=None,
        reason=reason,
        details={"view": what, **{k: v for k, v in values.items() if v}},
        count_key="events",
    )


@router.get("/audit")
def audit_page(ctx: UserCtx) -> Response:
    _check_role(ctx)
    f, values, bad_date = _filters(ctx)  # a malformed filter is refused first (400)
    reason = _read_reason(ctx)
    if ctx.is_support and reason is None:
        return _ask_reason(ctx)
    before = query_int(ctx.request.query_params.get("before"))
    page = queries.audit_page(
        ctx.db, _scope(ctx), f, before=before, erased=ctx.gettext("erased driver")
    )
    if ctx.is_support:
        _record_read(ctx, reason, [e.org_id for e in page.events], values, "page")
    return render(
        ctx,
        "portal/audit.html",
        status=400 if bad_date else 200,
        page=page,
        values=values,
        bad_date=bad_date,
        # The actions the code writes (labels keep them complete), not a DISTINCT
        # over every event: the filter offers the same list at any size.
        actions=sorted(AUDIT_ACTION),
        organisations=queries.organisations(ctx.db) if ctx.is_support else [],
        details=_details,
        read_reason=reason or "",
    )


def _details(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@router.get("/audit.csv")
def audit_csv(ctx: UserCtx) -> Response:
    _check_role(ctx)
    f, values, bad_date = _filters(ctx)
    if bad_date:
        # An export must not silently drop a filter and hand over everything.
        raise bad_request(BAD_DATE)
    reason = _read_reason(ctx)
    if ctx.is_support and reason is None:
        return _ask_reason(ctx)
    org_names = dict(queries.organisations(ctx.db))
    header = [
        "seq",
        "at_utc",
        "actor_email",
        "actor_role",
        "organisation",
        "action",
        "target",
        "reason",
        "details",
        "hash",
    ]

    shown: list[int | None] = []

    def rows() -> Iterator[list[object]]:
        for e in queries.audit_all(ctx.db, _scope(ctx), f, erased=ctx.gettext("erased driver")):
            shown.append(e.org_id)
            yield [
                e.seq,
                e.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                e.actor_email,
                e.actor_role,
                org_names.get(e.org_id) if e.org_id is not None else None,
                e.action,
                e.target,
                e.reason,
                e.details,
                e.hash,
            ]

    body = "".join(csv_stream(header, rows(), locale=ctx.locale))
    if ctx.is_support:
        _record_read(ctx, reason, shown, values, "csv")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "no-store",
        },
    )

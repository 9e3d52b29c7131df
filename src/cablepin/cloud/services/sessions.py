"""Listing charging sessions (S3): drivers see their own, fleet managers their
organisation's, support any, but only with a reason, and audited (R1).

Support's read is written to the audit log as ``support.sessions_read``, once
per organisation whose sessions it returned (so each organisation's fleet
managers see it), or once without an organisation when nothing matched.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from cablepin.cloud.db import transactional
from cablepin.cloud.domain import permissions
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import Forbidden, InvalidRequest, UnknownDriver
from cablepin.cloud.models import Cable, ChargingSession, User
from cablepin.cloud.schemas import SessionList, SessionOut
from cablepin.cloud.services import audit
from cablepin.cloud.services.accounts import normalise_email

__all__ = ["CURSOR_PATTERN", "list_sessions"]

MAX_PAGE = 500
# A cursor is "<start>.<id>" of the last session of the previous page (newest first).
CURSOR_PATTERN = r"^[0-9]{1,19}\.[0-9]{1,19}$"
_CURSOR = re.compile(CURSOR_PATTERN, re.ASCII)
MAX_KEY = 2**62


def _parse_cursor(cursor: str) -> tuple[int, int]:
    if _CURSOR.match(cursor):
        start_s, _, row_id = cursor.partition(".")
        key = int(start_s), int(row_id)
        if all(k <= MAX_KEY for k in key):
            return key
    raise InvalidRequest(
        "cursor is not one this API gave out; pass next_cursor of the previous page "
        "unchanged, or leave cursor out to start from the newest session"
    )


@transactional
def list_sessions(
    db: Session,
    actor: Actor,
    *,
    now: dt.datetime,
    driver_email: str | None = None,
    serial: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
    reason: str | None = None,
) -> SessionList:
    """Newest first (start, then id), one page; ``next_cursor`` reaches the next.

    Keyset paging on ``(start_s, id)``: every session is on exactly one page,
    and sessions uploaded meanwhile never shift the pages still to come.
    """
    reason = permissions.require_reason(actor, reason)
    limit = max(1, min(limit, MAX_PAGE))
    query = (
        select(ChargingSession, Cable.serial, User.email, Cable.org_id)
        .join(Cable, Cable.id == ChargingSession.cable_id)
        .join(User, User.id == ChargingSession.driver_id)
        .order_by(ChargingSession.start_s.desc(), ChargingSession.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        start_s, row_id = _parse_cursor(cursor)
        # A row comparison, so PostgreSQL seeks the (start_s, id) index to the cursor.
        query = query.where(tuple_(ChargingSession.start_s, ChargingSession.id) < (start_s, row_id))
    if driver_email is not None:
        driver_email = normalise_email(driver_email)
    if actor.role is Role.DRIVER:
        if driver_email is not None and driver_email != actor.email:
            raise Forbidden("you can see only your own sessions; leave out driver_email")
        query = query.where(ChargingSession.driver_id == actor.id)
    else:
        if not actor.is_support:
            query = query.where(Cable.org_id == actor.org_id)
        if driver_email is not None:
            driver = db.scalar(select(User).where(User.email == driver_email))
            if driver is None or not actor.sees_org(driver.org_id):
                raise UnknownDriver(
                    f"{driver_email} is not a driver of your organisation; check the address"
                )
            query = query.where(ChargingSession.driver_id == driver.id)
    if serial:
        query = query.where(Cable.serial == serial)
    rows = db.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1][0] if more and rows else None
    items = [
        SessionOut(
            serial=cable_serial,
            epoch=row.epoch,
            seq=row.seq,
            driver_email=email,
            start=row.start_s,
            end=row.end_s,
            wh=row.wh,
            meter_start_wh=row.meter_start_wh,
            meter_end_wh=row.meter_end_wh,
            max_w=row.max_w,
            received_at=row.received_at,
        )
        for row, cable_serial, email, _org in rows
    ]
    if actor.is_support:
        counts: Counter[int | None] = Counter(org for *_rest, org in rows)
        for org_id in sorted(counts, key=lambda o: o or 0) or [None]:
            audit.append(
                db,
                now=now,
                action="support.sessions_read",
                actor=actor,
                org_id=org_id,
                target=serial or driver_email,
                reason=reason,
                details={
                    "driver_email": driver_email,
                    "serial": serial,
                    "sessions": counts.get(org_id, 0),
                },
            )
    return SessionList(
        items=items, next_cursor=f"{last.start_s}.{last.id}" if last is not None else None
    )

"""Listing charging sessions (S3): drivers see their own, fleet managers their
organisation's, support any, but only with a reason, and audited (R1).

Support's read is written to the audit log as ``support.sessions_read``, once
per organisation whose sessions it returned (so each organisation's fleet
managers see it), or once without an organisation when nothing matched.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from cablepin.cloud.db import transactional
from cablepin.cloud.domain import permissions
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import Forbidden, UnknownDriver
from cablepin.cloud.models import Cable, ChargingSession, User
from cablepin.cloud.schemas import SessionList, SessionOut
from cablepin.cloud.services import audit
from cablepin.cloud.services.accounts import normalise_email

__all__ = ["list_sessions"]

MAX_PAGE = 500


@transactional
def list_sessions(
    db: Session,
    actor: Actor,
    *,
    now: dt.datetime,
    driver_email: str | None = None,
    serial: str | None = None,
    limit: int = 100,
    reason: str | None = None,
) -> SessionList:
    reason = permissions.require_reason(actor, reason)
    query = (
        select(ChargingSession, Cable.serial, User.email, Cable.org_id)
        .join(Cable, Cable.id == ChargingSession.cable_id)
        .join(User, User.id == ChargingSession.driver_id)
        .order_by(ChargingSession.start_s.desc(), ChargingSession.id.desc())
        .limit(max(1, min(limit, MAX_PAGE)))
    )
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
    return SessionList(items=items)

"""Listing charging sessions (S3): drivers see their own, fleet managers their
organisation's, support any."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import Forbidden, UnknownDriver
from cablepin.cloud.models import Cable, ChargingSession, User
from cablepin.cloud.schemas import SessionList, SessionOut
from cablepin.cloud.services.accounts import normalise_email

__all__ = ["list_sessions"]

MAX_PAGE = 500


def list_sessions(
    db: Session,
    actor: Actor,
    *,
    now: dt.datetime,
    driver_email: str | None = None,
    serial: str | None = None,
    limit: int = 100,
) -> SessionList:
    query = (
        select(ChargingSession, Cable.serial, User.email)
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
        for row, cable_serial, email in db.execute(query).all()
    ]
    return SessionList(items=items)

"""Invitations: how a new driver gets into the fleet without anyone else knowing a password.

Rules kept here:

* Only a fleet manager invites, and only into their own organisation. The
  driver is created without a password.
* The link's token is 32 random bytes; only its SHA-256 is stored. It works
  once (a conditional ``UPDATE ... WHERE used_at IS NULL``, so two tabs cannot
  both use it) and expires after ``INVITATION_TTL`` (4 weeks).
* A new link for the same driver voids every older one (a lost link must
  not stay usable next to its replacement).
* Every step is audited, and every new link is e-mailed to the driver
  (``services/notify.py``, through the outbox, in the same transaction).
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cablepin.cloud.db import transactional
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import Conflict, Forbidden, InvalidRequest, UnknownDriver
from cablepin.cloud.models import Invitation, User
from cablepin.cloud.services import audit, notify
from cablepin.cloud.services.accounts import (
    create_user,
    hash_password,
    hash_token,
    require_good_password,
)

__all__ = [
    "INVITATION_TTL",
    "accept_invitation",
    "invitation_user",
    "invite_driver",
    "reissue_invitation",
]

INVITATION_TTL = dt.timedelta(weeks=4)
MAX_TOKEN_LENGTH = 128


def _require_fleet_manager(who: Actor) -> None:
    if who.role is not Role.FLEET_MANAGER or who.org_id is None:
        raise Forbidden("only a fleet manager can invite drivers to their organisation")


def _new_link(
    db: Session, who: Actor, user: User, *, now: dt.datetime, action: str
) -> tuple[str, dt.datetime]:
    token = secrets.token_urlsafe(32)
    expires_at = now + INVITATION_TTL
    db.add(
        Invitation(
            token_hash=hash_token(token), user_id=user.id, created_by=who.id, expires_at=expires_at
        )
    )
    audit.append(
        db,
        now=now,
        action=action,
        actor=who,
        org_id=who.org_id,
        target=user.email,
        details={"expires_at": expires_at.isoformat()},
    )
    notify.invitation(
        db, user, token=token, expires_at=expires_at, org_name=who.org_name or "", now=now
    )
    return token, expires_at


@transactional
def invite_driver(
    db: Session, who: Actor, *, email: str, name: str, now: dt.datetime
) -> tuple[User, str, dt.datetime]:
    """A new driver of the fleet manager's organisation, and the one-time link token."""
    _require_fleet_manager(who)
    user = create_user(
        db,
        email=email,
        name=name,
        role=Role.DRIVER.value,
        org_name=who.org_name,
        password=None,
        now=now,
    )
    token, expires_at = _new_link(db, who, user, now=now, action="driver.invited")
    return user, token, expires_at


@transactional
def reissue_invitation(
    db: Session, who: Actor, user_id: int, *, now: dt.datetime
) -> tuple[User, str, dt.datetime]:
    """A fresh link for an invited driver who has not chosen a password yet."""
    _require_fleet_manager(who)
    user = db.scalar(
        select(User).where(
            User.id == user_id, User.org_id == who.org_id, User.role == Role.DRIVER.value
        )
    )
    if user is None:
        raise UnknownDriver("no such driver in your organisation; check the drivers list")
    if not user.active:
        raise Conflict(f"{user.email} is deactivated; an invitation would not let them in")
    if user.password_hash is not None:
        raise Conflict(f"{user.email} has already chosen a password; they can sign in")
    db.execute(
        update(Invitation)
        .where(Invitation.user_id == user.id, Invitation.used_at.is_(None))
        .values(expires_at=now)
    )
    token, expires_at = _new_link(db, who, user, now=now, action="driver.reinvited")
    return user, token, expires_at


def invitation_user(db: Session, token: str, *, now: dt.datetime) -> User | None:
    """The driver an unused, unexpired invitation belongs to, or ``None``."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.execute(
        select(Invitation, User)
        .join(User, User.id == Invitation.user_id)
        .where(Invitation.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    invitation, user = row
    if invitation.used_at is not None or invitation.expires_at <= now or not user.active:
        return None
    return user


@transactional
def accept_invitation(db: Session, token: str, password: str, *, now: dt.datetime) -> User:
    user = invitation_user(db, token, now=now)
    if user is None:
        raise InvalidRequest("this invitation link is invalid, used or expired; ask for a new one")
    email, name = user.email, user.name
    db.rollback()  # no transaction (on SQLite: no write lock) while the policy and argon2 run
    require_good_password(password, email=email, name=name)
    password_hash = hash_password(password)
    user = invitation_user(db, token, now=now)
    if user is None:
        raise InvalidRequest("this invitation link was used a moment ago; sign in instead")
    used = db.execute(
        update(Invitation)
        .where(Invitation.token_hash == hash_token(token), Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    if not getattr(used, "rowcount", 0):
        raise InvalidRequest("this invitation link was used a moment ago; sign in instead")
    user.password_hash = password_hash
    audit.append(
        db, now=now, action="driver.activated", actor=None, org_id=user.org_id, target=user.email
    )
    return user

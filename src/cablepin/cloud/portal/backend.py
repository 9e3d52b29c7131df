"""The portal's only door to the cloud's rules: every action calls ``services``.

Rules kept here:
- Nothing in this module decides *whether* something is allowed; the
  services do, exactly as for the JSON API, and their refusals
  (``CloudError``) travel up to the page unchanged.
- Invitations are the portal's (``invitations`` table): the user is created by
  ``accounts.create_user`` without a password, the token is stored hashed,
  works once, and expires after ``INVITATION_TTL``; every step is audited
  through ``services.audit``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import (
    Forbidden,
    InvalidRequest,
    Unauthorized,
    UnknownDriver,
)
from cablepin.cloud.models import Invitation, User
from cablepin.cloud.services import accounts, audit, cables
from cablepin.cloud.settings import Settings

__all__ = [
    "INVITATION_TTL",
    "accept_invitation",
    "actor",
    "authenticate",
    "cables",
    "deactivate_driver",
    "invitation_user",
    "invite_driver",
]

INVITATION_TTL = dt.timedelta(weeks=4)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor(db: Session, user: User) -> Actor:
    return accounts.actor_for_user(db, user)


def authenticate(
    request: Request, db: Session, email: str, password: str, *, now: dt.datetime
) -> User:
    """Check a password with the API's own login and throttle; return the user.

    The portal keeps a cookie session, so the bearer token ``login`` mints is
    revoked at once (docs/dev/notes-portal.md asks for a token-less variant).
    """
    settings = getattr(request.app.state, "settings", None)
    free = settings.login_free_attempts if isinstance(settings, Settings) else 5
    token_free = getattr(accounts, "authenticate", None)  # the service asked for in notes-portal.md
    if token_free is not None:
        checked = token_free(db, email, password, now=now, free_attempts=free)
        user_id = checked.id if isinstance(checked, User) else None
    else:
        token, _expires, who = accounts.login(
            db, email, password, now=now, ttl_s=1, free_attempts=free
        )
        accounts.logout(db, token, now=now)
        user_id = who.id
    user = db.scalar(select(User).where(User.id == user_id))
    if user is None or not user.active:
        raise Unauthorized("this account is deactivated; ask your fleet manager")
    return user


def invite_driver(
    db: Session, who: Actor, *, email: str, name: str, now: dt.datetime
) -> tuple[User, str, dt.datetime]:
    """A new driver of the fleet manager's organisation, and a one-time link token."""
    if who.role is not Role.FLEET_MANAGER or who.org_id is None:
        raise Forbidden("only a fleet manager can add drivers to their organisation")
    user = accounts.create_user(
        db,
        email=email,
        name=name,
        role=Role.DRIVER.value,
        org_name=who.org_name,
        password=None,
        now=now,
    )
    token = secrets.token_urlsafe(32)
    expires_at = now + INVITATION_TTL
    db.add(
        Invitation(
            token_hash=_hash(token), user_id=user.id, created_by=who.id, expires_at=expires_at
        )
    )
    audit.append(
        db,
        now=now,
        action="driver.invited",
        actor=who,
        org_id=who.org_id,
        target=user.email,
        details={"expires_at": expires_at.isoformat()},
    )
    db.commit()
    return user, token, expires_at


def invitation_user(db: Session, token: str, *, now: dt.datetime) -> User | None:
    """The driver an unused, unexpired invitation belongs to, or ``None``."""
    if not token or len(token) > 128:
        return None
    row = db.execute(
        select(Invitation, User)
        .join(User, User.id == Invitation.user_id)
        .where(Invitation.token_hash == _hash(token))
    ).first()
    if row is None:
        return None
    invitation, user = row
    if invitation.used_at is not None or invitation.expires_at <= now or not user.active:
        return None
    return user


def accept_invitation(db: Session, token: str, password: str, *, now: dt.datetime) -> User:
    user = invitation_user(db, token, now=now)
    if user is None:
        raise InvalidRequest("this invitation link is invalid, used or expired; ask for a new one")
    # Single use even when two tabs submit at once: only one UPDATE finds it unused.
    used = db.execute(
        update(Invitation)
        .where(Invitation.token_hash == _hash(token), Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    if not getattr(used, "rowcount", 0):
        raise InvalidRequest("this invitation link was used a moment ago; sign in instead")
    user.password_hash = accounts.hash_password(password)
    audit.append(
        db,
        now=now,
        action="driver.activated",
        actor=None,
        org_id=user.org_id,
        target=user.email,
    )
    db.commit()
    return user


def deactivate_driver(db: Session, who: Actor, driver_id: int, *, now: dt.datetime) -> User:
    deactivate = getattr(accounts, "deactivate_user", None)
    if deactivate is None:
        raise NotImplementedError("services.accounts.deactivate_user is missing")
    user = deactivate(db, who, driver_id, now=now)
    if not isinstance(user, User):
        raise UnknownDriver("no such driver in your organisation")
    return user

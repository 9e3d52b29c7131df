"""The portal's only door to the cloud's rules: every action calls ``services``.

Nothing in this module decides *whether* something is allowed; the services
do, exactly as for the JSON API, and their refusals (``CloudError``) travel
up to the page unchanged. Sign-in shares the API login's throttle.
"""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from sqlalchemy.orm import Session

from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.errors import Unauthorized
from cablepin.cloud.models import User
from cablepin.cloud.services import accounts, cables
from cablepin.cloud.services.invitations import (
    INVITATION_TTL,
    accept_invitation,
    invitation_user,
    invite_driver,
    reissue_invitation,
)
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
    "reissue_invitation",
]


def actor(db: Session, user: User) -> Actor:
    return accounts.actor_for_user(db, user)


def authenticate(
    request: Request, db: Session, email: str, password: str, *, now: dt.datetime
) -> User:
    """Check a password under the API login's own throttle; return the user."""
    settings = getattr(request.app.state, "settings", None)
    free = settings.login_free_attempts if isinstance(settings, Settings) else 5
    user = accounts.authenticate(db, email, password, now=now, free_attempts=free)
    if not user.active:
        raise Unauthorized("this account is deactivated; ask your fleet manager")
    return user


def deactivate_driver(db: Session, who: Actor, driver_id: int, *, now: dt.datetime) -> User:
    return accounts.deactivate_user(db, who, driver_id, now=now)

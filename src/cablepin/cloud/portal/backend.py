"""The portal's only door to the cloud's rules: every action calls ``services``.

Nothing in this module decides *whether* something is allowed; the services
do, exactly as for the JSON API, and their refusals (``CloudError``) travel
up to the page unchanged. Sign-in shares the API login's throttle.
"""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from sqlalchemy.orm import Session

from cablepin.cloud import mail
from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.errors import ConfigError, Unauthorized
from cablepin.cloud.keys import CloudKeys
from cablepin.cloud.models import User
from cablepin.cloud.services import (
    accounts,
    billing,
    cables,
    outbox,
    payouts,
    privacy,
    reads,
    receipts,
    signin,
)
from cablepin.cloud.services.invitations import (
    INVITATION_TTL,
    accept_invitation,
    invitation_user,
    invite_driver,
    reissue_invitation,
)
from cablepin.cloud.settings import Settings

__all__ = [
    "DEVICE_COOKIE",
    "DEVICE_COOKIE_MAX_AGE",
    "INVITATION_TTL",
    "accept_invitation",
    "actor",
    "authenticate",
    "bank_key",
    "billing",
    "cables",
    "deactivate_driver",
    "device_cookie",
    "invitation_link",
    "invitation_user",
    "invite_driver",
    "mail_server",
    "name_refusal",
    "outbox",
    "payouts",
    "privacy",
    "public_url",
    "reads",
    "receipts",
    "reissue_invitation",
    "retention_years",
]


name_refusal = accounts.name_refusal


def actor(db: Session, user: User) -> Actor:
    return accounts.actor_for_user(db, user)


DEVICE_COOKIE = "cablepin_device"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600


def _device_secret(request: Request) -> bytes | None:
    keys = getattr(request.app.state, "keys", None)
    return keys.challenge_key if isinstance(keys, CloudKeys) else None


def bank_key(request: Request) -> bytes:
    """The key that seals bank data (``CloudKeys.bank_key``); none without the keys directory."""
    keys = getattr(request.app.state, "keys", None)
    if not isinstance(keys, CloudKeys):
        raise ConfigError("the keys directory is not loaded; start the service with --keys DIR")
    return keys.bank_key


def authenticate(
    request: Request, db: Session, email: str, password: str, *, now: dt.datetime
) -> User:
    """Check a password under the API login's own throttle; return the user.

    A browser that signed in to this account before carries a device cookie and
    is counted on its own, so a stranger's guesses cannot lock its owner out.
    """
    settings = getattr(request.app.state, "settings", None)
    limits = settings.signin_limits() if isinstance(settings, Settings) else None
    user = accounts.authenticate(
        db,
        email,
        password,
        now=now,
        client=request.client.host if request.client else None,
        limits=limits,
        device_cookie=request.cookies.get(DEVICE_COOKIE),
        device_secret=_device_secret(request),
    )
    if not user.active:
        raise Unauthorized("this account is deactivated; ask your fleet manager")
    return user


def retention_years(request: Request) -> int:
    """How long an erased driver's receipts are kept (``CABLEPIN_RETENTION_YEARS``)."""
    settings = getattr(request.app.state, "settings", None)
    return (
        settings.retention_years if isinstance(settings, Settings) else Settings().retention_years
    )


def public_url(request: Request) -> str:
    """The deployment's public base URL (``CABLEPIN_PUBLIC_URL``), never the Host header."""
    settings = getattr(request.app.state, "settings", None)
    base = settings.public_url if isinstance(settings, Settings) else Settings().public_url
    return base.rstrip("/")


def invitation_link(request: Request, token: str) -> str:
    """The one-time link an invited driver opens; built from the public URL only, so a
    forged ``Host`` header cannot send the token to someone else's server."""
    return mail.invitation_link(public_url(request), token)


def mail_server(request: Request) -> str | None:
    """The configured SMTP server (``CABLEPIN_SMTP_HOST``); ``None``: mail waits in the outbox."""
    settings = getattr(request.app.state, "settings", None)
    return settings.smtp_host if isinstance(settings, Settings) else None


def device_cookie(request: Request, user: User) -> str | None:
    """The known-device cookie value for ``user`` on this browser (None without keys)."""
    secret = _device_secret(request)
    return signin.issue_device_cookie(secret, user.id) if secret is not None else None


def deactivate_driver(db: Session, who: Actor, driver_id: int, *, now: dt.datetime) -> User:
    return accounts.deactivate_user(db, who, driver_id, now=now)

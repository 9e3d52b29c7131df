"""Portal sign-in sessions, kept in ``web_sessions`` so any process can serve any request.

Rules kept here:
- The cookie carries a random token; the database keeps only its SHA-256
  (a stolen backup opens no session).
- Each session has its own CSRF token; every POST must echo it (``check_csrf``).
- A session expires ``SESSION_TTL`` after it was last extended; it is extended
  at most once per half-life so a busy page does not write on every request.
- Before sign-in a form is protected by a double-submit cookie (``PRESESSION_COOKIE``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cablepin.cloud.models import User, WebSession

__all__ = [
    "COOKIE",
    "PRESESSION_COOKIE",
    "SESSION_TTL",
    "ActiveSession",
    "check_csrf",
    "end_session",
    "load_session",
    "new_token",
    "start_session",
]

COOKIE = "cablepin_session"
PRESESSION_COOKIE = "cablepin_presession"
SESSION_TTL = dt.timedelta(hours=8)


@dataclass(frozen=True)
class ActiveSession:
    user: User
    csrf_token: str
    expires_at: dt.datetime


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Session, user: User, now: dt.datetime) -> str:
    """Create a session for ``user`` and return the cookie value (shown only now)."""
    token = new_token()
    db.add(
        WebSession(
            id_hash=_hash(token),
            user_id=user.id,
            csrf_token=new_token(),
            created_at=now,
            expires_at=now + SESSION_TTL,
        )
    )
    # Old expired rows of this user go on the way, so the table does not grow forever.
    db.execute(delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at < now))
    return token


def load_session(db: Session, token: str | None, now: dt.datetime) -> ActiveSession | None:
    """The live session behind a cookie value, or ``None`` (unknown, expired, inactive user)."""
    if not token or len(token) > 256:
        return None
    row = db.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.id_hash == _hash(token))
    ).first()
    if row is None:
        return None
    web_session, user = row
    if web_session.expires_at <= now or not user.active:
        return None
    if web_session.expires_at - now < SESSION_TTL / 2:
        web_session.expires_at = now + SESSION_TTL
    return ActiveSession(
        user=user, csrf_token=web_session.csrf_token, expires_at=web_session.expires_at
    )


def end_session(db: Session, token: str | None) -> None:
    if token:
        db.execute(delete(WebSession).where(WebSession.id_hash == _hash(token)))


def check_csrf(expected: str | None, sent: str | None) -> bool:
    """Constant-time comparison; a missing token on either side never matches."""
    if not expected or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())

"""Organisations, users, login (bearer tokens) and login throttling.

* Passwords are stored as argon2id hashes (argon2-cffi defaults).
* A bearer token is 32 random bytes; only its SHA-256 is stored. It expires
  and can be revoked (logout).
* Failed logins are counted in the database (per e-mail address and per client
  address), so every API process shares them; an unknown address is throttled
  like a known one and costs the same hash, so neither reveals which addresses
  exist. The sign-in rules themselves are ``services/signin.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import unicodedata

from argon2 import PasswordHasher
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cablepin.cloud.db import connection_of, transactional
from cablepin.cloud.domain import password_policy
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import (
    AlreadyExists,
    Forbidden,
    InvalidRequest,
    TooManyAttempts,
    Unauthorized,
    UnknownDriver,
    UnknownOrg,
    WeakPassword,
)
from cablepin.cloud.metrics import LOGINS_REFUSED
from cablepin.cloud.models import ApiToken, Organisation, User
from cablepin.cloud.schemas import UserOut
from cablepin.cloud.services import audit, signin

__all__ = [
    "actor_for_token",
    "actor_for_user",
    "authenticate",
    "configure_password_hashing",
    "create_org",
    "create_user",
    "deactivate_user",
    "hash_password",
    "hash_token",
    "login",
    "logout",
    "normalise_email",
    "require_good_password",
    "user_out",
]

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("an unguessable string that is no one's password")


def configure_password_hashing(*, time_cost: int, memory_kib: int, slots: int = 2) -> None:
    """Set the argon2id cost for new hashes (old hashes carry their own parameters), and
    how many hashes one process computes at once."""
    global _hasher, _DUMMY_HASH
    signin.configure(hash_slots=slots)
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _DUMMY_HASH = _hasher.hash("an unguessable string that is no one's password")


def hash_password(password: str) -> str:
    with signin.hashing_slot():
        return _hasher.hash(password)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


_POLICY_MESSAGES = {
    password_policy.Refusal.TOO_SHORT: (
        f"a password needs at least {password_policy.MIN_LENGTH} characters; "
        "a few unrelated words make a long one that is easy to remember"
    ),
    password_policy.Refusal.TOO_LONG: (
        f"a password may have at most {password_policy.MAX_LENGTH} characters; choose a shorter one"
    ),
    password_policy.Refusal.COMMON: (
        "this password is on the list of common or breached passwords, or is an obvious "
        "variation of one; choose another"
    ),
    password_policy.Refusal.PERSONAL: (
        "this password is built from the e-mail address or name; choose one that is not"
    ),
}


def require_good_password(password: str, *, email: str, name: str = "") -> None:
    """Apply the one password policy (``domain/password_policy.py``); raise ``WeakPassword``."""
    refusal = password_policy.check(password, user_inputs=(email, name))
    if refusal is not None:
        raise WeakPassword(_POLICY_MESSAGES[refusal], reason=refusal.value)


MAX_NAME = 200  # users.name, organisations.name


def name_refusal(name: str) -> str | None:
    """Why ``name`` cannot be a person's or an organisation's name, or None. A name goes into
    e-mails (an organisation's into the invitation's Subject header) and pages as one line,
    and the column holds ``MAX_NAME`` characters (PostgreSQL refuses more)."""
    if len(name) > MAX_NAME:
        return f"a name has at most {MAX_NAME} characters; shorten it"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "a name is one line of text, without line breaks or control characters; fix it"
    return None


@transactional
def create_org(db: Session, name: str, *, now: dt.datetime) -> Organisation:
    name = name.strip()
    if not name:
        raise InvalidRequest("an organisation needs a name")
    refusal = name_refusal(name)  # it is the subject line of every invitation of the org
    if refusal is not None:
        raise InvalidRequest(refusal)
    if db.scalar(select(Organisation).where(Organisation.name == name)) is not None:
        raise AlreadyExists(f"organisation {name!r} already exists; use it or pick another name")
    org = Organisation(name=name, created_at=now)
    db.add(org)
    return org


def org_by_name(db: Session, name: str) -> Organisation:
    org = db.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise UnknownOrg(
            f"no organisation is called {name!r}; create it with `cablepin admin create-org`"
        )
    return org


@transactional
def create_user(
    db: Session,
    *,
    email: str,
    name: str,
    role: str,
    org_name: str | None,
    password: str | None,
    now: dt.datetime,
    locale: str = "de",
) -> User:
    """Create a user. Drivers and fleet managers need an organisation; support may have none.

    ``password`` None makes an account without a password (the portal's
    invitations let the user choose one).
    """
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InvalidRequest(
            f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}"
        ) from None
    email = normalise_email(email)
    if not signin.is_email(email):  # the shape sign-in accepts, or the account could never log in
        raise InvalidRequest(f"{email!r} is not an e-mail address; check it and try again")
    refusal = name_refusal(name.strip())
    if refusal is not None:
        raise InvalidRequest(refusal)
    if password is not None:
        require_good_password(password, email=email, name=name)
    if org_name is None and parsed_role is not Role.SUPPORT:
        raise InvalidRequest(f"a {parsed_role} belongs to an organisation; pass --org NAME")
    org = org_by_name(db, org_name) if org_name is not None else None
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise AlreadyExists(f"a user with e-mail {email} already exists")
    user = User(
        org_id=org.id if org else None,
        email=email,
        name=name.strip() or email,
        role=parsed_role.value,
        password_hash=hash_password(password) if password is not None else None,
        active=True,
        locale=locale,
        created_at=now,
    )
    db.add(user)
    try:
        db.flush()
    except IntegrityError as e:
        db.rollback()
        raise AlreadyExists(f"a user with e-mail {email} already exists") from e
    return user


def actor_for_user(db: Session, user: User) -> Actor:
    org_name = db.scalar(select(Organisation.name).where(Organisation.id == user.org_id))
    return Actor(
        id=user.id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        org_id=user.org_id,
        org_name=org_name,
    )


def user_out(db: Session, actor: Actor) -> UserOut:
    locale = db.scalar(select(User.locale).where(User.id == actor.id)) or "de"
    return UserOut(
        email=actor.email, name=actor.name, role=actor.role, org=actor.org_name, locale=locale
    )


def authenticate(
    db: Session,
    email: str,
    password: str,
    *,
    now: dt.datetime,
    free_attempts: int = 5,
    client: str | None = None,
    limits: signin.SignInLimits | None = None,
    device_cookie: str | None = None,
    device_secret: bytes | None = None,
) -> User:
    """Check a password under the shared throttle; return the user (no token minted).

    The API's ``login`` and the portal's sign-in both go through here, so they
    share one throttle and one set of refusals; the rules are ``services/signin.py``.
    """
    try:
        return signin.authenticate(
            db,
            email,
            password,
            now=now,
            hasher=_hasher,
            dummy_hash=_DUMMY_HASH,
            limits=limits or signin.SignInLimits(free_attempts=free_attempts),
            client=client,
            device_cookie=device_cookie,
            device_secret=device_secret,
        )
    except TooManyAttempts:
        LOGINS_REFUSED.labels("throttled").inc()
        raise
    except Unauthorized:
        LOGINS_REFUSED.labels("wrong_credentials").inc()
        raise


@transactional
def login(
    db: Session,
    email: str,
    password: str,
    *,
    now: dt.datetime,
    ttl_s: int,
    free_attempts: int = 5,
    client: str | None = None,
    limits: signin.SignInLimits | None = None,
) -> tuple[str, dt.datetime, Actor]:
    """Check the password; return ``(token, expires_at, actor)``."""
    user = authenticate(
        db, email, password, now=now, free_attempts=free_attempts, client=client, limits=limits
    )
    token = secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(seconds=ttl_s)
    db.add(
        ApiToken(
            token_hash=hash_token(token), user_id=user.id, created_at=now, expires_at=expires_at
        )
    )
    return token, expires_at, actor_for_user(db, user)


def actor_for_token(db: Session | Connection, token: str, *, now: dt.datetime) -> Actor:
    # One round trip for every API request: the token, its user and the user's organisation;
    # a plain statement on the session's connection (no ORM execution around it: B3).
    row = connection_of(db).execute(_TOKEN_ACTOR, {"token_hash": hash_token(token)}).first()
    if row is None:
        raise Unauthorized("this token is not valid; log in again")
    if row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("this token has expired or was revoked; log in again")
    if not row.active:
        raise Unauthorized("this account is deactivated; ask your fleet manager")
    return Actor(
        id=row.id,
        email=row.email,
        name=row.name,
        role=Role(row.role),
        org_id=row.org_id,
        org_name=row.org_name,
    )


# Columns, not entities: every API request runs this, and plain rows are cheaper (B3).
_TOKEN_ACTOR = (
    select(
        ApiToken.revoked_at,
        ApiToken.expires_at,
        User.id,
        User.email,
        User.name,
        User.role,
        User.org_id,
        User.active,
        Organisation.name.label("org_name"),
    )
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(Organisation, Organisation.id == User.org_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


@transactional
def logout(db: Session, token: str, *, now: dt.datetime) -> bool:
    result = db.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


@transactional
def deactivate_user(db: Session, actor: Actor, user_id: int, *, now: dt.datetime) -> User:
    """A fleet manager deactivates a driver of their organisation.

    The driver can no longer sign in, and every token is revoked at once, so
    their app can no longer sync. Their cable assignments stay as they are on
    purpose: ending one without a wipe would leave the previous driver's
    sessions on a pool cable for the next driver (H3). The fleet manager
    hands the cables over, which wipes them.
    """
    if actor.role is not Role.FLEET_MANAGER or actor.org_id is None:
        raise Forbidden("only a fleet manager can deactivate drivers of their organisation")
    user = db.scalar(
        select(User).where(
            User.id == user_id, User.org_id == actor.org_id, User.role == Role.DRIVER.value
        )
    )
    if user is None:
        raise UnknownDriver("no such driver in your organisation; check the drivers list")
    if user.active:
        user.active = False
        db.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        audit.append(
            db,
            now=now,
            action="driver.deactivated",
            actor=actor,
            org_id=user.org_id,
            target=user.email,
        )
    return user

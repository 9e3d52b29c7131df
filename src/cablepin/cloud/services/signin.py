"""Password sign-in under the shared login throttle (API login and portal sign-in).

Rules kept here (the wait table itself is ``domain/throttle.py``):

* **Count first, then check.** An attempt is counted with one atomic
  statement (an upsert that increments and returns the count, refused while
  the key waits) *before* argon2 runs, and committed at once. The count
  decides; what the password check says afterwards only clears the count on
  success. N parallel requests on any number of processes can therefore
  check at most ``free`` passwords per key before the waits start (finding 1
  of issue 11: before, the row was read, argon2 ran, then the failure was
  written, and 60 parallel guesses checked 34 passwords).
* **No transaction while argon2 runs.** The count and the user's hash are
  read in one short transaction that is committed before the hash is
  verified, and the outcome is written in a second one. On SQLite every
  transaction holds the write lock (``BEGIN IMMEDIATE``), so a 64 MiB argon2
  inside one stalled every other request of the cloud.
* **At most ``hash_slots`` hashes at once per process** (a semaphore), so a
  login flood cannot take all cores and memory; a request that waits too
  long for a slot is answered 429 with ``Retry-After``.
* **Two keys per attempt**: the account (its e-mail address) and the client
  address, each with its own free attempts, so a flood of made-up addresses
  from one client is slowed as well.
* **The owner's known browser is not locked out**: after a successful portal
  sign-in the browser keeps a signed device cookie; attempts that carry a
  valid one for this account are counted under the device, not the account.
  Someone who guesses the password from elsewhere locks only the account key,
  which the owner's browser does not use.
* What is not an e-mail address is refused before it reaches the throttle
  table or the audit log (it is text anyone can type).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.orm import Session

from cablepin.cloud.domain import throttle
from cablepin.cloud.errors import InvalidRequest, TooManyAttempts, Unauthorized
from cablepin.cloud.models import LoginThrottle, User
from cablepin.cloud.schemas import EMAIL_PATTERN
from cablepin.cloud.services import audit
from cablepin.cloud.services._sql import dialect_insert

__all__ = [
    "CLIENT_PREFIX",
    "DEVICE_PREFIX",
    "SignInLimits",
    "authenticate",
    "configure",
    "hashing_slot",
    "is_email",
    "issue_device_cookie",
    "password_ok",
]

CLIENT_PREFIX: Final = "client:"
DEVICE_PREFIX: Final = "device:"
#: A client's failures are forgotten this long after its last one (accounts keep theirs
#: until a success: a slow guesser of one account never starts from zero).
CLIENT_MEMORY: Final = dt.timedelta(hours=1)
_DEVICE_DOMAIN: Final = b"cablepin/v1/known-device\x00"

_EMAIL = re.compile(EMAIL_PATTERN)


@dataclass(frozen=True)
class SignInLimits:
    free_attempts: int = 5  # per account (or known device)
    client_free_attempts: int = 30  # per client address
    slot_wait_s: float = 20.0  # how long a request waits for a hashing slot


_slots = threading.BoundedSemaphore(2)


def configure(*, hash_slots: int) -> None:
    """How many argon2 computations one process runs at once."""
    global _slots
    _slots = threading.BoundedSemaphore(max(1, hash_slots))


@contextmanager
def hashing_slot(wait_s: float = 20.0) -> Iterator[None]:
    if not _slots.acquire(timeout=wait_s):
        raise TooManyAttempts(
            "the service is busy checking passwords; wait a few seconds and try again",
            retry_after_s=5,
        )
    try:
        yield
    finally:
        _slots.release()


def is_email(text: str) -> bool:
    return len(text) <= 320 and _EMAIL.match(text) is not None


def password_ok(hasher: PasswordHasher, stored: str | None, dummy: str, password: str) -> bool:
    """Constant work whether or not the account exists (the dummy hash costs the same)."""
    try:
        return hasher.verify(stored or dummy, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


# ------------------------------------------------------------------ known devices


def _device_mac(key: bytes, user_id: int, nonce: bytes) -> bytes:
    message = _DEVICE_DOMAIN + user_id.to_bytes(8, "big") + nonce
    return hmac.new(key, message, hashlib.sha256).digest()[:16]


def issue_device_cookie(key: bytes, user_id: int) -> str:
    nonce = secrets.token_bytes(16)
    raw = user_id.to_bytes(8, "big") + nonce + _device_mac(key, user_id, nonce)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _device_key(key: bytes | None, cookie: str | None, user_id: int | None) -> str | None:
    """The throttle key of a valid device cookie for ``user_id``, else ``None``."""
    if key is None or not cookie or user_id is None or len(cookie) > 64:
        return None
    try:
        raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    except ValueError:
        return None
    if len(raw) != 40 or int.from_bytes(raw[:8], "big") != user_id:
        return None
    if not hmac.compare_digest(raw[24:], _device_mac(key, user_id, raw[8:24])):
        return None
    return DEVICE_PREFIX + hashlib.sha256(raw).hexdigest()[:40]


# ------------------------------------------------------------------ the throttle


def _claim(
    db: Session, key: str, now: dt.datetime, forget_before: dt.datetime | None
) -> int | None:
    """Count one attempt on ``key`` unless it waits; return the count, or None if it waits."""
    count = LoginThrottle.failures + 1
    if forget_before is not None:
        count = case((LoginThrottle.last_failure_at < forget_before, 1), else_=count)
    stmt = dialect_insert(db, LoginThrottle).values(
        email=key, failures=1, last_failure_at=now, blocked_until=None
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.email],
        set_={"failures": count, "last_failure_at": now},
        where=or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until <= now),
    ).returning(LoginThrottle.failures)
    failures: int | None = db.execute(stmt).scalar_one_or_none()
    return failures


def _refuse_waiting(db: Session, key: str, now: dt.datetime, shown: str) -> TooManyAttempts:
    blocked_until = db.scalar(select(LoginThrottle.blocked_until).where(LoginThrottle.email == key))
    wait = max(1, math.ceil((blocked_until - now).total_seconds())) if blocked_until else 1
    return TooManyAttempts(
        f"too many failed logins {shown}; wait {wait} s and try again", retry_after_s=wait
    )


@dataclass(frozen=True)
class _Attempt:
    user_id: int | None
    org_id: int | None
    stored_hash: str | None
    account_key: str
    account_count: int
    client_key: str | None


def _begin_attempt(
    db: Session,
    email: str,
    *,
    now: dt.datetime,
    limits: SignInLimits,
    client: str | None,
    device_cookie: str | None,
    device_secret: bytes | None,
) -> _Attempt:
    """Transaction 1 (short): read the user, count the attempt on every key, commit."""
    user = db.scalar(select(User).where(User.email == email))
    user_id = user.id if user is not None else None
    stored = user.password_hash if user is not None and user.active else None
    org_id = user.org_id if user is not None else None
    account_key = _device_key(device_secret, device_cookie, user_id) or email
    client_key = CLIENT_PREFIX + client[:200] if client else None
    claims: list[tuple[str, int, int]] = []
    for key, free, forget, shown in (
        (client_key, limits.client_free_attempts, now - CLIENT_MEMORY, "from this address"),
        (account_key, limits.free_attempts, None, f"for {email}"),
    ):
        if key is None:
            continue
        count = _claim(db, key, now, forget)
        if count is None:
            refusal = _refuse_waiting(db, key, now, shown)
            db.rollback()  # the other key's count goes back: this attempt never happened
            raise refusal
        claims.append((key, count, free))
    for key, count, free in claims:
        # Pessimistic: the wait this attempt would cause if it fails starts now, so
        # parallel attempts beyond the free ones are refused before they hash.
        wait = throttle.wait_after(count, free)
        if wait:
            db.execute(
                update(LoginThrottle)
                .where(LoginThrottle.email == key)
                .values(blocked_until=now + dt.timedelta(seconds=wait))
            )
    db.commit()
    account_count = next(c for k, c, _ in claims if k == account_key)
    return _Attempt(user_id, org_id, stored, account_key, account_count, client_key)


def _succeeded(db: Session, attempt: _Attempt, limits: SignInLimits) -> None:
    """Transaction 2 on success: the account's count is cleared, the client's attempt given back."""
    db.execute(delete(LoginThrottle).where(LoginThrottle.email == attempt.account_key))
    if attempt.client_key is not None:
        db.execute(
            update(LoginThrottle)
            .where(LoginThrottle.email == attempt.client_key, LoginThrottle.failures > 0)
            .values(
                failures=LoginThrottle.failures - 1,
                blocked_until=case(
                    (LoginThrottle.failures - 1 < limits.client_free_attempts, None),
                    else_=LoginThrottle.blocked_until,
                ),
            )
        )
    db.commit()


def _failed(db: Session, attempt: _Attempt, email: str, now: dt.datetime, free: int) -> int:
    """Transaction 2 on failure: the count already stands; audit the start of a burst."""
    wait = throttle.wait_after(attempt.account_count, free)
    if throttle.is_burst(attempt.account_count, free):
        audit.append(
            db,
            now=now,
            action="login.failure_burst",
            actor=None,
            org_id=attempt.org_id,
            target=email,
            details={"failures": attempt.account_count, "wait_s": wait},
        )
    db.commit()
    return wait


def authenticate(
    db: Session,
    email: str,
    password: str,
    *,
    now: dt.datetime,
    hasher: PasswordHasher,
    dummy_hash: str,
    limits: SignInLimits,
    client: str | None = None,
    device_cookie: str | None = None,
    device_secret: bytes | None = None,
) -> User:
    """Check a password under the shared throttle; return the user (no token minted)."""
    email = email.strip().lower()
    if not is_email(email):
        db.rollback()
        raise InvalidRequest(
            "that is not an e-mail address; sign in with the e-mail address of your account"
        )
    db.rollback()  # whatever the caller read, no transaction stays open while argon2 runs
    attempt = _begin_attempt(
        db,
        email,
        now=now,
        limits=limits,
        client=client,
        device_cookie=device_cookie,
        device_secret=device_secret,
    )
    with hashing_slot(limits.slot_wait_s):
        ok = password_ok(hasher, attempt.stored_hash, dummy_hash, password)
    if not ok:
        wait = _failed(db, attempt, email, now, limits.free_attempts)
        hint = f"; after this many failures wait {wait} s before the next try" if wait else ""
        raise Unauthorized(f"wrong e-mail or password; check both and try again{hint}")
    _succeeded(db, attempt, limits)
    user = db.scalar(select(User).where(and_(User.email == email, User.active.is_(True))))
    if user is None:  # deactivated between the two transactions
        db.rollback()
        raise Unauthorized("this account is deactivated; ask your fleet manager")
    return user

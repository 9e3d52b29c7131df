"""The outbox (M7): the one owner of a message's persisted state.

Rules kept here (the lifecycle is ``domain/outbox.py``):

* ``enqueue`` adds a message to the caller's transaction and never commits:
  the message and the change that causes it are committed together or not at
  all, so a rolled-back change sends nothing and a committed one is never
  forgotten.
* Every state change is one conditional ``UPDATE outbox SET state = ... WHERE
  id = ... AND state IN sources(event)`` (and, for a sender's own outcome,
  ``AND claim = <its claim>``): a sender whose lease ran out and was taken
  over cannot overwrite the newer sender's outcome.
* ``claim_next`` gives one due message to exactly one sender. On PostgreSQL
  the candidate is picked with ``FOR UPDATE SKIP LOCKED``, so concurrent
  senders pick different rows without waiting; on SQLite every transaction
  holds the write lock (``db.py``), and the conditional ``UPDATE`` decides.
  Each claim is its own short transaction: no transaction is open while the
  SMTP server is talked to.
* Marking a message sent is one row update (``mark_sent``). A sender that
  dies between the server's "250 OK" and that update leaves the message
  claimed; after its lease the next sender sends it again with the same
  ``Message-ID``. That is the only way a message arrives twice.
* A server's reply is stored masked (``rules.mask_addresses``), at most
  ``MAX_ERROR`` characters. ``expire_invitations`` deletes the text of
  undelivered invitations whose link has expired, and ``forget_sent`` deletes
  the record of a delivered message (recipient, subject, when) once it is
  ``SENT_LOG_TTL`` old (the retention job runs both): the outbox is not an
  archive of who was mailed what.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from cablepin.cloud.db import transaction, transactional
from cablepin.cloud.domain import outbox as rules
from cablepin.cloud.domain import permissions
from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.domain.outbox import Event, MailKind, MailState
from cablepin.cloud.errors import Forbidden, NotFound
from cablepin.cloud.models import OutboxMessage
from cablepin.cloud.services import audit

if TYPE_CHECKING:
    from cablepin.cloud.mail import Composed

__all__ = [
    "SENT_LOG_TTL",
    "Claimed",
    "backlog",
    "claim_next",
    "defer",
    "enqueue",
    "expire_invitations",
    "failed_messages",
    "forget_sent",
    "give_up",
    "mark_sent",
    "retry",
]

MAX_ERROR = 500  # characters of a server's reply kept for support
# How long support can see that a message went out (a quarter: long enough for "I never
# got the receipt mail" questions about last month's receipt).
SENT_LOG_TTL = dt.timedelta(days=90)
EXPIRED_INVITATION = (
    "the invitation expired before this mail was delivered, so its text was deleted; "
    "the fleet manager sends a new invitation"
)


def enqueue(
    db: Session,
    composed: Composed,
    *,
    kind: MailKind,
    to: str,
    org_id: int | None,
    now: dt.datetime,
) -> OutboxMessage:
    """Add a message to the current unit of work (committed with it, or not at all)."""
    row = OutboxMessage(
        message_id=composed.message_id,
        kind=kind,
        org_id=org_id,
        recipient=to,
        locale=composed.locale,
        subject=composed.subject[:300],
        content=composed.content,
        state=MailState.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    db.add(row)
    return row


@dataclass(frozen=True)
class Claimed:
    id: int
    message_id: str
    recipient: str
    content: bytes
    attempts: int  # including this one
    claim: str


def claimable_clause(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        and_(OutboxMessage.state == MailState.PENDING, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.state == MailState.SENDING, OutboxMessage.lease_until <= now),
    )


def claim_next(db: Session, *, now: dt.datetime, lease: dt.timedelta) -> Claimed | None:
    """Claim the oldest due message for this sender, in a transaction of its own."""
    claim = secrets.token_hex(16)
    with transaction(db):
        candidates = (
            select(OutboxMessage.id)
            .where(claimable_clause(now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(1)
        )
        if db.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        found = db.scalar(candidates)
        if found is None:
            return None
        done = db.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == found,
                claimable_clause(now),
                OutboxMessage.state.in_(rules.sources(Event.CLAIM)),
            )
            .values(
                state=MailState.SENDING,
                claim=claim,
                lease_until=now + lease,
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(
                OutboxMessage.message_id,
                OutboxMessage.recipient,
                OutboxMessage.content,
                OutboxMessage.attempts,
            )
        ).first()
        if done is None:
            return None
        message_id, recipient, content, attempts = done
        assert content is not None  # only sent messages lose their content
        return Claimed(found, message_id, recipient, content, attempts, claim)


def _finish(db: Session, claimed: Claimed, event: Event, **values: object) -> bool:
    with transaction(db):
        done = db.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == claimed.id,
                OutboxMessage.claim == claimed.claim,
                OutboxMessage.state.in_(rules.sources(event)),
            )
            .values(claim=None, lease_until=None, **values)
        )
        return bool(getattr(done, "rowcount", 0))


def mark_sent(db: Session, claimed: Claimed, *, now: dt.datetime) -> bool:
    """The server accepted the message: one row update (the at-least-once window)."""
    return _finish(
        db,
        claimed,
        Event.ACCEPTED,
        state=MailState.SENT,
        sent_at=now,
        content=None,
        last_error=None,
    )


def defer(db: Session, claimed: Claimed, error: str, *, now: dt.datetime) -> MailState:
    """A temporary refusal: try again later, or give up once the waits are used up."""
    when = rules.next_attempt(claimed.attempts, now)
    if when is None:
        give_up(db, claimed, error)
        return MailState.FAILED
    _finish(
        db,
        claimed,
        Event.DEFER,
        state=MailState.PENDING,
        next_attempt_at=when,
        last_error=_reply(error),
    )
    return MailState.PENDING


def give_up(db: Session, claimed: Claimed, error: str) -> None:
    """A permanent refusal: the message waits for support (``retry``)."""
    _finish(db, claimed, Event.GIVE_UP, state=MailState.FAILED, last_error=_reply(error))


def _reply(error: str) -> str:
    """What support is shown of a server's reply: no one's full address."""
    return rules.mask_addresses(error)[:MAX_ERROR]


def expire_invitations(db: Session, *, created_before: dt.datetime) -> int:
    """Delete the text (with its plaintext link) of undelivered invitations created before
    ``created_before`` (when their link has expired); they stay failed for support to see.
    Joins the caller's transaction; returns how many were cleared."""
    done = db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.kind == MailKind.INVITATION,
            OutboxMessage.created_at < created_before,
            OutboxMessage.state.in_(rules.sources(Event.EXPIRE)),
            OutboxMessage.content.is_not(None),
        )
        .values(
            state=MailState.FAILED,
            content=None,
            last_error=EXPIRED_INVITATION,
        )
    )
    return int(getattr(done, "rowcount", 0) or 0)


def forget_sent(db: Session, *, now: dt.datetime) -> int:
    """Delete the records of messages delivered more than ``SENT_LOG_TTL`` before ``now``
    (their text went when they were sent). Joins the caller's transaction; returns how many."""
    done = db.execute(
        delete(OutboxMessage).where(
            OutboxMessage.state == MailState.SENT, OutboxMessage.sent_at < now - SENT_LOG_TTL
        )
    )
    return int(getattr(done, "rowcount", 0) or 0)


def failed_messages(db: Session, *, limit: int = 200) -> list[OutboxMessage]:
    return list(
        db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == MailState.FAILED)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def backlog(db: Session) -> dict[MailState, int]:
    """Messages by state (the portal and ``/metrics`` show it)."""
    rows = db.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
    found = {MailState(state): int(count) for state, count in rows}
    return {state: found.get(state, 0) for state in MailState}


@transactional
def retry(
    db: Session, actor: Actor, message_pk: int, *, reason: str | None, now: dt.datetime
) -> OutboxMessage:
    """Support: send a failed message again (from now, with a fresh count of attempts)."""
    if not actor.is_support:
        raise Forbidden("only support can send a failed message again")
    reason = permissions.require_reason(actor, reason)
    done = db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_pk,
            OutboxMessage.state.in_(rules.sources(Event.RETRY)),
            OutboxMessage.content.is_not(None),  # an expired invitation's text is gone
        )
        .values(state=MailState.PENDING, attempts=0, next_attempt_at=now)
    )
    if not getattr(done, "rowcount", 0):
        raise NotFound(
            f"message {message_pk} has not failed, or its text was deleted (an expired "
            "invitation: send a new invitation), or it does not exist; reload the list"
        )
    row = db.get(OutboxMessage, message_pk)
    assert row is not None
    db.refresh(row)
    audit.append(
        db,
        now=now,
        action="mail.retried",
        actor=actor,
        org_id=row.org_id,
        target=row.recipient,
        reason=reason,
        details={"message_id": row.message_id, "kind": row.kind.value},
    )
    return row

"""The append-only, hash-chained audit log (R2).

Appends are serialised on the single ``audit_head`` row: PostgreSQL locks it
``FOR UPDATE``; SQLite transactions already hold the write lock from their
first statement (``BEGIN IMMEDIATE``, see ``db.py``). So concurrent
processes extend one chain and never fork it. Nothing here commits: an event
belongs to the transaction of the action it records.

People are pseudonymised on the way in (``domain/audit.py``): the actor by id,
and any ``target`` or ``details`` value that is a user's e-mail address as
``user:ID``; their e-mail and name go to ``audit_people`` beside the chain.
``shown`` joins them back for display (``ERASED`` once a person was erased).
A free-text ``reason`` is hashed as written: it is the writer's statement.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.domain.audit import (
    AuditContent,
    Broken,
    canonical_details,
    event_hash,
    find_break,
    parse_ref,
    person_ref,
)
from cablepin.cloud.domain.permissions import require_reason
from cablepin.cloud.models import AuditEvent, AuditHead, AuditPerson, User
from cablepin.cloud.schemas import AuditEventOut, AuditList
from cablepin.protocol.errors import ProtocolError
from cablepin.protocol.signed import sign_detached, verify_detached

__all__ = [
    "CHECKPOINT_DOMAIN",
    "ERASED",
    "ShownEvent",
    "append",
    "check_checkpoints",
    "forget_person",
    "list_events",
    "shown",
    "sign_checkpoint",
    "verify",
]

#: The domain of a signed audit checkpoint (``protocol/signed.py``): the command key signs
#: it, so a signature made for a command can never pass for one, nor the other way round.
CHECKPOINT_DOMAIN = "cablepin/v1/audit-checkpoint"

MAX_PAGE = 500

#: What the log shows for a person who was erased (D2); the portal translates it.
ERASED: Final = "erased driver"


def _remember(db: Session, user_id: int, email: str, name: str) -> None:
    """Keep who a pseudonym is, beside the chain (the append holds the head's lock)."""
    if db.get(AuditPerson, user_id) is None:
        db.add(AuditPerson(user_id=user_id, email=email, name=name))


def _pseudonymise(
    db: Session, target: str | None, details: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """Every value that is a user's e-mail address becomes ``user:ID``."""
    candidates = {v for v in (target, *details.values()) if isinstance(v, str) and "@" in v}
    if not candidates:
        return target, details
    people = db.execute(
        select(User.id, User.email, User.name, User.erased_at).where(
            User.email.in_(sorted(candidates))
        )
    ).all()
    refs: dict[str, str] = {}
    for user_id, email, name, erased_at in people:
        if erased_at is None:  # an erased driver's tombstone address names nobody
            _remember(db, user_id, email, name)
        refs[email] = person_ref(user_id)

    def swap(value: Any) -> Any:
        return refs.get(value, value) if isinstance(value, str) else value

    return swap(target), {key: swap(value) for key, value in details.items()}


def append(
    db: Session,
    *,
    now: dt.datetime,
    action: str,
    actor: Actor | None,
    org_id: int | None,
    target: str | None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    head_seq, head_hash = db.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one()
    if actor is not None:
        _remember(db, actor.id, actor.email, actor.name)
    target, named = _pseudonymise(db, target, details or {})
    content = AuditContent(
        seq=head_seq + 1,
        at=now,
        actor_id=actor.id if actor else None,
        actor_role=str(actor.role) if actor else None,
        org_id=org_id,
        action=action,
        target=target,
        reason=reason,
        details=canonical_details(named),
    )
    own = event_hash(head_hash, content)
    db.add(
        AuditEvent(
            seq=content.seq,
            at=content.at,
            actor_id=content.actor_id,
            actor_role=content.actor_role,
            org_id=content.org_id,
            action=content.action,
            target=content.target,
            reason=content.reason,
            details=content.details,
            prev_hash=head_hash,
            hash=own,
        )
    )
    db.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=content.seq, hash=own))
    db.flush()
    return content.seq


def _content(row: AuditEvent) -> AuditContent:
    return AuditContent(
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        org_id=row.org_id,
        action=row.action,
        target=row.target,
        reason=row.reason,
        details=row.details,
    )


@dataclass(frozen=True)
class ShownEvent:
    """An event as people read it: pseudonyms replaced by e-mail addresses (or ``erased``)."""

    seq: int
    at: dt.datetime
    actor_id: int | None
    actor_email: str | None
    actor_role: str | None
    org_id: int | None
    action: str
    target: str | None
    reason: str | None
    details: str  # canonical JSON, names joined in
    hash: str


def shown(db: Session, rows: Sequence[AuditEvent], *, erased: str = ERASED) -> list[ShownEvent]:
    """Join the names beside the chain into a page of events (one query for the page)."""
    parsed = [(row, _details(row.details)) for row in rows]
    ids = {row.actor_id for row in rows if row.actor_id is not None}
    for row, details in parsed:
        ids |= {i for i in (parse_ref(row.target), *map(parse_ref, details.values())) if i}
    emails = (
        dict(
            db.execute(
                select(AuditPerson.user_id, AuditPerson.email).where(
                    AuditPerson.user_id.in_(sorted(ids))
                )
            ).all()
        )
        if ids
        else {}
    )

    def name(value: Any) -> Any:
        ref = parse_ref(value)
        return value if ref is None else emails.get(ref, erased)

    return [
        ShownEvent(
            seq=row.seq,
            at=row.at,
            actor_id=row.actor_id,
            actor_email=None if row.actor_id is None else emails.get(row.actor_id, erased),
            actor_role=row.actor_role,
            org_id=row.org_id,
            action=row.action,
            target=name(row.target),
            reason=row.reason,
            details=canonical_details({k: name(v) for k, v in details.items()}),
            hash=row.hash,
        )
        for row, details in parsed
    ]


def _details(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def forget_person(db: Session, user_id: int) -> None:
    """D2: delete who a pseudonym was; the chain keeps only ``user:ID`` and stays intact."""
    db.execute(delete(AuditPerson).where(AuditPerson.user_id == user_id))


def list_events(
    db: Session,
    actor: Actor,
    *,
    now: dt.datetime,
    limit: int = 100,
    before_seq: int | None = None,
    reason: str | None = None,
) -> AuditList:
    """Newest first; fleet managers see their organisation's events, support all,
    with a reason, audited per organisation shown (``services.reads``)."""
    from cablepin.cloud.services import reads  # reads appends through this module

    reason = require_reason(actor, reason)
    limit = max(1, min(limit, MAX_PAGE))
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit + 1)
    if not actor.is_support:
        query = query.where(AuditEvent.org_id == actor.org_id)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    rows = list(db.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        AuditEventOut(
            seq=event.seq,
            at=event.at,
            actor_email=event.actor_email,
            actor_role=event.actor_role,
            org_id=event.org_id,
            action=event.action,
            target=event.target,
            reason=event.reason,
            details=json.loads(event.details),
        )
        for event in shown(db, rows)
    ]
    reads.record(
        db,
        actor,
        now=now,
        action="support.audit_read",
        org_ids=[e.org_id for e in items],
        target=None,
        reason=reason,
        details={"before_seq": before_seq},
        count_key="events",
    )
    return AuditList(items=items, next_before_seq=rows[-1].seq if more and rows else None)


def verify(db: Session, *, batch: int = 1000) -> tuple[int, Broken | None]:
    """Walk the whole chain; return (events checked, first broken link or None)."""

    def rows() -> Any:
        last = 0
        while True:
            page = db.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq > last)
                .order_by(AuditEvent.seq)
                .limit(batch)
            ).all()
            if not page:
                return
            for row in page:
                yield _content(row), row.prev_hash, row.hash
            last = page[-1].seq
            db.expunge_all()

    head = db.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    checked = db.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
    broken = find_break(rows(), head=(head.seq, head.hash))
    return checked, broken


# ------------------------------------------------------------------ checkpoints
#
# Anyone who can write to the database can delete an event and recompute every later
# hash and the head: the chain alone proves order, not completeness. A checkpoint is
# the head (seq, hash) signed with the cloud's command key, which lives with the
# deployment keys, never in the database. `cablepin admin audit-checkpoint` writes one
# (run it periodically); `verify-audit` checks that the chain still holds every
# checkpoint, so a rewrite of anything before the last checkpoint is found.


def sign_checkpoint(db: Session, key: Ed25519PrivateKey, *, now: dt.datetime) -> dict[str, Any]:
    """The current head, signed; a JSON-ready map ``{seq, hash, at, sig}``."""
    seq, head_hash = db.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
    ).one()
    at = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {"seq": seq, "hash": head_hash, "at": at}
    signature = sign_detached(CHECKPOINT_DOMAIN, payload, key)
    return {**payload, "sig": base64.b64encode(signature).decode()}


def check_checkpoints(
    db: Session, checkpoints: Iterable[dict[str, Any]], key: Ed25519PublicKey
) -> Broken | None:
    """The first checkpoint that is forged or no longer in the chain, as a ``Broken``."""
    for checkpoint in checkpoints:
        try:
            seq, head_hash, at = checkpoint["seq"], checkpoint["hash"], checkpoint["at"]
            signature = base64.b64decode(checkpoint["sig"], validate=True)
            verify_detached(
                CHECKPOINT_DOMAIN, {"seq": seq, "hash": head_hash, "at": at}, signature, key
            )
        except (KeyError, TypeError, ValueError, ProtocolError):
            return Broken(int(checkpoint.get("seq", 0) or 0), "a checkpoint's signature is bad")
        if seq == 0:
            continue  # the empty chain: nothing to find
        stored = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
        if stored is None:
            return Broken(seq, f"the chain no longer reaches the checkpoint of {at}")
        if stored != head_hash:
            return Broken(seq, f"the chain was rewritten before the checkpoint of {at}")
    return None

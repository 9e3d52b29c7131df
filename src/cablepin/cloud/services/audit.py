"""The append-only, hash-chained audit log (R2).

Appends are serialised on the single ``audit_head`` row: PostgreSQL locks it
``FOR UPDATE``; SQLite transactions already hold the write lock from their
first statement (``BEGIN IMMEDIATE``, see ``db.py``). So concurrent
processes extend one chain and never fork it. Nothing here commits: an event
belongs to the transaction of the action it records.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.domain.audit import (
    AuditContent,
    Broken,
    canonical_details,
    event_hash,
    find_break,
)
from cablepin.cloud.domain.permissions import require_reason
from cablepin.cloud.models import AuditEvent, AuditHead
from cablepin.cloud.schemas import AuditEventOut, AuditList
from cablepin.protocol.errors import ProtocolError
from cablepin.protocol.signed import sign_detached, verify_detached

__all__ = [
    "CHECKPOINT_DOMAIN",
    "append",
    "check_checkpoints",
    "list_events",
    "sign_checkpoint",
    "verify",
]

#: The domain of a signed audit checkpoint (``protocol/signed.py``): the command key signs
#: it, so a signature made for a command can never pass for one, nor the other way round.
CHECKPOINT_DOMAIN = "cablepin/v1/audit-checkpoint"

MAX_PAGE = 500


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
    content = AuditContent(
        seq=head_seq + 1,
        at=now,
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else None,
        actor_role=str(actor.role) if actor else None,
        org_id=org_id,
        action=action,
        target=target,
        reason=reason,
        details=canonical_details(details or {}),
    )
    own = event_hash(head_hash, content)
    db.add(
        AuditEvent(
            seq=content.seq,
            at=content.at,
            actor_id=content.actor_id,
            actor_email=content.actor_email,
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
        actor_email=row.actor_email,
        actor_role=row.actor_role,
        org_id=row.org_id,
        action=row.action,
        target=row.target,
        reason=row.reason,
        details=row.details,
    )


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
            seq=row.seq,
            at=row.at,
            actor_email=row.actor_email,
            actor_role=row.actor_role,
            org_id=row.org_id,
            action=row.action,
            target=row.target,
            reason=row.reason,
            details=json.loads(row.details),
        )
        for row in rows
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

"""The one owner of a command's persisted state (the table is ``domain/commands.py``).

Rules kept here:

* Every state change is ``transition``: one ``UPDATE commands SET state =
  CASE state WHEN source THEN target ... END WHERE id = ... AND state IN
  sources(kind, event)``, the pairs read from the domain table (``moves``),
  so the target is decided by the state the row has *in the database* at
  that moment. It answers whether *this* call moved the command; a caller
  that loses a race (another process claimed, used or cancelled it a moment
  ago) sees ``False`` and never overwrites the winner.
* No other module writes ``CommandRow.state`` or compares it with a string.
* The SQL predicates (``*_clause``) mirror the pure functions of the same
  name in the domain; ``tests/integration/cloud/test_commands.py`` proves
  that each pair picks the same rows.
* Nothing here commits: a change belongs to the transaction of its cause
  (with its audit event).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.domain.commands import (
    OPEN,
    Event,
    Purpose,
    State,
    claimable,
    exclusive_lease,
    expired,
    live,
    moves,
    sources,
)
from cablepin.cloud.errors import Conflict
from cablepin.cloud.models import Cable, CommandRow
from cablepin.cloud.services import audit
from cablepin.protocol.commands import COMMAND_LIFETIME_S, CommandKind

__all__ = [
    "cancel",
    "claim",
    "claimable",
    "claimable_clause",
    "create",
    "expire_permissions",
    "expired",
    "expired_clause",
    "live",
    "live_clause",
    "open_clause",
    "open_command",
    "release",
    "transition",
    "void_pin_resets",
]


# ------------------------------------------------------------------ predicates
# Each mirrors the domain function it is named after (imported above).


def open_clause(rows: type[CommandRow] = CommandRow) -> ColumnElement[bool]:
    """``state in OPEN`` (of ``rows``: the table, or an alias of it in a join)."""
    return rows.state.in_(OPEN)


def expired_clause(now: dt.datetime) -> ColumnElement[bool]:
    """``expired(expires_at, now)``."""
    return and_(CommandRow.expires_at.is_not(None), CommandRow.expires_at <= now)


def live_clause(now: dt.datetime) -> ColumnElement[bool]:
    """``live(state, expires_at, now)``."""
    return and_(open_clause(), or_(CommandRow.expires_at.is_(None), CommandRow.expires_at > now))


def claimable_clause(kind: CommandKind, now: dt.datetime) -> ColumnElement[bool]:
    """``claimable(kind, state, lease_until, now)``, for rows of ``kind``."""
    states = sources(kind, Event.CLAIM)
    if not exclusive_lease(kind) or State.ISSUED not in states:
        return CommandRow.state.in_(states)
    lease_over = or_(CommandRow.lease_until.is_(None), CommandRow.lease_until < now)
    free = states - {State.ISSUED}
    return or_(
        CommandRow.state.in_(free) if free else false(),
        and_(CommandRow.state == State.ISSUED, lease_over),
    )


# ------------------------------------------------------------------ reading


def open_command(db: Session, cable_id: int, kind: CommandKind) -> CommandRow | None:
    """The open command of ``kind`` for a cable (the schema allows at most one)."""
    return db.scalar(
        select(CommandRow).where(
            CommandRow.cable_id == cable_id, CommandRow.kind == kind, open_clause()
        )
    )


# ------------------------------------------------------------------ changing


def transition(
    db: Session,
    cmd: CommandRow,
    event: Event,
    *,
    guard: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    """Apply ``event`` to ``cmd`` if its state (in the database) allows it; True if it did.

    ``guard`` narrows further (a claim's lease); ``values`` are set with the state.
    ``cmd.state`` is then the state the table led it to.
    """
    pairs = moves(cmd.kind, event)
    where = [CommandRow.id == cmd.id, CommandRow.state.in_(pairs)]
    if guard is not None:
        where.append(guard)
    moved = db.execute(
        update(CommandRow)
        .where(*where)
        .values(state=case(dict(pairs), value=CommandRow.state), **values)
        .returning(CommandRow.state)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if moved is None:
        return False
    for key, value in {"state": moved, **values}.items():
        set_committed_value(cmd, key, value)
    return True


def claim(db: Session, cmd: CommandRow, now: dt.datetime) -> bool:
    """Lease a signed copy to this connect for its lifetime; False if it may not have one."""
    return transition(
        db,
        cmd,
        Event.CLAIM,
        guard=claimable_clause(cmd.kind, now),
        lease_until=now + dt.timedelta(seconds=COMMAND_LIFETIME_S),
    )


def release(db: Session, cmd: CommandRow) -> bool:
    """The app hands back a copy it did not relay: ready again at once.

    ``lease_until`` stays: the copy itself still exists until then (``copy_out_until``).
    """
    return transition(db, cmd, Event.RELEASE)


def cancel(db: Session, cmd: CommandRow, *, too_late: str) -> None:
    """Cancel an open command exactly once; ``too_late`` is the refusal if it just ended."""
    if not transition(db, cmd, Event.CANCEL):
        raise Conflict(too_late)


def create(
    db: Session,
    cable: Cable,
    actor: Actor,
    *,
    kind: CommandKind,
    purpose: Purpose,
    now: dt.datetime,
    driver_id: int | None,
    previous_driver_id: int | None = None,
    reason: str | None = None,
    expires_at: dt.datetime | None = None,
) -> CommandRow:
    """A new pending command, bound to the cable's current epoch."""
    cmd = CommandRow(
        id=str(uuid.uuid4()),
        cable_id=cable.id,
        kind=kind,
        purpose=purpose,
        state=State.PENDING,
        epoch=cable.epoch,
        driver_id=driver_id,
        previous_driver_id=previous_driver_id,
        issued_by=actor.id,
        reason=reason,
        created_at=now,
        expires_at=expires_at,
    )
    db.add(cmd)
    try:
        db.flush()
    except IntegrityError as e:
        db.rollback()
        raise Conflict(
            f"another {kind} for {cable.serial} was created at the same moment; reload and retry"
        ) from e
    return cmd


def expire_permissions(db: Session, cable: Cable, now: dt.datetime) -> None:
    """Mark PIN permissions whose time ran out as expired (and audit each)."""
    stale = db.scalars(
        select(CommandRow).where(
            CommandRow.cable_id == cable.id,
            CommandRow.kind == CommandKind.ALLOW_PIN_SET,
            CommandRow.state.in_(sources(CommandKind.ALLOW_PIN_SET, Event.EXPIRE)),
            expired_clause(now),
        )
    ).all()
    for cmd in stale:
        if transition(db, cmd, Event.EXPIRE):
            audit.append(
                db,
                now=now,
                action="pin_reset.expired",
                actor=None,
                org_id=cable.org_id,
                target=cable.serial,
                details={"command_id": cmd.id},
            )


def void_pin_resets(
    db: Session, cable: Cable, actor: Actor | None, now: dt.datetime, why: str
) -> None:
    """A handover or reset voids an open PIN permission (it is bound to the epoch)."""
    for cmd in db.scalars(
        select(CommandRow).where(
            CommandRow.cable_id == cable.id,
            CommandRow.kind == CommandKind.ALLOW_PIN_SET,
            CommandRow.state.in_(sources(CommandKind.ALLOW_PIN_SET, Event.CANCEL)),
        )
    ).all():
        if transition(db, cmd, Event.CANCEL):
            audit.append(
                db,
                now=now,
                action="pin_reset.voided",
                actor=actor,
                org_id=cable.org_id,
                target=cable.serial,
                details={"command_id": cmd.id, "why": why},
            )

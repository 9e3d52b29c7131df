"""A driver's data: the export (D1), the erasure (D2) and the retention job.

Rules kept here:

* **Export** is one JSON document with everything held about one driver:
  the account (every column of their user row but the password hash), their
  cable assignments, tariffs with the proof documents (base64, with their
  content type), receipts with their lines, the audit events that name them
  (as actor, target or in the details) and their charging sessions. It is
  written in pages, each page read in a short transaction of its own, so a
  driver with a million sessions neither fills the memory nor holds
  SQLite's write lock while a slow phone downloads.
* **Erasure** (a fleet manager, their own organisation's driver): the
  driver's cables are handed over to the pool first, by the same service as
  the portal's handover (``cables.start_handover``: wipe at the next
  connection); a handover *to* the driver still pending is refused, cancel it
  first. Then tariffs (with documents), rejected receipts, sessions not on a
  kept receipt, tokens, portal sessions, invitations and sign-in counters go,
  every personal column of the user row is cleared (``PERSONAL`` is what is
  *kept*; every other column, including ones added later such as an IBAN, is
  emptied), and the name beside the audit chain is deleted
  (``audit.forget_person``). The row stays as a tombstone so that kept
  receipts, their sessions and the chain still point at one id.
* **Kept** are receipts not rejected and the sessions their evidence needs:
  from the session before each receipt's first (the chain's ``previous``) to
  the first signed head that covers its last, so ``verify-receipt`` still
  passes. They go when the statutory period ends (``domain/retention.py``),
  deleted by ``purge_expired`` (``cablepin admin retention`` and, periodically,
  ``cablepin serve``). The same run deletes the text of undelivered invitation
  mails whose link has expired (``outbox.expire_invitations``): it carries the
  plaintext link.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any, Final

from sqlalchemy import and_, delete, func, not_, or_, select, update
from sqlalchemy.orm import Session

from cablepin.cloud.db import transactional
from cablepin.cloud.domain import retention
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.domain.audit import person_ref
from cablepin.cloud.domain.commands import OPEN
from cablepin.cloud.errors import Conflict, Forbidden, UnknownDriver
from cablepin.cloud.models import (
    ApiToken,
    Assignment,
    AuditEvent,
    Cable,
    ChainHead,
    ChargingSession,
    CommandRow,
    DriverAccount,
    Invitation,
    LoginThrottle,
    Organisation,
    OutboxMessage,
    ReceiptLine,
    ReceiptRow,
    Tariff,
    User,
    WebSession,
)
from cablepin.cloud.services import audit, cables, outbox
from cablepin.cloud.services.invitations import INVITATION_TTL
from cablepin.protocol.commands import CommandKind

__all__ = [
    "EXPORT_FORMAT",
    "KEPT_COLUMNS",
    "erase_driver",
    "export_chunks",
    "find_driver",
    "purge_expired",
    "record_export",
]

EXPORT_FORMAT: Final = "cablepin/v1/personal-data"
PAGE: Final = 1000

#: The user row's columns an erasure keeps (the tombstone); every other one is cleared.
KEPT_COLUMNS: Final = frozenset({"id", "org_id", "role", "active", "locale", "created_at"})


# ------------------------------------------------------------------ who


def find_driver(db: Session, actor: Actor, email: str | None = None) -> User:
    """The driver an export or erasure is about: the actor themself (a driver, ``email``
    None) or a driver of the fleet manager's own organisation. Erased: unknown."""
    if email is None:
        if actor.role is not Role.DRIVER:
            raise Forbidden("only a driver downloads their own data; fleet managers name one")
        found = db.get(User, actor.id)
    else:
        if actor.role is not Role.FLEET_MANAGER or actor.org_id is None:
            raise Forbidden("only a fleet manager acts on a driver of their organisation")
        found = db.scalar(
            select(User).where(
                User.email == email.strip().lower(),
                User.org_id == actor.org_id,
                User.role == Role.DRIVER.value,
            )
        )
    if found is None or found.erased_at is not None or found.role != Role.DRIVER.value:
        raise UnknownDriver(f"{email or 'this account'} is not a driver of your organisation")
    return found


# ------------------------------------------------------------------ D1: the export


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return _iso(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _account(db: Session, user: User) -> dict[str, Any]:
    account = {
        column.name: _plain(getattr(user, column.key))
        for column in User.__table__.columns
        if column.name != "password_hash"  # a secret derived from the password, not about them
    }
    account["organisation"] = db.scalar(
        select(Organisation.name).where(Organisation.id == user.org_id)
    )
    account["password_set"] = user.password_hash is not None
    bank = db.get(DriverAccount, user.id)
    # The IBAN in the file is the masked one: a fleet manager may produce this export, and
    # only its owner sees an IBAN in full (the driver's own /me/bank shows it).
    account["payroll_and_bank"] = (
        None
        if bank is None
        else {
            "personnel_number": bank.personnel_number,
            "holder": bank.holder,
            "iban_masked": bank.iban_masked,
        }
    )
    return account


def _assignments(db: Session, user_id: int) -> list[dict[str, Any]]:
    rows = db.execute(
        select(Assignment, Cable.serial)
        .join(Cable, Cable.id == Assignment.cable_id)
        .where(Assignment.driver_id == user_id)
        .order_by(Assignment.started_at, Assignment.id)
    ).all()
    return [
        {
            "serial": serial,
            "epoch": a.epoch,
            "started_at": _iso(a.started_at),
            "ended_at": _iso(a.ended_at),
        }
        for a, serial in rows
    ]


def _tariff(row: Tariff) -> dict[str, Any]:
    return {
        "id": row.id,
        "price": None if row.price is None else format(row.price, "f"),
        "monthly_prices": json.loads(row.monthly_prices) if row.monthly_prices else None,
        "valid_from": _iso(row.valid_from),
        "valid_to": _iso(row.valid_to),
        "state": row.state,
        "reason": row.reason,
        "created_at": _iso(row.created_at),
        "decided_at": _iso(row.decided_at),
        "document": {
            "content_type": row.document_type,
            "sha256": row.document_sha256,
            "base64": base64.b64encode(row.document).decode(),
        },
    }


def _receipts(db: Session, user_id: int) -> list[dict[str, Any]]:
    out = []
    for row in db.scalars(
        select(ReceiptRow).where(ReceiptRow.driver_id == user_id).order_by(ReceiptRow.id)
    ):
        lines = db.scalars(
            select(ReceiptLine).where(ReceiptLine.receipt_id == row.id).order_by(ReceiptLine.id)
        )
        out.append(
            {
                "id": row.id,
                "month": row.month,
                "state": row.state,
                "method": row.method,
                "total_wh": row.total_wh,
                "amount": format(row.amount, "f"),
                "late": row.late,
                "supplementary": row.supplementary,
                "prices": json.loads(row.prices),
                "submitted_at": _iso(row.submitted_at),
                "decided_at": _iso(row.decided_at),
                "reason": row.reason,
                "lines": [
                    {
                        "session_id": line.session_id,
                        "wh": line.wh,
                        "price": format(line.price, "f"),
                        "price_ref": line.price_ref,
                        "rejected": line.rejected,
                    }
                    for line in lines
                ],
            }
        )
    return out


def _names(user_id: int) -> Any:
    """The audit events that name this person: as actor, target or in the details."""
    ref = person_ref(user_id)
    return or_(
        AuditEvent.actor_id == user_id,
        AuditEvent.target == ref,
        AuditEvent.details.contains(json.dumps(ref), autoescape=True),
    )


def export_chunks(
    session: Callable[[], Session], user_id: int, *, now: dt.datetime
) -> Iterator[str]:
    """D1: the driver's data as JSON text, page by page, each page in its own short read."""

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    with session() as db:
        user = db.get(User, user_id)
        assert user is not None
        head = {
            "format": EXPORT_FORMAT,
            "exported_at": _iso(now),
            "account": _account(db, user),
            "assignments": _assignments(db, user_id),
            "receipts": _receipts(db, user_id),
        }
        tariff_ids = list(
            db.scalars(select(Tariff.id).where(Tariff.driver_id == user_id).order_by(Tariff.id))
        )
    yield dumps(head)[:-1]
    yield ',"tariffs":['
    for i, tariff_id in enumerate(tariff_ids):  # one document (up to 5 MB) at a time
        with session() as db:
            row = db.get(Tariff, tariff_id)
            if row is not None:
                yield ("," if i else "") + dumps(_tariff(row))
    yield '],"audit_events":['
    first, after = True, 0
    while True:
        with session() as db:
            rows = list(
                db.scalars(
                    select(AuditEvent)
                    .where(_names(user_id), AuditEvent.seq > after)
                    .order_by(AuditEvent.seq)
                    .limit(PAGE)
                )
            )
            events = audit.shown(db, rows)
        for e in events:
            item = {
                "seq": e.seq,
                "at": _iso(e.at),
                "actor_email": e.actor_email,
                "actor_role": e.actor_role,
                "action": e.action,
                "target": e.target,
                "reason": e.reason,
                "details": json.loads(e.details),
            }
            yield ("" if first else ",") + dumps(item)
            first = False
        if len(rows) < PAGE:
            break
        after = rows[-1].seq
    yield '],"sessions":['
    first, after = True, 0
    while True:
        with session() as db:
            found = db.execute(
                select(ChargingSession, Cable.serial)
                .join(Cable, Cable.id == ChargingSession.cable_id)
                .where(ChargingSession.driver_id == user_id, ChargingSession.id > after)
                .order_by(ChargingSession.id)
                .limit(PAGE)
            ).all()
        for s, serial in found:
            item = {
                "id": s.id,
                "serial": serial,
                "epoch": s.epoch,
                "seq": s.seq,
                "start": s.start_s,
                "end": s.end_s,
                "wh": s.wh,
                "meter_start_wh": s.meter_start_wh,
                "meter_end_wh": s.meter_end_wh,
                "max_w": s.max_w,
                "received_at": _iso(s.received_at),
            }
            yield ("" if first else ",") + dumps(item)
            first = False
        if len(found) < PAGE:
            break
        after = found[-1][0].id
    yield "]}\n"


def record_export(db: Session, actor: Actor, user: User, *, now: dt.datetime) -> None:
    """A fleet manager's export of a driver's data is audited in the organisation's log."""
    if actor.id != user.id:
        audit.append(
            db,
            now=now,
            action="driver.exported",
            actor=actor,
            org_id=user.org_id,
            target=person_ref(user.id),
        )


# ------------------------------------------------------------------ D2: the erasure


def _evidence_ranges(db: Session, user_id: int) -> list[tuple[int, int, int, int]]:
    """(cable, epoch, first, last) seq ranges the evidence of the driver's kept receipts needs."""
    spans = db.execute(
        select(
            ChargingSession.cable_id,
            ChargingSession.epoch,
            func.min(ChargingSession.seq),
            func.max(ChargingSession.seq),
        )
        .join(ReceiptLine, ReceiptLine.session_id == ChargingSession.id)
        .join(ReceiptRow, ReceiptRow.id == ReceiptLine.receipt_id)
        .where(ReceiptRow.driver_id == user_id, ReceiptRow.state != "rejected")
        .group_by(ReceiptRow.id, ChargingSession.cable_id, ChargingSession.epoch)
    ).all()
    ranges = []
    for cable_id, epoch, first, last in spans:
        head = db.scalar(
            select(func.min(ChainHead.seq)).where(
                ChainHead.cable_id == cable_id, ChainHead.epoch == epoch, ChainHead.seq >= last
            )
        )
        ranges.append((cable_id, epoch, first - 1, head if head is not None else last))
    return ranges


def _prune_sessions(db: Session, user_id: int) -> tuple[int, int]:
    """Delete the driver's sessions no kept receipt's evidence needs: (deleted, kept)."""
    needed = [
        and_(
            ChargingSession.cable_id == cable_id,
            ChargingSession.epoch == epoch,
            ChargingSession.seq.between(lo, hi),
        )
        for cable_id, epoch, lo, hi in _evidence_ranges(db, user_id)
    ]
    mine = ChargingSession.driver_id == user_id
    doomed = and_(mine, not_(or_(*needed))) if needed else mine
    deleted = _count(db.execute(delete(ChargingSession).where(doomed)))
    kept = db.scalar(select(func.count()).select_from(ChargingSession).where(mine)) or 0
    return int(deleted), int(kept)


def _count(result: Any) -> int:
    """Rows a bulk DELETE touched."""
    return int(getattr(result, "rowcount", 0) or 0)


def _delete_receipts(db: Session, receipt_ids: list[int]) -> None:
    if receipt_ids:
        db.execute(delete(ReceiptLine).where(ReceiptLine.receipt_id.in_(receipt_ids)))
        db.execute(delete(ReceiptRow).where(ReceiptRow.id.in_(receipt_ids)))


def _redact(db: Session, user: User) -> None:
    """The driver's e-mail and name out of the texts that stay: the kept receipts' frozen
    price sources and decisions, the subjects of their organisation's mail and the
    reasons on its commands.

    Free text can name a person in other words; only these exact strings are found.
    Audit reasons are hashed and stay as written (ARCHITECTURE.md, known limits).
    """
    words = [w for w in (user.email, user.name) if w and len(w) >= 3]
    for word in words:
        for column, where in (
            (ReceiptRow.prices, ReceiptRow.driver_id == user.id),
            (ReceiptRow.reason, ReceiptRow.driver_id == user.id),
            (OutboxMessage.subject, OutboxMessage.org_id == user.org_id),
            (
                CommandRow.reason,
                CommandRow.cable_id.in_(select(Cable.id).where(Cable.org_id == user.org_id)),
            ),
        ):
            db.execute(
                update(column.class_)
                .where(where, column.contains(word, autoescape=True))
                .values({column.key: func.replace(column, word, audit.ERASED)})
            )


def _clear_user(user: User, now: dt.datetime) -> list[str]:
    """Empty every personal column of the row (all but ``KEPT_COLUMNS``); their names."""
    cleared = []
    for column in User.__table__.columns:
        if column.name in KEPT_COLUMNS or column.name == "erased_at":
            continue
        if column.name == "email":  # unique and required: an address that can never be real
            value: Any = f"erased-{user.id}@erased.invalid"
        elif column.nullable:
            value = None
        elif column.default is not None and getattr(column.default, "is_scalar", False):
            value = column.default.arg
        else:
            value = ""
        setattr(user, column.key, value)
        cleared.append(column.name)
    user.active = False
    user.erased_at = now
    return cleared


@transactional
def erase_driver(
    db: Session,
    actor: Actor,
    email: str,
    *,
    now: dt.datetime,
    years: int = retention.DEFAULT_YEARS,
    reason: str | None = None,
) -> dict[str, Any]:
    """D2: erase a departed driver of the fleet manager's organisation (see the module)."""
    user = find_driver(db, actor, email)
    incoming = db.scalars(
        select(Cable.serial)
        .join(CommandRow, CommandRow.cable_id == Cable.id)
        .where(
            CommandRow.kind == CommandKind.WIPE,
            CommandRow.state.in_(sorted(OPEN)),
            CommandRow.driver_id == user.id,
            CommandRow.previous_driver_id.is_distinct_from(user.id),
        )
    ).all()
    if incoming:
        raise Conflict(
            f"a handover of {', '.join(sorted(incoming))} to {user.email} is pending; "
            "cancel it on the cable's page first, then erase the driver"
        )
    serials = list(
        db.scalars(
            select(Cable.serial)
            .join(Assignment, Assignment.cable_id == Cable.id)
            .where(Assignment.driver_id == user.id, Assignment.ended_at.is_(None))
            .order_by(Cable.serial)
        )
    )
    why = reason or "the driver is erased (D2)"
    for serial in serials:
        cables.start_handover(db, actor, serial, None, now=now, reason=why)

    rejected = list(
        db.scalars(
            select(ReceiptRow.id).where(
                ReceiptRow.driver_id == user.id, ReceiptRow.state == "rejected"
            )
        )
    )
    _delete_receipts(db, rejected)
    tariffs = _count(db.execute(delete(Tariff).where(Tariff.driver_id == user.id)))
    deleted, kept = _prune_sessions(db, user.id)
    kept_receipts = db.execute(
        select(ReceiptRow.submitted_at, ReceiptRow.decided_at).where(
            ReceiptRow.driver_id == user.id
        )
    ).all()
    until = max(
        (retention.deletable_from(max(s, d or s), years) for s, d in kept_receipts), default=None
    )
    _redact(db, user)
    for table in (ApiToken, WebSession, Invitation, DriverAccount):
        db.execute(delete(table).where(table.user_id == user.id))
    db.execute(delete(LoginThrottle).where(LoginThrottle.email == user.email))
    # Mail to the driver (sent or not) goes; mail about them keeps its body until it is
    # delivered (the outbox drops a body once the server took it), its subject is redacted.
    db.execute(delete(OutboxMessage).where(OutboxMessage.recipient == user.email))
    cleared = _clear_user(user, now)
    result: dict[str, Any] = dict(
        erased=True,
        cables_handed_over=serials,
        tariffs_deleted=int(tariffs),
        receipts_deleted=len(rejected),
        receipts_kept=len(kept_receipts),
        sessions_deleted=deleted,
        sessions_kept=kept,
        kept_until=_iso(until),
        cleared_columns=cleared,
    )
    audit.append(
        db,
        now=now,
        action="driver.erased",
        actor=actor,
        org_id=user.org_id,
        target=person_ref(user.id),
        reason=reason,
        details={k: v for k, v in result.items() if k not in ("erased", "cleared_columns")},
    )
    audit.forget_person(db, user.id)  # last: the appends above may have named them
    db.flush()
    return result


# ------------------------------------------------------------------ the retention job


@transactional
def purge_expired(db: Session, *, now: dt.datetime, years: int) -> dict[str, int]:
    """Delete erased drivers' receipts (and the sessions only they kept) whose period ended,
    and any session of an erased driver that no kept receipt needs; clear the text of
    expired invitations nobody received and forget delivered mail (``services.outbox``)."""
    found = db.execute(
        select(
            ReceiptRow.id,
            ReceiptRow.driver_id,
            ReceiptRow.org_id,
            ReceiptRow.submitted_at,
            ReceiptRow.decided_at,
        )
        .join(User, User.id == ReceiptRow.driver_id)
        .where(User.erased_at.is_not(None))
        .order_by(ReceiptRow.id)
    ).all()
    due: dict[tuple[int, int], list[int]] = {}
    for receipt_id, driver_id, org_id, submitted, decided in found:
        if retention.deletable_from(max(submitted, decided or submitted), years) <= now:
            due.setdefault((driver_id, org_id), []).append(receipt_id)
    receipts = sessions = 0
    # Also an erased driver with no receipt due: an upload that raced the erasure may
    # have left a session no receipt needs.
    stragglers = db.execute(
        select(ChargingSession.driver_id, User.org_id)
        .join(User, User.id == ChargingSession.driver_id)
        .where(User.erased_at.is_not(None))
        .distinct()
    ).all()
    for straggler, org in stragglers:
        if org is not None:
            due.setdefault((straggler, org), [])
    for (driver_id, org_id), ids in sorted(due.items()):
        _delete_receipts(db, ids)
        deleted, _kept = _prune_sessions(db, driver_id)
        if not ids and not deleted:
            continue
        receipts += len(ids)
        sessions += deleted
        audit.append(
            db,
            now=now,
            action="retention.purged",
            actor=None,
            org_id=org_id,
            target=person_ref(driver_id),
            details={"receipts": len(ids), "sessions": deleted, "years": years},
        )
    cleared = outbox.expire_invitations(db, created_before=now - INVITATION_TTL)
    forgotten = outbox.forget_sent(db, now=now)
    return {
        "receipts_deleted": receipts,
        "sessions_deleted": sessions,
        "invitation_mails_cleared": cleared,
        "sent_mails_forgotten": forgotten,
    }

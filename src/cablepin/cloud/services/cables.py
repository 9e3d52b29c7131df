"""Fleet operations: registration, listing, assignment, PIN resets, handovers, resets.

Every function looks the cable up *through the actor*: a cable of another
organisation is ``unknown_cable`` (404), exactly like a serial that does not
exist. Mutations lock the cable row first, so all changes to one cable
serialise in the same order (cable, then commands/assignments, then the
audit head) on every database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from sqlalchemy import Connection, Select, and_, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from cablepin.cloud.db import connection_of, transactional
from cablepin.cloud.domain import permissions
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.domain.clean_start import assignment_starts_clean
from cablepin.cloud.domain.commands import OPEN, Purpose, State, copy_out_until, expired, live
from cablepin.cloud.errors import (
    AlreadyExists,
    Conflict,
    HasDriver,
    InvalidRequest,
    NoDriver,
    NotFound,
    UnknownCable,
    UnknownDriver,
    WipePending,
)
from cablepin.cloud.models import Assignment, Cable, CableCert, CommandRow, Organisation, User
from cablepin.cloud.schemas import (
    AssignmentOut,
    CableDetail,
    CableList,
    CableSummary,
    CommandOut,
    HandoverOut,
    PinResetOut,
)
from cablepin.cloud.services import audit, commands, notify, reads
from cablepin.cloud.services.commands import live_clause, open_command, void_pin_resets
from cablepin.protocol import pki
from cablepin.protocol.chain import genesis
from cablepin.protocol.commands import CommandKind
from cablepin.protocol.errors import CertificateError

__all__ = [
    "CableWith",
    "active_assignment",
    "allow_pin_reset",
    "assign",
    "cable_detail",
    "cancel_handover",
    "check_visible",
    "find_cable",
    "find_cable_with",
    "list_cables",
    "read_cable_with",
    "register_cable",
    "reset_cable",
    "revoke_pin_reset",
    "schedule_clean_start",
    "start_handover",
]

MAX_PAGE = 500
RECENT_COMMANDS = 20


def find_cable(db: Session, actor: Actor, serial: str, *, lock: bool = False) -> Cable:
    query = select(Cable).where(Cable.serial == serial)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return _visible(db.scalar(query), actor, serial)


def _visible(cable: Cable | None, actor: Actor, serial: str) -> Cable:
    check_visible(None if cable is None else cable.org_id, actor, serial)
    assert cable is not None
    return cable


def check_visible(org_id: int | None, actor: Actor, serial: str) -> None:
    """The one rule: a cable not found (``None``) or of an organisation the actor does not
    see is ``unknown_cable`` alike, so no caller learns another organisation's serials."""
    if org_id is None or not actor.sees_org(org_id):
        raise UnknownCable(
            f"there is no cable {serial} in your organisation; check the serial on the cable"
        )


@dataclass(frozen=True)
class CableWith:
    """A cable with what the app endpoints read beside it (``find_cable_with``)."""

    cable: Cable
    cert_pem: str
    assignment: Assignment | None  # the active one
    wipe: CommandRow | None  # the open wipe
    permission: CommandRow | None  # the open PIN permission

    def read(self) -> CableRead:
        """The same facts as plain values, as ``read_cable_with`` gives them."""
        cable, assignment = self.cable, self.assignment
        return CableRead(
            CableFields(
                cable.id,
                cable.serial,
                cable.org_id,
                cable.epoch,
                cable.head_seq,
                cable.pin_default,
                cable.fw,
                cable.last_seen_at,
            ),
            self.cert_pem,
            None
            if assignment is None
            else AssignmentFields(assignment.driver_id, assignment.epoch, assignment.clean_at),
            _command_fields(self.wipe),
            _command_fields(self.permission),
        )


@dataclass(frozen=True, slots=True)
class CableFields:
    """The columns of a cable a connect decides on (plain values, no ORM entity)."""

    id: int
    serial: str
    org_id: int
    epoch: int
    head_seq: int
    pin_default: bool | None
    fw: str | None
    last_seen_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class AssignmentFields:
    driver_id: int
    epoch: int
    clean_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class CommandFields:
    purpose: Purpose
    state: State
    epoch: int
    driver_id: int | None
    expires_at: dt.datetime | None


def _command_fields(row: CommandRow | None) -> CommandFields | None:
    if row is None:
        return None
    return CommandFields(row.purpose, row.state, row.epoch, row.driver_id, row.expires_at)


@dataclass(frozen=True, slots=True)
class CableRead:
    """``CableWith`` as plain values: what the connect's quick path reads (B3)."""

    cable: CableFields
    cert_pem: str
    assignment: AssignmentFields | None
    wipe: CommandFields | None
    permission: CommandFields | None


def read_cable_with(db: Session | Connection, actor: Actor, serial: str) -> CableRead:
    """``find_cable_with(lock=False)`` as plain rows: the same join, the same visibility
    rule (``check_visible``), columns instead of entities and run on the session's
    connection, so no entity is built or put in the identity map (B3: the ORM's four
    entities were about a fifth of the connect's Python time)."""
    row = connection_of(db).execute(_CABLE_READ, {"serial": serial}).first()
    check_visible(None if row is None else row.org_id, actor, serial)
    assert row is not None
    return CableRead(
        CableFields(
            row.id,
            row.serial,
            row.org_id,
            row.epoch,
            row.head_seq,
            row.pin_default,
            row.fw,
            row.last_seen_at,
        ),
        row.cert_pem,
        None
        if row.a_driver_id is None
        else AssignmentFields(row.a_driver_id, row.a_epoch, row.a_clean_at),
        None
        if row.w_state is None
        else CommandFields(
            row.w_purpose, row.w_state, row.w_epoch, row.w_driver_id, row.w_expires_at
        ),
        None
        if row.p_state is None
        else CommandFields(
            row.p_purpose, row.p_state, row.p_epoch, row.p_driver_id, row.p_expires_at
        ),
    )


def find_cable_with(db: Session, actor: Actor, serial: str, *, lock: bool) -> CableWith:
    """``find_cable`` and, in the same round trip, its certificate, active assignment
    and open commands (B3: one query where there were five). ``lock`` locks the
    cable row only (``FOR UPDATE OF cables``), as ``find_cable`` does."""
    query = _CABLE_WITH_LOCKED if lock else _CABLE_WITH
    row = db.execute(query, {"serial": serial}).first()
    cable, cert_pem, assignment, wipe, permission = row or (None, "", None, None, None)
    return CableWith(_visible(cable, actor, serial), cert_pem, assignment, wipe, permission)


def _cable_with() -> Select[Cable, str, Assignment, CommandRow, CommandRow]:
    """Built once (the statement, its aliases and joins are the same every time)."""
    wipe = aliased(CommandRow, name="wipe")
    permission = aliased(CommandRow, name="permission")
    return (
        select(Cable, CableCert.cert_pem, Assignment, wipe, permission)
        .join(CableCert, CableCert.cable_id == Cable.id)
        .outerjoin(Assignment, and_(Assignment.cable_id == Cable.id, Assignment.ended_at.is_(None)))
        .outerjoin(
            wipe,
            and_(
                wipe.cable_id == Cable.id,
                wipe.kind == CommandKind.WIPE,
                commands.open_clause(wipe),
            ),
        )
        .outerjoin(
            permission,
            and_(
                permission.cable_id == Cable.id,
                permission.kind == CommandKind.ALLOW_PIN_SET,
                commands.open_clause(permission),
            ),
        )
        .where(Cable.serial == bindparam("serial"))
        .execution_options(populate_existing=True)
    )


_CABLE_WITH = _cable_with()
_CABLE_WITH_LOCKED = _CABLE_WITH.with_for_update(of=Cable)


def _cable_read() -> Select[Any]:
    """``_cable_with`` of table columns (Core: rows of plain values). Built once."""
    cables, certs = Cable.__table__.c, CableCert.__table__.c
    assignments, rows = Assignment.__table__.c, CommandRow.__table__
    wipe, permission = rows.alias("wipe"), rows.alias("permission")

    def command(alias: Any, prefix: str) -> list[Any]:
        return [
            alias.c[name].label(f"{prefix}_{name}")
            for name in ("purpose", "state", "epoch", "driver_id", "expires_at")
        ]

    return (
        select(
            cables.id,
            cables.serial,
            cables.org_id,
            cables.epoch,
            cables.head_seq,
            cables.pin_default,
            cables.fw,
            cables.last_seen_at,
            certs.cert_pem,
            assignments.driver_id.label("a_driver_id"),
            assignments.epoch.label("a_epoch"),
            assignments.clean_at.label("a_clean_at"),
            *command(wipe, "w"),
            *command(permission, "p"),
        )
        .select_from(Cable.__table__)
        .join(CableCert.__table__, certs.cable_id == cables.id)
        .outerjoin(
            Assignment.__table__,
            and_(assignments.cable_id == cables.id, assignments.ended_at.is_(None)),
        )
        .outerjoin(
            wipe,
            and_(
                wipe.c.cable_id == cables.id,
                wipe.c.kind == CommandKind.WIPE,
                wipe.c.state.in_(OPEN),
            ),
        )
        .outerjoin(
            permission,
            and_(
                permission.c.cable_id == cables.id,
                permission.c.kind == CommandKind.ALLOW_PIN_SET,
                permission.c.state.in_(OPEN),
            ),
        )
        .where(cables.serial == bindparam("serial"))
    )


_CABLE_READ = _cable_read()


def active_assignment(db: Session, cable_id: int) -> Assignment | None:
    return db.scalar(
        select(Assignment).where(Assignment.cable_id == cable_id, Assignment.ended_at.is_(None))
    )


def _email(db: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return db.scalar(select(User.email).where(User.id == user_id))


def _driver(db: Session, org_id: int, email: str) -> User:
    user = db.scalar(
        select(User).where(
            User.email == email.strip().lower(),
            User.org_id == org_id,
            User.role == Role.DRIVER.value,
            User.active.is_(True),
        )
    )
    if user is None:
        raise UnknownDriver(
            f"{email} is not an active driver of this cable's organisation; "
            "check the address or create the driver first"
        )
    return user


# ---------------------------------------------------------------- registration


@transactional
def register_cable(
    db: Session, *, cert_pem: bytes, org_name: str, factory_ca: x509.Certificate, now: dt.datetime
) -> CableSummary:
    """Learn a cable's serial and certificate (checked against the factory CA)."""
    from cablepin.cloud.services.accounts import org_by_name

    try:
        cert = pki.load_certificate(cert_pem)
        serial = pki.verify_device_certificate(cert, factory_ca)
    except CertificateError as e:
        raise InvalidRequest(
            f"this is not a genuine cable certificate: {e.message}; "
            "check --state and that --keys holds this factory's CA",
            reason=e.code,
        ) from e
    org = org_by_name(db, org_name)
    pem = pki.certificate_pem(cert).decode()
    existing = db.scalar(select(Cable).where(Cable.serial == serial))
    if existing is not None:
        if existing.org_id == org.id and existing.cert_pem == pem:
            return _summaries(db, [existing], now)[0]
        raise AlreadyExists(
            f"{serial} is already registered to another certificate or organisation"
        )
    cable = Cable(
        serial=serial,
        org_id=org.id,
        cert_pem=pem,
        registered_at=now,
        epoch=0,
        head_seq=0,
        head_hash=genesis(serial, 0),
    )
    db.add(cable)
    db.flush()
    audit.append(db, now=now, action="cable.registered", actor=None, org_id=org.id, target=serial)
    return _summaries(db, [cable], now)[0]


# ---------------------------------------------------------------- reading


def _summaries(db: Session, cables: list[Cable], now: dt.datetime) -> list[CableSummary]:
    if not cables:
        return []
    ids = [c.id for c in cables]
    drivers = dict(
        db.execute(
            select(Assignment.cable_id, User.email)
            .join(User, User.id == Assignment.driver_id)
            .where(Assignment.cable_id.in_(ids), Assignment.ended_at.is_(None))
        ).all()
    )
    open_cmds = db.execute(
        select(CommandRow.cable_id, CommandRow.kind, CommandRow.state, CommandRow.expires_at).where(
            CommandRow.cable_id.in_(ids), commands.open_clause()
        )
    ).all()
    pending: dict[CommandKind, set[int]] = {kind: set() for kind in CommandKind}
    for cable_id, kind, state, expires_at in open_cmds:
        if live(state, expires_at, now):
            pending[kind].add(cable_id)
    orgs = dict(
        db.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({c.org_id for c in cables})
            )
        ).all()
    )
    return [
        CableSummary(
            serial=c.serial,
            org=orgs[c.org_id],
            driver_email=drivers.get(c.id),
            epoch=c.epoch,
            synced_seq=c.head_seq,
            pin_default=c.pin_default,
            fw=c.fw,
            last_seen_at=c.last_seen_at,
            last_sync_at=c.last_sync_at,
            pin_reset_pending=c.id in pending[CommandKind.ALLOW_PIN_SET],
            handover_pending=c.id in pending[CommandKind.WIPE],
        )
        for c in cables
    ]


def list_cables(
    db: Session,
    actor: Actor,
    *,
    now: dt.datetime,
    serial: str | None = None,
    after: str | None = None,
    limit: int = 100,
    reason: str | None = None,
) -> CableList:
    """One page of cables ordered by serial (keyset paging with ``after``).

    Support lists every organisation's cables (with their drivers' e-mail), so
    support must give a reason; the read is audited per organisation listed.
    """
    reason = permissions.require_reason(actor, reason)
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Cable).order_by(Cable.serial).limit(limit + 1)
    if not actor.is_support:
        query = query.where(Cable.org_id == actor.org_id)
    if serial:
        query = query.where(Cable.serial.startswith(serial.strip().upper(), autoescape=True))
    if after:
        query = query.where(Cable.serial > after)
    cables = list(db.scalars(query))
    more = len(cables) > limit
    cables = cables[:limit]
    listed = CableList(
        items=_summaries(db, cables, now), next_after=cables[-1].serial if more else None
    )
    reads.record(
        db,
        actor,
        now=now,
        action="support.cables_read",
        org_ids=[c.org_id for c in cables],
        target=serial or None,
        reason=reason,
        details={"serial": serial or None, "after": after},
        count_key="cables",
    )
    return listed


def _command_out(db: Session, cmd: CommandRow) -> CommandOut:
    return CommandOut(
        id=cmd.id,
        kind=cmd.kind,
        purpose=cmd.purpose,
        state=cmd.state,
        created_at=cmd.created_at,
        expires_at=cmd.expires_at,
        done_at=cmd.done_at,
        driver_email=_email(db, cmd.driver_id),
        reason=cmd.reason,
    )


def _pin_reset_out(db: Session, cable: Cable, cmd: CommandRow, now: dt.datetime) -> PinResetOut:
    return PinResetOut(
        command_id=cmd.id,
        serial=cable.serial,
        driver_email=_email(db, cmd.driver_id),
        state=cmd.state,
        created_at=cmd.created_at,
        expires_at=cmd.expires_at,
        with_app_until=copy_out_until(cmd.state, cmd.lease_until, now),
    )


def _permission_with_app(db: Session, cable: Cable, now: dt.datetime) -> CommandRow | None:
    """A PIN permission that no longer counts but whose signed copy an app still holds."""
    held = db.scalars(
        select(CommandRow)
        .where(
            CommandRow.cable_id == cable.id,
            CommandRow.kind == CommandKind.ALLOW_PIN_SET,
            CommandRow.lease_until > now,
            ~live_clause(now),
        )
        .order_by(CommandRow.lease_until.desc())
    ).all()
    return next((c for c in held if copy_out_until(c.state, c.lease_until, now)), None)


def _handover_out(db: Session, cable: Cable, cmd: CommandRow) -> HandoverOut:
    return HandoverOut(
        command_id=cmd.id,
        serial=cable.serial,
        purpose=cmd.purpose,
        state=cmd.state,
        from_driver_email=_email(db, cmd.previous_driver_id),
        to_driver_email=_email(db, cmd.driver_id),
        created_at=cmd.created_at,
        done_at=cmd.done_at,
        last_sync_at=cable.last_sync_at,
    )


def cable_detail(
    db: Session, actor: Actor, serial: str, *, now: dt.datetime, reason: str | None = None
) -> CableDetail:
    """One cable; support must give a reason, and the read is audited (``reads``)."""
    reason = permissions.require_reason(actor, reason)
    cable = find_cable(db, actor, serial)
    summary = _summaries(db, [cable], now)[0]
    pin = open_command(db, cable.id, CommandKind.ALLOW_PIN_SET)
    if pin is not None and expired(pin.expires_at, now):
        pin = None
    held = _permission_with_app(db, cable, now)
    wipe = open_command(db, cable.id, CommandKind.WIPE)
    recent = db.scalars(
        select(CommandRow)
        .where(CommandRow.cable_id == cable.id)
        .order_by(CommandRow.created_at.desc())
        .limit(RECENT_COMMANDS)
    ).all()
    detail = CableDetail(
        **summary.model_dump(),
        pending_pin_reset=_pin_reset_out(db, cable, pin, now) if pin else None,
        permission_with_app=_pin_reset_out(db, cable, held, now) if held else None,
        pending_handover=_handover_out(db, cable, wipe) if wipe else None,
        commands=[_command_out(db, c) for c in recent],
    )
    reads.record(
        db,
        actor,
        now=now,
        action="support.cable_read",
        org_ids=[cable.org_id],
        target=cable.serial,
        reason=reason,
        count_key="cables",
    )
    return detail


# ---------------------------------------------------------------- changing


def _wipe_pending_error(cable: Cable) -> WipePending:
    return WipePending(
        f"a handover or reset of {cable.serial} is pending; wait until the cable was connected "
        "in the app, or cancel the handover first"
    )


def _refuse_or_supersede_wipe(db: Session, cable: Cable, actor: Actor, now: dt.datetime) -> None:
    """Before a handover or reset: a pending handover or reset refuses it (``wipe_pending``).

    A pending clean-start wipe does not: it waits for its assignee's app, who may
    never connect again, so the fleet manager's (or support's) new decision
    replaces it. Should the cable still apply it, its receipt is followed like
    a cancelled handover's.
    """
    wipe = open_command(db, cable.id, CommandKind.WIPE)
    if wipe is None:
        return
    if wipe.purpose is not Purpose.CLEAN_START:
        raise _wipe_pending_error(cable)
    commands.cancel(
        db, wipe, too_late=f"the clean-start wipe of {cable.serial} completed a moment ago; reload"
    )
    audit.append(
        db,
        now=now,
        action="clean_start.cancelled",
        actor=actor,
        org_id=cable.org_id,
        target=cable.serial,
        details={"command_id": wipe.id},
    )


@transactional
def assign(
    db: Session,
    actor: Actor,
    serial: str,
    driver_email: str,
    *,
    now: dt.datetime,
    reason: str | None = None,
) -> AssignmentOut:
    """Give a cable without a driver to a driver of its organisation."""
    reason = permissions.require_reason(actor, reason)
    cable = find_cable(db, actor, serial, lock=True)
    if open_command(db, cable.id, CommandKind.WIPE) is not None:
        raise _wipe_pending_error(cable)
    current = active_assignment(db, cable.id)
    if current is not None:
        raise HasDriver(
            f"{serial} is assigned to {_email(db, current.driver_id)}; "
            "start a handover to give it to another driver (its sessions must not mix)"
        )
    driver = _driver(db, cable.org_id, driver_email)
    had_driver = db.scalar(select(Assignment.id).where(Assignment.cable_id == cable.id).limit(1))
    clean = assignment_starts_clean(cable_epoch=cable.epoch, had_driver=had_driver is not None)
    db.add(
        Assignment(
            cable_id=cable.id,
            driver_id=driver.id,
            epoch=cable.epoch,
            started_at=now,
            created_by=actor.id,
            # H3: else checked at the driver's first connect (domain/clean_start.py)
            clean_at=now if clean else None,
        )
    )
    try:
        db.flush()
    except IntegrityError as e:
        db.rollback()
        raise HasDriver(f"{serial} was just assigned by someone else; reload it") from e
    audit.append(
        db,
        now=now,
        action="assignment.created",
        actor=actor,
        org_id=cable.org_id,
        target=serial,
        reason=reason,
        details={"driver_email": driver.email, "epoch": cable.epoch},
    )
    return AssignmentOut(serial=serial, driver_email=driver.email, epoch=cable.epoch)


@transactional
def allow_pin_reset(
    db: Session,
    actor: Actor,
    serial: str,
    *,
    now: dt.datetime,
    expires_in_days: int | None = None,
    reason: str | None = None,
) -> PinResetOut:
    """P8: let the assigned driver set a new PIN without the current one, once."""
    reason = permissions.require_reason(actor, reason)
    expires_at = permissions.expiry(now, expires_in_days)
    cable = find_cable(db, actor, serial, lock=True)
    commands.expire_permissions(db, cable, now)
    if open_command(db, cable.id, CommandKind.WIPE) is not None:
        raise _wipe_pending_error(cable)
    current = active_assignment(db, cable.id)
    if current is None:
        raise NoDriver(
            f"{serial} has no driver, so nobody could use a PIN reset; assign a driver first"
        )
    existing = open_command(db, cable.id, CommandKind.ALLOW_PIN_SET)
    if existing is not None:
        raise AlreadyExists(
            f"a PIN reset for {serial} is already allowed (until "
            f"{existing.expires_at:%Y-%m-%d %H:%M} UTC); revoke it first to issue a new one"
        )
    cmd = commands.create(
        db,
        cable,
        actor,
        kind=CommandKind.ALLOW_PIN_SET,
        purpose=Purpose.PIN_RESET,
        now=now,
        driver_id=current.driver_id,
        reason=reason,
        expires_at=expires_at,
    )
    driver = db.get(User, current.driver_id)
    assert driver is not None
    driver_email = driver.email
    notify.pin_reset_allowed(db, driver, serial=serial, expires_at=expires_at, now=now)
    audit.append(
        db,
        now=now,
        action="pin_reset.allowed",
        actor=actor,
        org_id=cable.org_id,
        target=serial,
        reason=reason,
        details={
            "command_id": cmd.id,
            "driver_email": driver_email,
            "epoch": cable.epoch,
            "expires_at": expires_at.isoformat(),
        },
    )
    return _pin_reset_out(db, cable, cmd, now)


@transactional
def revoke_pin_reset(
    db: Session, actor: Actor, serial: str, *, now: dt.datetime, reason: str | None = None
) -> PinResetOut:
    reason = permissions.require_reason(actor, reason)
    cable = find_cable(db, actor, serial, lock=True)
    cmd = open_command(db, cable.id, CommandKind.ALLOW_PIN_SET)
    if cmd is None:
        raise NotFound(f"no PIN reset is pending for {serial}; there is nothing to revoke")
    commands.cancel(
        db, cmd, too_late=f"the PIN reset for {serial} was used a moment ago; reload the cable"
    )
    audit.append(
        db,
        now=now,
        action="pin_reset.revoked",
        actor=actor,
        org_id=cable.org_id,
        target=serial,
        reason=reason,
        details={"command_id": cmd.id},
    )
    return _pin_reset_out(db, cable, cmd, now)


def _schedule_wipe(
    db: Session,
    actor: Actor,
    cable: Cable,
    *,
    purpose: Purpose,
    next_driver_id: int | None,
    previous_driver_id: int | None,
    reason: str | None,
    now: dt.datetime,
    details: Callable[[HandoverOut], dict[str, Any]],
) -> HandoverOut:
    """Both roads to a wipe (a handover, a support reset): one pending command, audited.

    An open PIN permission is voided: it was bound to the epoch the wipe ends.
    """
    void_pin_resets(db, cable, actor, now, why=purpose)
    cmd = commands.create(
        db,
        cable,
        actor,
        kind=CommandKind.WIPE,
        purpose=purpose,
        now=now,
        driver_id=next_driver_id,
        previous_driver_id=previous_driver_id,
        reason=reason,
    )
    view = _handover_out(db, cable, cmd)
    audit.append(
        db,
        now=now,
        action=f"{purpose}.started",
        actor=actor,
        org_id=cable.org_id,
        target=cable.serial,
        reason=reason,
        details={"command_id": cmd.id, "epoch": cable.epoch, **details(view)},
    )
    return view


def schedule_clean_start(
    db: Session, actor: Actor, cable: Cable, *, driver_id: int, now: dt.datetime
) -> CommandRow:
    """H3: a wipe bound to the assignee whose first connect found the cable not clean.

    Not committed: the connect that asks for it hands it out in the same transaction.
    """
    view = _schedule_wipe(
        db,
        actor,
        cable,
        purpose=Purpose.CLEAN_START,
        next_driver_id=driver_id,
        previous_driver_id=driver_id,
        reason="the cable held sessions or another epoch at its new driver's first connection",
        now=now,
        details=lambda view: {"driver_email": view.to_driver_email},
    )
    cmd = db.get(CommandRow, view.command_id)
    assert cmd is not None
    return cmd


@transactional
def start_handover(
    db: Session,
    actor: Actor,
    serial: str,
    driver_email: str | None,
    *,
    now: dt.datetime,
    reason: str | None = None,
) -> HandoverOut:
    """H1: end the current assignment now; wipe the cable at its next connection.

    ``driver_email`` None hands the cable back to the pool. The old driver
    cannot sync from this moment; the new one can once the wipe's receipt
    arrives (H3).
    """
    reason = permissions.require_reason(actor, reason)
    cable = find_cable(db, actor, serial, lock=True)
    target = _driver(db, cable.org_id, driver_email) if driver_email is not None else None
    _refuse_or_supersede_wipe(db, cable, actor, now)
    current = active_assignment(db, cable.id)
    if target is not None and current is not None and current.driver_id == target.id:
        raise Conflict(f"{serial} is already assigned to {target.email}; nothing to hand over")
    if current is not None:
        current.ended_at = now
    last_sync = cable.last_sync_at.isoformat() if cable.last_sync_at else None
    view = _schedule_wipe(
        db,
        actor,
        cable,
        purpose=Purpose.HANDOVER,
        next_driver_id=target.id if target else None,
        previous_driver_id=current.driver_id if current else None,
        reason=reason,
        now=now,
        details=lambda view: {
            "from_driver_email": view.from_driver_email,
            "to_driver_email": view.to_driver_email,
            "last_sync_at": last_sync,
        },
    )
    notify.handover_started(
        db,
        serial=serial,
        losing=db.get(User, current.driver_id) if current is not None else None,
        getting=target,
        last_sync_at=cable.last_sync_at,
        now=now,
    )
    return view


@transactional
def cancel_handover(
    db: Session, actor: Actor, serial: str, *, now: dt.datetime, reason: str | None = None
) -> HandoverOut:
    """H4: cancel a pending handover; the previous driver gets the cable back."""
    reason = permissions.require_reason(actor, reason)
    cable = find_cable(db, actor, serial, lock=True)
    cmd = open_command(db, cable.id, CommandKind.WIPE)
    if cmd is None or cmd.purpose is not Purpose.HANDOVER:
        raise NotFound(f"no handover is pending for {serial}; there is nothing to cancel")
    commands.cancel(
        db, cmd, too_late=f"the handover of {serial} completed a moment ago; reload the cable"
    )
    previous = db.get(User, cmd.previous_driver_id) if cmd.previous_driver_id else None
    # An erased driver (D2) never gets a cable back: it stays with the pool.
    if (
        previous is not None
        and previous.erased_at is None
        and active_assignment(db, cable.id) is None
    ):
        db.add(
            Assignment(
                cable_id=cable.id,
                driver_id=previous.id,
                epoch=cable.epoch,
                started_at=now,
                created_by=actor.id,
                clean_at=now,  # the driver gets their own cable back: nothing to check
            )
        )
    view = _handover_out(db, cable, cmd)
    audit.append(
        db,
        now=now,
        action="handover.cancelled",
        actor=actor,
        org_id=cable.org_id,
        target=serial,
        reason=reason,
        details={"command_id": cmd.id, "driver_email": view.from_driver_email},
    )
    return view


@transactional
def reset_cable(
    db: Session, actor: Actor, serial: str, *, now: dt.datetime, reason: str | None
) -> HandoverOut:
    """Support: wipe the cable at its next connection; its driver stays assigned."""
    reason = permissions.require_reason(actor, reason)
    cable = find_cable(db, actor, serial, lock=True)
    _refuse_or_supersede_wipe(db, cable, actor, now)
    current = active_assignment(db, cable.id)
    driver_id = current.driver_id if current else None
    view = _schedule_wipe(
        db,
        actor,
        cable,
        purpose=Purpose.RESET,
        next_driver_id=driver_id,
        previous_driver_id=driver_id,
        reason=reason,
        now=now,
        details=lambda view: {"driver_email": view.to_driver_email},
    )
    return view

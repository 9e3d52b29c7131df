"""The app endpoints: connect (hand out signed commands), receipts, session upload.

Rules (DESIGN "Attribution", H2-H5, S1-S3):

* ``connect``: any driver of the cable's organisation may call it; a pending
  wipe is handed to whoever connects. An ``allow_pin_set`` goes only to the
  assigned driver and is *claimed* with a conditional UPDATE (pending, or
  issued with an expired lease -> issued until now + lifetime), so two API
  processes can never both hand it out.
* A receipt is verified with the device key from the certificate stored at
  registration; it finishes its command with a conditional UPDATE (exactly
  once). A wipe receipt opens the new epoch: head reset to genesis, the
  pending assignee becomes the assignee for the new epoch. The receipt of a
  PIN permission revoked after an app took a copy is audited as
  ``pin_reset.used_after_revoke`` and leaves it ``revoked_used``.
* ``sessions``: refusals in ``domain/attribution.py``; the batch must verify
  against the stored chain (``protocol.chain.verify_batch``); records already
  stored must be identical (counted as duplicates), the new ones are inserted
  in one go (the cable's row lock serialises its uploads, so "new" stays true),
  and the signed head that proved them is inserted idempotently (``chain_heads``:
  evidence for receipts, M6). On PostgreSQL the sessions, the head and the
  cable's new head are one statement (``_store_batch_pg``, B2); elsewhere
  ``_sql.insert_new_rows`` and an INSERT (``_store_batch``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, assert_never, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Table, bindparam, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cablepin.cloud.db import connection_of, transactional
from cablepin.cloud.domain import challenge as challenges
from cablepin.cloud.domain import commands as lifecycle
from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.domain.attribution import CableFacts, check_upload, previous_link_source
from cablepin.cloud.domain.clean_start import (
    CleanCheck,
    Step,
    clean_start_step,
    may_read_at_once,
    may_receive_wipe,
    starts_clean,
)
from cablepin.cloud.domain.commands import Event, State
from cablepin.cloud.errors import (
    BadHello,
    BadReceipt,
    ChainBroken,
    InvalidRequest,
    StaleEpoch,
    UnknownCommand,
)
from cablepin.cloud.keys import device_key
from cablepin.cloud.models import (
    Assignment,
    Cable,
    ChainHead,
    ChargingSession,
    CommandRow,
    UtcDateTime,
)
from cablepin.cloud.schemas import (
    ChallengeOut,
    ConnectRequest,
    ConnectResponse,
    ReceiptRequest,
    ReceiptResponse,
    ReleaseRequest,
    ReleaseResponse,
    SessionsUpload,
    SignedCommandOut,
    Synced,
    UploadResponse,
)
from cablepin.cloud.services import audit, commands
from cablepin.cloud.services._sql import dialect_insert, insert_new_rows
from cablepin.cloud.services.cables import (
    AssignmentFields,
    CableFields,
    CableRead,
    active_assignment,
    find_cable,
    find_cable_with,
    read_cable_with,
    schedule_clean_start,
)
from cablepin.cloud.services.commands import void_pin_resets
from cablepin.protocol.chain import Record, genesis, verify_batch
from cablepin.protocol.commands import (
    COMMAND_LIFETIME_S,
    Command,
    CommandKind,
    Receipt,
    open_receipt,
    sign_command,
)
from cablepin.protocol.errors import ChainError, MessageError, ProtocolError
from cablepin.protocol.hello import Hello
from cablepin.protocol.messages import NONCE_SIZE

__all__ = [
    "LAST_SEEN_STEP",
    "challenge",
    "connect",
    "connect_locked",
    "connect_quick",
    "post_receipt",
    "release",
    "upload_sessions",
]

# ``last_seen_at`` is written when it is this old (or the hello's facts changed): a
# cable connected again within the minute costs no write (B3).
LAST_SEEN_STEP: Final = dt.timedelta(minutes=1)


def _open_receipt(cable: Cable, blob: bytes) -> Receipt:
    try:
        receipt = open_receipt(blob, device_key(cable.cert_pem))
    except ProtocolError as e:
        raise BadReceipt(
            f"this receipt was not signed by {cable.serial}: {e.message}; "
            "relay the receipt exactly as the cable returned it"
        ) from e
    if receipt.serial != cable.serial:
        raise BadReceipt(f"this receipt is from {receipt.serial}, not {cable.serial}")
    return receipt


def _finish_wipe(
    db: Session, cable: Cable, cmd: CommandRow, receipt: Receipt, actor: Actor, now: dt.datetime
) -> None:
    if receipt.epoch <= cable.epoch:
        raise StaleEpoch(
            f"this receipt says epoch {receipt.epoch} but {cable.serial} is already in epoch "
            f"{cable.epoch}; connect the cable again",
            epoch=cable.epoch,
        )
    was_cancelled = cmd.state is State.CANCELLED
    if not commands.transition(db, cmd, Event.RECEIPT, done_at=now, result_epoch=receipt.epoch):
        return
    current = active_assignment(db, cable.id)
    # The cable is wiped whatever the cloud thought: a cancelled handover keeps its driver.
    next_driver = (current.driver_id if current else None) if was_cancelled else cmd.driver_id
    if current is not None:
        current.ended_at = now
        db.flush()
    cable.epoch = receipt.epoch
    cable.head_seq = 0
    cable.head_hash = genesis(cable.serial, receipt.epoch)
    cable.pin_default = True
    void_pin_resets(db, cable, actor, now, why="wipe")
    if next_driver is not None:
        clean = starts_clean(cmd.purpose, cancelled=was_cancelled)
        db.add(
            Assignment(
                cable_id=cable.id,
                driver_id=next_driver,
                epoch=receipt.epoch,
                started_at=now,
                created_by=cmd.issued_by,
                clean_at=now if clean else None,  # H3: else checked at the driver's connect
            )
        )
    db.flush()
    audit.append(
        db,
        now=now,
        action=f"{cmd.purpose}.done",
        actor=actor,
        org_id=cable.org_id,
        target=cable.serial,
        details={"command_id": cmd.id, "epoch": receipt.epoch, "driver_id": next_driver},
    )


def _finish_pin_set(
    db: Session, cable: Cable, cmd: CommandRow, actor: Actor, now: dt.datetime
) -> None:
    if not commands.transition(db, cmd, Event.RECEIPT, done_at=now, result_epoch=cable.epoch):
        return
    # The cable took a copy handed out before the revoke: say so, not "used" (red team, 5).
    revoked = cmd.state is State.REVOKED_USED
    audit.append(
        db,
        now=now,
        action="pin_reset.used_after_revoke" if revoked else "pin_reset.used",
        actor=actor,
        org_id=cable.org_id,
        target=cable.serial,
        details={"command_id": cmd.id},
    )


def _apply_receipt(
    db: Session, cable: Cable, blob: bytes, actor: Actor, now: dt.datetime, *, strict: bool
) -> CommandRow | None:
    receipt = _open_receipt(cable, blob)
    cmd = db.scalar(
        select(CommandRow).where(
            CommandRow.id == receipt.command_id, CommandRow.cable_id == cable.id
        )
    )
    if cmd is None:
        if strict:
            raise UnknownCommand(
                f"the cloud issued no command {receipt.command_id} for {cable.serial}; "
                "relay only receipts of commands this cloud sent"
            )
        return None
    if cmd.kind is not receipt.kind:
        raise BadReceipt(f"this receipt is for a {receipt.kind}, but the command is a {cmd.kind}")
    if cmd.state is State.DONE:
        return cmd  # a receipt shown again (hello carries the last one): already followed
    match receipt.kind:
        case CommandKind.WIPE:
            _finish_wipe(db, cable, cmd, receipt, actor, now)
        case CommandKind.ALLOW_PIN_SET:
            _finish_pin_set(db, cable, cmd, actor, now)
        case _:
            assert_never(receipt.kind)
    return cmd


@transactional
def release(
    db: Session, actor: Actor, serial: str, request: ReleaseRequest, *, now: dt.datetime
) -> ReleaseResponse:
    """The app hands back a PIN permission it did not use (the driver chose no new PIN,
    or a weak one), so the next connect gets it at once instead of when the lease ends.

    Harmless if misused: only the permission's own driver can release it, and the
    cable applies a permission at most once whatever copies exist (it remembers).
    """
    cable = find_cable(db, actor, serial, lock=True)
    cmd = db.scalar(
        select(CommandRow).where(
            CommandRow.id == request.command_id,
            CommandRow.cable_id == cable.id,
            CommandRow.kind == CommandKind.ALLOW_PIN_SET,
            CommandRow.driver_id == actor.id,
        )
    )
    if cmd is None:
        raise UnknownCommand(
            f"you hold no PIN permission {request.command_id} for {cable.serial}; "
            "release only what connect handed you"
        )
    commands.release(db, cmd)  # False: not leased (any more); nothing to hand back
    db.refresh(cmd)
    return ReleaseResponse(command_id=cmd.id, state=cmd.state)


def _signed(
    cmd: CommandRow, serial: str, nonce: bytes, epoch: int, now: dt.datetime, key: Ed25519PrivateKey
) -> SignedCommandOut:
    issued = int(now.timestamp())
    blob = sign_command(
        Command(
            id=cmd.id,
            kind=cmd.kind,
            serial=serial,
            nonce=nonce,
            epoch=epoch,
            issued_at=issued,
            expires_at=issued + COMMAND_LIFETIME_S,
        ),
        key,
    )
    return SignedCommandOut(id=cmd.id, kind=cmd.kind, blob=blob, purpose=cmd.purpose)


def _verify_hello(
    found: CableRead,
    actor: Actor,
    request: ConnectRequest,
    *,
    challenge_key: bytes,
    now: dt.datetime,
) -> None:
    """H5/P6: believe the hello only if the cable signed exactly it, for a fresh challenge."""
    cable = found.cable
    what_to_do = (
        "connect to the cable again; relay the hello exactly as the cable sent it (with its sig)"
    )
    challenge = request.challenge
    if not challenges.is_fresh(
        challenge_key, cable.serial, actor.id, challenge, int(now.timestamp())
    ):
        # Decision 11: a challenge is bound to the account that fetched it, so a hello
        # another driver obtained (even a minute ago) is refused like a stale one.
        raise BadHello(
            "this hello does not answer a fresh challenge fetched by your account: a hello is "
            "good only for the account that fetched its challenge, "
            f"for at most {2 * challenges.WINDOW_S // 60} minutes; fetch a new challenge "
            f"({cable.serial}/challenge) yourself and say hello to the cable again"
        )
    hello = Hello(
        serial=cable.serial,
        fw=request.fw,
        epoch=request.epoch,
        pin_default=request.pin_default,
        nonce=request.nonce,
        head_seq=request.head.seq,
        head_hash=request.head.hash,
        wait_s=request.wait_s,
        locked=request.locked,
        challenge=challenge,
        sig=request.sig,
    )
    try:
        hello.verify(device_key(found.cert_pem))
    except ProtocolError as e:
        raise BadHello(f"this hello was not signed by {cable.serial}; {what_to_do}") from e


def _clean_check(assignment: Assignment | AssignmentFields | None) -> CleanCheck | None:
    if assignment is None:
        return None
    return CleanCheck(
        assignee_id=assignment.driver_id,
        epoch=assignment.epoch,
        clean=assignment.clean_at is not None,
    )


def challenge(
    db: Session, actor: Actor, serial: str, *, challenge_key: bytes, now: dt.datetime
) -> ChallengeOut:
    """A fresh challenge for the next hello (stateless: see domain/challenge.py), and
    whether the app may read at once (B1: the link's first exchange carries everything)."""
    found = find_cable_with(db, actor, serial, lock=False)  # one query, nothing locked
    cable = found.cable
    value = challenges.issue(challenge_key, cable.serial, actor.id, int(now.timestamp()))
    quiet = may_read_at_once(
        _clean_check(found.assignment),
        actor_id=actor.id,
        cable_epoch=cable.epoch,
        wipe_open=found.wipe is not None,
        permission_open=found.permission is not None,
    )
    return ChallengeOut(
        challenge=value,
        valid_for_s=challenges.WINDOW_S,
        nothing_pending=quiet,
        synced=Synced(epoch=cable.epoch, seq=cable.head_seq),
    )


@dataclass(frozen=True)
class _Plan:
    """What a connect would do, read from the cable as it is (``find_cable_with``)."""

    store_facts: bool  # the caller's hello updates what we show, and it changed
    step: Step  # the clean-start check
    offer_wipe: bool  # a wipe this caller may get (its claim still to win)
    offer_permission: bool  # a PIN permission this caller may get (ditto)
    assigned: bool

    @property
    def writes(self) -> bool:
        return (
            self.store_facts or self.step is not Step.NOTHING or self.offer_wipe
        ) or self.offer_permission


def _facts_changed(cable: CableFields, request: ConnectRequest, now: dt.datetime) -> bool:
    seen = cable.last_seen_at
    return (
        seen is None
        or now - seen >= LAST_SEEN_STEP
        or cable.pin_default != request.pin_default
        or (request.fw or cable.fw) != cable.fw
    )


def _plan(found: CableRead, actor: Actor, request: ConnectRequest, now: dt.datetime) -> _Plan:
    cable, assignment, wipe, permission = (
        found.cable,
        found.assignment,
        found.wipe,
        found.permission,
    )
    # Only the cable's driver (or the one a pending wipe gives it to) updates what we show.
    drives = (assignment is not None and assignment.driver_id == actor.id) or (
        wipe is not None and wipe.driver_id == actor.id
    )
    step = clean_start_step(
        _clean_check(assignment),
        actor_id=actor.id,
        wipe_open=wipe is not None,
        hello_epoch=request.epoch,
        hello_seq=request.head.seq,
    )
    if wipe is not None:
        return _Plan(
            store_facts=drives and _facts_changed(cable, request, now),
            step=step,
            offer_wipe=may_receive_wipe(
                purpose=wipe.purpose,
                wipe_driver_id=wipe.driver_id,
                actor_id=actor.id,
                hello_epoch=request.epoch,
                cable_epoch=cable.epoch,
            ),
            offer_permission=False,
            assigned=wipe.driver_id == actor.id,
        )
    assigned = assignment is not None and assignment.driver_id == actor.id
    return _Plan(
        store_facts=drives and _facts_changed(cable, request, now),
        step=step,
        offer_wipe=False,
        offer_permission=assigned
        and permission is not None
        and request.epoch == cable.epoch
        and lifecycle.usable(
            lifecycle.Permission(
                permission.state, permission.epoch, permission.driver_id, permission.expires_at
            ),
            cable_epoch=cable.epoch,
            assignee_id=actor.id,
            now=now,
        ),
        assigned=assigned,
    )


@transactional
def connect(
    db: Session,
    actor: Actor,
    serial: str,
    request: ConnectRequest,
    *,
    command_key: Ed25519PrivateKey,
    challenge_key: bytes,
    now: dt.datetime,
) -> ConnectResponse:
    """Verify the hello; apply its receipt; hand out the commands for its nonce.

    One unit of work: ``connect_quick`` and, when it cannot answer, ``connect_locked``
    (the API's route runs the two in units of their own, the first without a
    transaction: B3).
    """
    answer = connect_quick(db, actor, serial, request, challenge_key=challenge_key, now=now)
    if answer is not None:
        return answer
    return connect_locked(db, actor, serial, request, command_key=command_key, now=now)


def connect_quick(
    db: Session | Connection,
    actor: Actor,
    serial: str,
    request: ConnectRequest,
    *,
    challenge_key: bytes,
    now: dt.datetime,
) -> ConnectResponse | None:
    """The quick part of a connect: verify the hello (refusing a bad one) and answer it
    when it changes nothing but the facts the cable's driver reports (no receipt, no
    command to hand out, no clean-start step); ``None`` when ``connect_locked`` must decide.

    B3: the cable and all it needs are one query, and new facts one conditional UPDATE
    that takes effect only if the cable is still as read (else ``connect_locked``
    decides), so this needs no lock and may run without a transaction
    (``db.autocommit``): every statement stands alone.
    """
    found = read_cable_with(db, actor, serial)  # plain rows: no entity is built (B3)
    if len(request.nonce) != NONCE_SIZE:
        raise InvalidRequest(f"the nonce must be {NONCE_SIZE} bytes: send the one from hello")
    _verify_hello(found, actor, request, challenge_key=challenge_key, now=now)
    plan = _plan(found, actor, request, now)
    if request.receipt is not None or plan.step is not Step.NOTHING:
        return None
    if plan.offer_wipe or plan.offer_permission:
        return None
    if plan.store_facts and not _store_facts(db, found.cable, request, now):
        return None
    return _answer(found.cable, plan.assigned, [])


def _store_facts(
    db: Session | Connection, cable: CableFields, request: ConnectRequest, now: dt.datetime
) -> bool:
    """What the driver's hello says, stored if the cable is still as ``cable`` was read
    (its epoch and these facts): a compare-and-set, one statement. False: it changed."""
    stored = connection_of(db).execute(
        _STORE_FACTS,
        {
            "cable_id": cable.id,
            "read_epoch": cable.epoch,
            "read_seen": cable.last_seen_at,
            "read_pin_default": cable.pin_default,
            "read_fw": cable.fw,
            "new_seen": now,
            "new_pin_default": request.pin_default,
            "new_fw": request.fw or cable.fw,
        },
    )
    return bool(getattr(stored, "rowcount", 0) == 1)


# Built once: the statement is the same every time; Core, run on the session's
# connection, as nothing of it is in the session (B3).
_CABLES_TABLE = cast(Table, Cable.__table__)
_CABLES = _CABLES_TABLE.c
_STORE_FACTS = (
    update(_CABLES_TABLE)
    .where(
        _CABLES.id == bindparam("cable_id"),
        _CABLES.epoch == bindparam("read_epoch"),
        _CABLES.last_seen_at.is_not_distinct_from(bindparam("read_seen")),
        _CABLES.pin_default.is_not_distinct_from(bindparam("read_pin_default")),
        _CABLES.fw.is_not_distinct_from(bindparam("read_fw")),
    )
    .values(
        last_seen_at=bindparam("new_seen"),
        pin_default=bindparam("new_pin_default"),
        fw=bindparam("new_fw"),
    )
)


@transactional
def connect_locked(
    db: Session,
    actor: Actor,
    serial: str,
    request: ConnectRequest,
    *,
    command_key: Ed25519PrivateKey,
    now: dt.datetime,
) -> ConnectResponse:
    """The part of a connect that writes, for a hello ``connect_quick`` verified: read
    everything again under the cable's row lock and decide there."""
    nonce = request.nonce
    found = find_cable_with(db, actor, serial, lock=True)
    if request.receipt is not None:
        _apply_receipt(db, found.cable, request.receipt, actor, now, strict=False)
        # It may have ended an assignment, opened one, finished a command: read again.
        found = find_cable_with(db, actor, serial, lock=True)
    cable, assignment, wipe = found.cable, found.assignment, found.wipe
    plan = _plan(found.read(), actor, request, now)  # the quick path's rule, on the same facts
    if plan.store_facts:
        cable.last_seen_at = now
        cable.pin_default = request.pin_default
        cable.fw = request.fw or cable.fw
    if plan.step is Step.CLEAN and assignment is not None:
        assignment.clean_at = now
        audit.append(
            db,
            now=now,
            action="clean_start.confirmed",
            actor=actor,
            org_id=cable.org_id,
            target=cable.serial,
            details={"epoch": request.epoch},
        )
    elif plan.step is Step.WIPE:
        wipe = schedule_clean_start(db, actor, cable, driver_id=actor.id, now=now)
    signed: list[SignedCommandOut] = []
    assigned = plan.assigned
    if wipe is not None:
        assigned = wipe.driver_id == actor.id
        # Handing a wipe out twice is harmless: each copy is bound to one nonce and epoch.
        if may_receive_wipe(
            purpose=wipe.purpose,
            wipe_driver_id=wipe.driver_id,
            actor_id=actor.id,
            hello_epoch=request.epoch,
            cable_epoch=cable.epoch,
        ) and commands.claim(db, wipe, now):
            signed.append(_signed(wipe, cable.serial, nonce, cable.epoch, now, command_key))
    elif (
        plan.offer_permission
        and found.permission is not None
        and commands.claim(db, found.permission, now)
    ):
        signed.append(_signed(found.permission, cable.serial, nonce, cable.epoch, now, command_key))
    return _answer(cable, assigned, signed)


def _answer(
    cable: Cable | CableFields, assigned: bool, signed: list[SignedCommandOut]
) -> ConnectResponse:
    synced = Synced(epoch=cable.epoch, seq=cable.head_seq)
    return ConnectResponse(serial=cable.serial, assigned=assigned, commands=signed, synced=synced)


@transactional
def post_receipt(
    db: Session, actor: Actor, serial: str, request: ReceiptRequest, *, now: dt.datetime
) -> ReceiptResponse:
    cable = find_cable(db, actor, serial, lock=True)
    cmd = _apply_receipt(db, cable, request.receipt, actor, now, strict=True)
    assert cmd is not None
    response = ReceiptResponse(command_id=cmd.id, kind=cmd.kind, state=cmd.state, epoch=cable.epoch)
    return response


@transactional
def upload_sessions(
    db: Session, actor: Actor, serial: str, request: SessionsUpload, *, now: dt.datetime
) -> UploadResponse:
    found = find_cable_with(db, actor, serial, lock=True)
    cable, assignment = found.cable, found.assignment
    try:
        records = [Record.from_wire(r) for r in request.records]
    except MessageError as e:
        raise InvalidRequest(f"{e.message}; send the records exactly as the cable gave them") from e
    head_sig = request.head_sig
    facts = CableFacts(
        serial=cable.serial,
        epoch=cable.epoch,
        head_seq=cable.head_seq,
        wipe_pending=found.wipe is not None,
        assignee_id=assignment.driver_id
        if assignment and assignment.epoch == cable.epoch
        else None,
        clean_pending=assignment is not None and assignment.clean_at is None,
    )
    first = records[0].seq
    check_upload(facts, actor_id=actor.id, batch_epoch=request.epoch, first_seq=first)
    source = previous_link_source(first, cable.head_seq)
    if source == "genesis":
        previous = (0, genesis(cable.serial, cable.epoch))
    elif source == "head":
        previous = (cable.head_seq, cable.head_hash)
    else:
        stored = db.scalar(
            select(ChargingSession.chain_hash).where(
                ChargingSession.cable_id == cable.id,
                ChargingSession.epoch == cable.epoch,
                ChargingSession.seq == first - 1,
            )
        )
        if stored is None:
            raise ChainBroken(f"session {first - 1} is unknown; sync again from the start")
        previous = (first - 1, stored)
    try:
        hashes = verify_batch(
            serial=cable.serial,
            epoch=cable.epoch,
            previous=previous,
            records=records,
            head_sig=head_sig,
            device_key=device_key(found.cert_pem),
        )
    except ChainError as e:
        raise ChainBroken(e.message, synced_seq=cable.head_seq) from e
    # Every stored session of this epoch is at or below the head (each upload moves the
    # head to its last record), so a batch past the head has none stored.
    known = {}
    if first <= cable.head_seq:
        known = dict(
            db.execute(
                select(ChargingSession.seq, ChargingSession.chain_hash).where(
                    ChargingSession.cable_id == cable.id,
                    ChargingSession.epoch == cable.epoch,
                    ChargingSession.seq.between(first, records[-1].seq),
                )
            ).all()
        )
    duplicates = 0
    new: list[tuple[Record, bytes]] = []
    for record, chain_hash in zip(records, hashes, strict=True):
        if record.seq in known:
            if known[record.seq] != chain_hash:
                raise ChainBroken(
                    f"session {record.seq} differs from the one already synced; "
                    "the cable's history was forked: contact support",
                    synced_seq=cable.head_seq,
                )
            duplicates += 1
            continue
        new.append((record, chain_hash))
    # New for certain: the cable's row lock serialises its uploads and ``known`` holds
    # every stored session of this range.
    last = records[-1]
    if last.seq > cable.head_seq:
        head_seq, head_hash = last.seq, hashes[-1]
    else:
        head_seq, head_hash = cable.head_seq, cable.head_hash
    if db.get_bind().dialect.name == "postgresql":
        _store_batch_pg(db, cable, actor.id, new, last.seq, hashes[-1], head_sig, now)
        # That statement wrote the cable's row: the loaded object follows without a flush.
        set_committed_value(cable, "head_seq", head_seq)
        set_committed_value(cable, "head_hash", head_hash)
        set_committed_value(cable, "last_sync_at", now)
    else:
        _store_batch(db, cable, actor.id, new, last.seq, hashes[-1], head_sig, now)
        cable.head_seq, cable.head_hash, cable.last_sync_at = head_seq, head_hash, now
    accepted = len(new)
    synced = Synced(epoch=cable.epoch, seq=cable.head_seq)
    return UploadResponse(accepted=accepted, duplicates=duplicates, synced=synced)


def _store_batch(
    db: Session,
    cable: Cable,
    driver_id: int,
    new: list[tuple[Record, bytes]],
    signed_seq: int,
    signed_hash: bytes,
    head_sig: bytes,
    now: dt.datetime,
) -> None:
    """The new sessions in one go (``_sql.insert_new_rows``), and the signed head that
    proved them (M6: every head the cable signed, so any session can be proven later)."""
    rows = [
        {
            "cable_id": cable.id,
            "epoch": cable.epoch,
            "seq": record.seq,
            "driver_id": driver_id,
            "start_s": record.start,
            "end_s": record.end,
            "wh": record.wh,
            "meter_start_wh": record.meter_start_wh,
            "meter_end_wh": record.meter_end_wh,
            "max_w": record.max_w,
            "chain_hash": chain_hash,
            "received_at": now,
        }
        for record, chain_hash in new
    ]
    insert_new_rows(db, ChargingSession, rows)
    db.execute(
        dialect_insert(db, ChainHead)
        .values(
            cable_id=cable.id,
            epoch=cable.epoch,
            seq=signed_seq,
            hash=signed_hash,
            sig=head_sig,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["cable_id", "epoch", "seq"])
    )


def _store_batch_pg(
    db: Session,
    cable: Cable,
    driver_id: int,
    new: list[tuple[Record, bytes]],
    signed_seq: int,
    signed_hash: bytes,
    head_sig: bytes,
    now: dt.datetime,
) -> None:
    """``_store_batch`` and the cable's new head in one statement, one round trip (B2):
    the sessions from arrays (``unnest``), the signed head, the cable's row."""
    seqs, starts, ends, whs, meter_starts, meter_ends, max_ws, chain_hashes = (
        [r.seq for r, _ in new],
        [r.start for r, _ in new],
        [r.end for r, _ in new],
        [r.wh for r, _ in new],
        [r.meter_start_wh for r, _ in new],
        [r.meter_end_wh for r, _ in new],
        [r.max_w for r, _ in new],
        [h for _, h in new],
    )
    db.execute(
        _STORE_BATCH_PG,
        {
            "cable_id": cable.id,
            "epoch": cable.epoch,
            "driver_id": driver_id,
            "now": now,
            "seqs": seqs,
            "starts": starts,
            "ends": ends,
            "whs": whs,
            "meter_starts": meter_starts,
            "meter_ends": meter_ends,
            "max_ws": max_ws,
            "hashes": chain_hashes,
            "signed_seq": signed_seq,
            "signed_hash": signed_hash,
            "sig": head_sig,
            "head_seq": max(signed_seq, cable.head_seq),
            "head_hash": signed_hash if signed_seq > cable.head_seq else cable.head_hash,
        },
    )


_STORE_BATCH_PG = text(
    """
    WITH new_sessions AS (
        INSERT INTO charging_sessions (cable_id, epoch, seq, driver_id, start_s, end_s, wh,
                                       meter_start_wh, meter_end_wh, max_w, chain_hash,
                                       received_at)
        SELECT :cable_id, :epoch, s.seq, :driver_id, s.start_s, s.end_s, s.wh,
               s.meter_start_wh, s.meter_end_wh, s.max_w, s.chain_hash, :now
        FROM unnest(CAST(:seqs AS bigint[]), CAST(:starts AS bigint[]),
                    CAST(:ends AS bigint[]), CAST(:whs AS bigint[]),
                    CAST(:meter_starts AS bigint[]), CAST(:meter_ends AS bigint[]),
                    CAST(:max_ws AS bigint[]), CAST(:hashes AS bytea[]))
             AS s(seq, start_s, end_s, wh, meter_start_wh, meter_end_wh, max_w, chain_hash)
    ), new_head AS (
        INSERT INTO chain_heads (cable_id, epoch, seq, hash, sig, received_at)
        VALUES (:cable_id, :epoch, :signed_seq, :signed_hash, :sig, :now)
        ON CONFLICT (cable_id, epoch, seq) DO NOTHING
    )
    UPDATE cables SET head_seq = :head_seq, head_hash = :head_hash, last_sync_at = :now
    WHERE id = :cable_id
    """
).bindparams(bindparam("now", type_=UtcDateTime()))

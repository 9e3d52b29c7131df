"""The cable's rules: PIN, bonds, session log, signed commands. Sans-I/O.

Rules kept here (requirement IDs in brackets):

* Every operation takes the flash lock, loads the (small) state, decides,
  and saves the new state in one atomic write, so two processes (``cable
  run`` and ``cable charge``) never lose each other's changes. Sessions are
  appended to the log and made durable first; the state saved after them is
  what makes them count (``state.py``). Nothing costs more with more
  sessions stored: ``read`` reads only the records it sends.
* [P9] A PIN guess is counted on flash *before* the PIN is compared; only
  then is the keyed hash compared, in constant time, for the whole PIN. A
  correct PIN resets the counter. Waits come from ``pin.LOCKOUT_SCHEDULE``
  and are stored as an absolute time, so they survive a reboot.
* [P4] A correct PIN creates a bond (a 32-byte random token; only its SHA-256
  is stored). Changing the PIN revokes every bond and returns one fresh bond
  to the caller.
* [P5] Changing the PIN needs the current PIN, unless the PIN is ``0000``
  or an ``allow_pin_set`` was applied on this connection.
* [H5] A command counts only if the cloud signed it for this cable, this
  connection's nonce, the current epoch and this moment, and the connection
  is younger than a signed copy's lifetime (``open_s``, the cable's own count).
* [H2] ``wipe`` deletes sessions, bonds and counters, sets the PIN to
  ``0000`` and increments the epoch, in one atomic write (then cuts the old
  records off the log); the identity (keys, certificate, command key) stays.
  The epoch never goes back.
* [P8] ``allow_pin_set`` lifts a lockout and lets this connection set a new
  PIN without the current one (once).
* The receipt of the last applied command is stored with its effect (same
  write), so it can be shown again at the next ``hello``.

Time (``now``, UTC epoch seconds) and randomness (``random(n)``) are injected.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cablepin.cable import pin as pins
from cablepin.cable.errors import (
    InvalidSession,
    Locked,
    NotAuthenticated,
    PinRequired,
    UnknownBond,
    WrongPin,
)
from cablepin.cable.state import (
    MAX_APPLIED,
    MAX_BONDS,
    CableState,
    LoggedRecord,
    append_sessions,
    clear_log,
    load_state,
    read_sessions,
    save_state,
)
from cablepin.cable.store import Flash
from cablepin.protocol.batch import pack_records
from cablepin.protocol.chain import Head, Record, genesis, link, sign_head
from cablepin.protocol.commands import (
    CommandKind,
    Receipt,
    check_binding,
    open_command,
    sign_receipt,
)
from cablepin.protocol.errors import CommandRejected, MessageError, ProtocolError
from cablepin.protocol.hello import Hello
from cablepin.protocol.messages import MAX_READ_LIMIT

__all__ = [
    "BOND_SIZE",
    "FW_VERSION",
    "Applied",
    "Cable",
    "Charge",
    "Grant",
    "Identity",
    "factory_state",
    "lockout",
]

FW_VERSION = "cablepin-sim/0.1.0"
BOND_SIZE = 32

Random = Callable[[int], bytes]


@dataclass(frozen=True)
class Identity:
    """What the factory put on the cable; a wipe never touches it."""

    serial: str
    device_key: Ed25519PrivateKey
    command_key: Ed25519PublicKey  # the cloud's public key: commands must verify under it
    pin_key: bytes  # secret key of the PIN hash, kept apart from the state file
    fw: str = FW_VERSION


@dataclass(frozen=True)
class Grant:
    """What a connection has proven: bound to an epoch and to the bond it holds (if any).

    A grant dies when the cable is wiped (epoch changes) or its bond is revoked
    (PIN changed on another connection). ``allowed`` means an ``allow_pin_set``
    was applied on this connection and not used yet.
    """

    epoch: int
    bond_hash: bytes | None
    allowed: bool = False

    def valid_in(self, state: CableState) -> bool:
        if state.epoch != self.epoch:
            return False
        return self.bond_hash is None or self.bond_hash in state.bonds


@dataclass(frozen=True)
class Charge:
    """One charging session as the hardware measured it (UTC epoch seconds, Wh, W)."""

    start: int
    end: int
    wh: int
    max_w: int


@dataclass(frozen=True)
class Applied:
    """The result of a command: the signed receipt and the connection's new grant."""

    kind: CommandKind
    receipt: bytes
    grant: Grant | None


def factory_state(identity: Identity) -> CableState:
    """P1: a new cable: PIN 0000, epoch 0, no sessions, no bonds."""
    return CableState(
        epoch=0,
        pin_hash=pins.hash_pin(identity.pin_key, pins.DEFAULT_PIN),
        pin_default=True,
        head_hash=genesis(identity.serial, 0),
    )


def lockout(state: CableState, now: int) -> tuple[int, bool]:
    """(seconds to wait before the next PIN attempt, locked until P8/H2)."""
    scheduled = pins.wait_after(state.failures)
    if scheduled is None:
        return 0, True
    # A clock that jumps back must not stretch a wait beyond the schedule.
    return max(0, min(state.locked_until - now, scheduled)), False


def _bond_hash(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


class Cable:
    """The firmware over one flash. Stateless between calls: the flash is the truth."""

    def __init__(self, identity: Identity, flash: Flash, random: Random = os.urandom) -> None:
        self.identity = identity
        self.flash = flash
        self._random = random

    @property
    def serial(self) -> str:
        return self.identity.serial

    # -- reading --------------------------------------------------------------

    def state(self) -> CableState:
        with self.flash.lock():
            return load_state(self.flash)

    def hello(self, nonce: bytes, now: int, challenge: bytes | None = None) -> dict[str, Any]:
        state = self.state()
        wait_s, locked = lockout(state, now)
        hello = Hello(
            serial=self.serial,
            fw=self.identity.fw,
            epoch=state.epoch,
            pin_default=state.pin_default,
            nonce=nonce,
            head_seq=state.head_seq,
            head_hash=state.head_hash,
            wait_s=wait_s,
            locked=locked,
            challenge=challenge,  # the cloud's: proves this hello is fresh
            receipt=state.last_receipt,
        )
        # Signed with this connection's nonce: the cloud believes these facts only so.
        return hello.signed(self.identity.device_key).to_wire()

    def read(self, grant: Grant, after_seq: int, limit: int) -> dict[str, Any]:
        if not 1 <= limit <= MAX_READ_LIMIT:
            raise MessageError(f"read limit must be 1..{MAX_READ_LIMIT}; ask for fewer records")
        with self.flash.lock():
            state = load_state(self.flash)
            self._check_grant(grant, state)
            if after_seq < 0:
                raise MessageError("read after_seq must be 0 or more (0 reads from the start)")
            batch = read_sessions(
                self.flash, state, after_seq, limit, genesis(self.serial, state.epoch)
            )
        if batch:
            seq, head_hash = batch[-1].record.seq, batch[-1].hash
        else:
            seq, head_hash = state.head_seq, state.head_hash
        head = Head(self.serial, state.epoch, seq, head_hash)
        return {
            "batch": pack_records([logged.record for logged in batch]),
            "head_sig": sign_head(head, self.identity.device_key),
            "more": seq < state.head_seq,
        }

    # -- PIN and bonds --------------------------------------------------------

    def auth_bond(self, token: bytes) -> Grant:
        state = self.state()
        bond_hash = _bond_hash(token)
        if bond_hash not in state.bonds:
            raise UnknownBond(
                "this app is not bonded with the cable (anymore: the PIN was changed or the "
                "cable was reset); connect with the PIN"
            )
        return Grant(state.epoch, bond_hash)

    def auth_pin(self, pin: str, now: int) -> tuple[bytes, Grant]:
        """P3/P4: a correct PIN bonds the app; returns the new bond token."""
        candidate = pins.validate_pin(pin)
        with self.flash.lock():
            state = self._guess(load_state(self.flash), candidate, now)
            token, bond_hash = self._new_bond()
            bonds = (*state.bonds, bond_hash)[-MAX_BONDS:]
            save_state(self.flash, state.evolve(bonds=bonds))
        return token, Grant(state.epoch, bond_hash)

    def set_pin(self, grant: Grant, new: str, current: str | None, now: int) -> tuple[bytes, Grant]:
        """P5/P4/P8: change the PIN; every other bond is revoked, the caller gets a fresh one."""
        chosen = pins.check_new_pin(new)  # bad input costs no attempt (U2)
        with self.flash.lock():
            state = load_state(self.flash)
            self._check_grant(grant, state)
            if not (grant.allowed or state.pin_default):
                if current is None:
                    raise PinRequired(
                        "enter the current PIN to change it; if you forgot it, ask your fleet "
                        "manager to allow a new PIN"
                    )
                state = self._guess(state, pins.validate_pin(current), now)
            token, bond_hash = self._new_bond()
            save_state(
                self.flash,
                state.evolve(
                    pin_hash=pins.hash_pin(self.identity.pin_key, chosen),
                    pin_default=False,
                    failures=0,
                    locked_until=0,
                    bonds=(bond_hash,),
                ),
            )
        return token, Grant(state.epoch, bond_hash)

    def _guess(self, state: CableState, candidate: str, now: int) -> CableState:
        """P9: count the attempt on flash, then compare. Returns the state after a right PIN."""
        wait_s, locked = lockout(state, now)
        if locked:
            raise Locked.permanently()
        if wait_s:
            raise Locked.waiting(wait_s)
        failures = state.failures + 1
        wait_next = pins.wait_after(failures)
        counted = state.evolve(failures=failures, locked_until=now + (wait_next or 0))
        save_state(self.flash, counted)  # before the compare: a power cut gives nothing back
        if pins.pin_matches(self.identity.pin_key, state.pin_hash, candidate):
            return counted.evolve(failures=0, locked_until=0)
        if wait_next is None:
            raise Locked.permanently()
        raise WrongPin(attempts_before_wait=pins.attempts_before_wait(failures), wait_s=wait_next)

    def _new_bond(self) -> tuple[bytes, bytes]:
        token = self._random(BOND_SIZE)
        return token, _bond_hash(token)

    @staticmethod
    def _check_grant(grant: Grant, state: CableState) -> None:
        if not grant.valid_in(state):
            raise NotAuthenticated(
                "this connection lost its authentication (the cable was reset or the PIN was "
                "changed elsewhere); connect again"
            )

    # -- commands -------------------------------------------------------------

    def apply_command(self, blob: bytes, nonce: bytes, now: int, *, open_s: int) -> Applied:
        """H5: open and bind a cloud command, apply it, return the signed receipt.

        ``open_s``: seconds since the connection (its nonce) opened, by the cable's count.
        """
        command = open_command(blob, self.identity.command_key)
        with self.flash.lock():
            state = load_state(self.flash)
            check_binding(
                command, serial=self.serial, nonce=nonce, epoch=state.epoch, now=now, open_s=open_s
            )
            if command.id in state.applied:
                # P8: a permission is single-use even if an app withholds its receipt and
                # the cloud signs it again for a later connection.
                raise CommandRejected(
                    "this command was already carried out on this cable; nothing more to do",
                    reason="replayed",
                )
            grant: Grant | None
            match command.kind:
                case CommandKind.WIPE:
                    after = self._wiped(state)  # a new epoch: older commands cannot bind to it
                    grant = None
                case CommandKind.ALLOW_PIN_SET:
                    applied = (*state.applied, command.id)[-MAX_APPLIED:]
                    after = state.evolve(failures=0, locked_until=0, applied=applied)
                    grant = Grant(state.epoch, None, allowed=True)
                case _:
                    assert_never(command.kind)
            receipt = sign_receipt(
                Receipt(command.id, command.kind, self.serial, nonce, "done", after.epoch),
                self.identity.device_key,
            )
            save_state(self.flash, after.evolve(last_receipt=receipt))
            if after.epoch != state.epoch:  # a wipe: it counted above, this frees the flash
                clear_log(self.flash)
        return Applied(command.kind, receipt, grant)

    def _wiped(self, state: CableState) -> CableState:
        # The meter reading stays: it counts energy through the hardware, like an odometer.
        epoch = state.epoch + 1
        return CableState(
            epoch=epoch,
            pin_hash=pins.hash_pin(self.identity.pin_key, pins.DEFAULT_PIN),
            pin_default=True,
            head_hash=genesis(self.serial, epoch),
            meter_wh=state.meter_wh,
        )

    # -- charging -------------------------------------------------------------

    def record_session(self, start: int, end: int, wh: int, max_w: int) -> Record:
        """Append one charging session to the chain; durable once this returns."""
        return self.record_sessions([Charge(start, end, wh, max_w)])[0]

    def record_sessions(self, charges: Sequence[Charge]) -> list[Record]:
        """Append sessions in one atomic step: all of them are recorded, or none."""
        with self.flash.lock():
            state = load_state(self.flash)
            entries: list[LoggedRecord] = []
            seq, head_hash, meter = state.head_seq, state.head_hash, state.meter_wh
            for charge in charges:
                values = [seq + 1, charge.start, charge.end, charge.wh, meter, meter + charge.wh]
                try:
                    record = Record.from_wire([*values, charge.max_w])
                except ProtocolError as e:
                    raise InvalidSession(
                        f"cannot record this session ({e.message}); give non-negative whole "
                        "numbers and an end after the start"
                    ) from e
                head_hash = link(head_hash, record)
                entries.append(LoggedRecord(record, head_hash))
                seq, meter = record.seq, record.meter_end_wh
            append_sessions(self.flash, state, entries)
            save_state(self.flash, state.evolve(head_seq=seq, head_hash=head_hash, meter_wh=meter))
        return [entry.record for entry in entries]

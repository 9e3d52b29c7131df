"""What the cable keeps on flash: a small state file and an append-only session log.

Rules kept here:

* ``CableState`` is immutable and small (PIN hash, counters, bonds, epoch,
  head of the chain, how many sessions the log holds); it never holds the
  sessions. ``save_state`` replaces it in a single atomic write, so every
  change of it is old-or-new after a power cut, and costs the same however
  many sessions are stored.
* The sessions are in ``sessions.log``: fixed-size records
  (``RECORD_SIZE`` bytes: the seven integers of the record, then its chain
  hash), record ``seq`` at offset ``(seq - 1) * RECORD_SIZE``, so a batch
  from anywhere in the log is one read of its own bytes.
* Recording is two steps (``append_sessions``, then ``save_state``): the new
  records are written after the last counted one and fsynced, and only then
  does the state say they count (``head_seq``). A power cut before the state
  is replaced leaves the old state: the bytes past ``head_seq`` are a torn or
  orphaned tail that nothing reads and the next append writes over. So a
  session is never half there, never lost once reported, never doubled.
* A wipe sets ``head_seq`` to 0 in the same atomic write as the new epoch,
  then cuts the log off (``clear_log``); if the power goes in between, the
  old records lie past the end, unread, until the next append overwrites them.
* The PIN is stored only as a keyed hash; a bond only as SHA-256 of its
  token. Nothing here can give a PIN or a token back.
* A file that does not decode into exactly this shape, a log shorter than
  the state says, or a record that does not continue the chain is refused
  (``StoreError``): never guess at a half-understood state.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Any

from cablepin.cable.errors import NotProvisioned, StoreError
from cablepin.cable.store import LOG_FILE, STATE_FILE, Flash, atomic_replace
from cablepin.protocol.chain import Record, link
from cablepin.protocol.codec import cbor_dumps, cbor_loads
from cablepin.protocol.errors import ProtocolError

__all__ = [
    "MAX_SESSIONS",
    "RECORD_SIZE",
    "CableState",
    "LoggedRecord",
    "append_sessions",
    "clear_log",
    "decode_record",
    "decode_state",
    "encode_record",
    "encode_state",
    "load_state",
    "read_sessions",
    "save_state",
]

VERSION = 2
# Version 1 kept the sessions inside the state file (up to 64 MiB); it is migrated on load.
_V1, _V1_MAX_BYTES = 1, 64 * 1024 * 1024
# The state file holds no sessions: 16 bonds, 32 command ids and a receipt fit
# in a few KiB. Read from our own flash, not from a peer: its own bound.
MAX_STATE_BYTES = 64 * 1024
# A million sessions (88 MB) is decades of charging.
MAX_SESSIONS = 1_000_000
MAX_BONDS = 16
# Command ids applied in this epoch. A wipe starts a new epoch (and commands are
# bound to the epoch), so only the last few permissions need remembering.
MAX_APPLIED = 32

_RECORD = struct.Struct(">7Q32s")  # seq, start, end, wh, meter_start, meter_end, max_w; hash
RECORD_SIZE = _RECORD.size


@dataclass(frozen=True)
class LoggedRecord:
    record: Record
    hash: bytes


@dataclass(frozen=True)
class CableState:
    epoch: int
    pin_hash: bytes
    pin_default: bool
    head_hash: bytes
    failures: int = 0
    locked_until: int = 0
    bonds: tuple[bytes, ...] = ()
    head_seq: int = 0  # how many sessions of this epoch the log holds (seq counts from 1)
    meter_wh: int = 0
    last_receipt: bytes | None = None
    applied: tuple[str, ...] = ()

    def evolve(self, **changes: Any) -> CableState:
        return replace(self, **changes)


# -- the state file -------------------------------------------------------------------


def encode_state(state: CableState) -> bytes:
    return cbor_dumps(
        {
            "v": VERSION,
            "epoch": state.epoch,
            "pin_hash": state.pin_hash,
            "pin_default": state.pin_default,
            "head_seq": state.head_seq,
            "head_hash": state.head_hash,
            "failures": state.failures,
            "locked_until": state.locked_until,
            "bonds": list(state.bonds),
            "meter_wh": state.meter_wh,
            "last_receipt": state.last_receipt,
            "applied": list(state.applied),
        }
    )


def _get(raw: dict[str, Any], name: str, kind: type) -> Any:
    value = raw.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StoreError(
            f"the cable's state is damaged (field {name!r}); provision the cable again"
        )
    return value


def _decode_map(data: bytes, max_size: int) -> dict[str, Any]:
    try:
        raw = cbor_loads(data, max_size=max_size)
    except ProtocolError as e:
        raise StoreError("the cable's state is unreadable; provision the cable again") from e
    if not isinstance(raw, dict) or raw.get("v") not in (VERSION, _V1):
        raise StoreError("the cable's state has an unknown format; provision the cable again")
    return raw


def decode_state(data: bytes) -> CableState:
    return _decode_v2(_decode_map(data, MAX_STATE_BYTES))


def _decode_v2(raw: dict[str, Any]) -> CableState:
    if raw.get("v") != VERSION:
        raise StoreError("the cable's state has an unknown format; provision the cable again")
    head_seq = _get(raw, "head_seq", int)
    if not 0 <= head_seq <= MAX_SESSIONS:
        raise StoreError("the cable's state is damaged (field 'head_seq'); provision it again")
    return _state_from(raw, head_seq)


def _state_from(raw: dict[str, Any], head_seq: int) -> CableState:
    applied = raw.get("applied", [])
    if not isinstance(applied, list) or not all(isinstance(a, str) for a in applied):
        raise StoreError("the cable's state is damaged (applied commands)")
    receipt = raw.get("last_receipt")
    if receipt is not None and not isinstance(receipt, bytes):
        raise StoreError("the cable's state is damaged (last receipt)")
    bonds = _get(raw, "bonds", list)
    if not all(isinstance(b, bytes) for b in bonds):
        raise StoreError("the cable's state is damaged (bonds)")
    return CableState(
        epoch=_get(raw, "epoch", int),
        pin_hash=_get(raw, "pin_hash", bytes),
        pin_default=_get(raw, "pin_default", bool),
        head_hash=_get(raw, "head_hash", bytes),
        failures=_get(raw, "failures", int),
        locked_until=_get(raw, "locked_until", int),
        bonds=tuple(bonds),
        head_seq=head_seq,
        meter_wh=_get(raw, "meter_wh", int),
        last_receipt=receipt,
        applied=tuple(applied),
    )


def load_state(flash: Flash) -> CableState:
    """The state; O(1) in the number of sessions (the log is only measured)."""
    data = flash.read(STATE_FILE)
    if data is None:
        raise NotProvisioned(
            "no cable state here; run `cablepin factory provision` to make a cable first"
        )
    raw = _decode_map(data, _V1_MAX_BYTES)
    if raw.get("v") == _V1:
        return _migrate_v1(flash, raw)
    if len(data) > MAX_STATE_BYTES:
        raise StoreError("the cable's state is too large to be its own; provision it again")
    state = _decode_v2(raw)
    # Longer is fine (a tail no state counts yet); shorter means counted records are gone.
    if flash.size(LOG_FILE) < state.head_seq * RECORD_SIZE:
        raise StoreError(
            "the cable's session log is shorter than its state says; provision the cable again"
        )
    return state


def _migrate_v1(flash: Flash, raw: dict[str, Any]) -> CableState:
    """A state from before the log (v1: the sessions inside it): move them into the log.

    The log is written and fsynced first, then the v2 state replaces the v1
    one; a power cut in between leaves the v1 state, and the next load
    migrates again from the start.
    """
    if raw.get("v") != _V1:
        raise StoreError("the cable's state has an unknown format; provision the cable again")
    entries: list[LoggedRecord] = []
    for item in _get(raw, "sessions", list):
        if not isinstance(item, list) or len(item) != 8 or not isinstance(item[7], bytes):
            raise StoreError("the cable's session log is damaged; provision the cable again")
        try:
            entries.append(LoggedRecord(Record.from_wire(item[:7]), item[7]))
        except ProtocolError as e:
            raise StoreError("the cable's session log is damaged") from e
    state = _state_from(raw, 0)
    append_sessions(flash, state, entries)
    migrated = state.evolve(head_seq=len(entries))
    save_state(flash, migrated)
    return migrated


def save_state(flash: Flash, state: CableState) -> None:
    """Replace the state in one atomic write: the commit point of every change."""
    data = encode_state(state)
    if len(data) > MAX_STATE_BYTES:  # never write a state this firmware could not read back
        raise StoreError("the cable's state is too large; nothing was changed. Contact support")
    atomic_replace(flash, STATE_FILE, data)


# -- the session log ------------------------------------------------------------------


def encode_record(entry: LoggedRecord) -> bytes:
    return _RECORD.pack(*entry.record.to_wire(), entry.hash)


def decode_record(data: bytes) -> LoggedRecord:
    *values, chain_hash = _RECORD.unpack(data)
    try:
        return LoggedRecord(Record.from_wire(values), chain_hash)
    except ProtocolError as e:
        raise StoreError("the cable's session log is damaged; provision the cable again") from e


def append_sessions(flash: Flash, state: CableState, entries: list[LoggedRecord]) -> None:
    """Put ``entries`` after the last counted record and make them durable.

    They count only once the caller saves a state whose ``head_seq`` includes
    them; until then a power cut leaves them as an uncounted tail.
    """
    if state.head_seq + len(entries) > MAX_SESSIONS:
        raise StoreError(
            "the cable's memory is full; nothing was recorded. Contact support to have it reset"
        )
    for n, entry in enumerate(entries, start=state.head_seq + 1):
        if entry.record.seq != n:
            raise StoreError(f"session {entry.record.seq} cannot follow {n - 1}; nothing recorded")
    data = b"".join(encode_record(entry) for entry in entries)
    flash.write_from(LOG_FILE, state.head_seq * RECORD_SIZE, data)
    flash.fsync(LOG_FILE)  # durable before the state may count them


def clear_log(flash: Flash) -> None:
    """After a wipe is saved: cut the old epoch's records off the log."""
    flash.write_from(LOG_FILE, 0, b"")
    flash.fsync(LOG_FILE)


def read_sessions(
    flash: Flash, state: CableState, after_seq: int, limit: int, genesis: bytes
) -> list[LoggedRecord]:
    """Up to ``limit`` counted records after ``after_seq``: reads only their bytes.

    Each record must continue the chain from the one before it (``genesis``
    for seq 1), so a damaged record is refused, never sent.
    """
    if after_seq < 0 or limit < 1:
        raise ValueError("after_seq must be 0 or more and limit 1 or more")
    last = min(after_seq + limit, state.head_seq)
    if last <= after_seq:
        return []
    first = max(after_seq - 1, 0)  # one more in front: its hash links the first one
    data = flash.read_at(LOG_FILE, first * RECORD_SIZE, (last - first) * RECORD_SIZE)
    if len(data) != (last - first) * RECORD_SIZE:
        raise StoreError("the cable's session log is cut short; provision the cable again")
    entries = [decode_record(data[i : i + RECORD_SIZE]) for i in range(0, len(data), RECORD_SIZE)]
    previous = genesis if after_seq == 0 else entries.pop(0).hash
    for seq, entry in enumerate(entries, start=after_seq + 1):
        if entry.record.seq != seq or link(previous, entry.record) != entry.hash:
            raise StoreError(
                f"the cable's session log is damaged at session {seq}; provision it again"
            )
        previous = entry.hash
    return entries

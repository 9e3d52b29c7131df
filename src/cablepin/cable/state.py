"""What the cable keeps on flash, and its one canonical-CBOR encoding.

Rules kept here:

* ``CableState`` is immutable; an operation computes a new one and the
  store replaces the old one in a single atomic write.
* The PIN is stored only as a keyed hash; a bond only as SHA-256 of its
  token. Nothing here can give a PIN or a token back.
* Each session record is kept with its chain hash, so ``read`` can sign the
  head of any record without rehashing the log.
* A file that does not decode into exactly this shape is refused
  (``StoreError``): never guess at a half-understood state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cablepin.cable.errors import NotProvisioned, StoreError
from cablepin.cable.store import STATE_FILE, Flash, atomic_replace
from cablepin.protocol.chain import Record
from cablepin.protocol.codec import cbor_dumps, cbor_loads
from cablepin.protocol.errors import ProtocolError

__all__ = ["CableState", "LoggedRecord", "decode_state", "encode_state", "load_state", "save_state"]

VERSION = 1
# The whole state, session log included, is one file. It is read from our own
# flash, not from a peer, so it gets its own bound: 64 MiB is about a million
# sessions, decades of charging.
MAX_STATE_BYTES = 64 * 1024 * 1024
MAX_BONDS = 16
# Command ids applied in this epoch. A wipe starts a new epoch (and commands are
# bound to the epoch), so only the last few permissions need remembering.
MAX_APPLIED = 32


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
    sessions: tuple[LoggedRecord, ...] = ()
    meter_wh: int = 0
    last_receipt: bytes | None = None
    applied: tuple[str, ...] = ()

    @property
    def head_seq(self) -> int:
        return self.sessions[-1].record.seq if self.sessions else 0

    def evolve(self, **changes: Any) -> CableState:
        return replace(self, **changes)


def encode_state(state: CableState) -> bytes:
    return cbor_dumps(
        {
            "v": VERSION,
            "epoch": state.epoch,
            "pin_hash": state.pin_hash,
            "pin_default": state.pin_default,
            "head_hash": state.head_hash,
            "failures": state.failures,
            "locked_until": state.locked_until,
            "bonds": list(state.bonds),
            "sessions": [[*s.record.to_wire(), s.hash] for s in state.sessions],
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


def decode_state(data: bytes) -> CableState:
    try:
        raw = cbor_loads(data, max_size=MAX_STATE_BYTES)
    except ProtocolError as e:
        raise StoreError("the cable's state is unreadable; provision the cable again") from e
    if not isinstance(raw, dict) or raw.get("v") != VERSION:
        raise StoreError("the cable's state has an unknown format; provision the cable again")
    sessions: list[LoggedRecord] = []
    for item in _get(raw, "sessions", list):
        if not isinstance(item, list) or len(item) != 8 or not isinstance(item[7], bytes):
            raise StoreError("the cable's session log is damaged; provision the cable again")
        try:
            sessions.append(LoggedRecord(Record.from_wire(item[:7]), item[7]))
        except ProtocolError as e:
            raise StoreError("the cable's session log is damaged") from e
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
        sessions=tuple(sessions),
        meter_wh=_get(raw, "meter_wh", int),
        last_receipt=receipt,
        applied=tuple(applied),
    )


def load_state(flash: Flash) -> CableState:
    data = flash.read(STATE_FILE)
    if data is None:
        raise NotProvisioned(
            "no cable state here; run `cablepin factory provision` to make a cable first"
        )
    return decode_state(data)


def save_state(flash: Flash, state: CableState) -> None:
    data = encode_state(state)
    if len(data) > MAX_STATE_BYTES:  # never write a state this firmware could not read back
        raise StoreError(
            "the cable's memory is full; nothing was recorded. Contact support to have it reset"
        )
    atomic_replace(flash, STATE_FILE, data)

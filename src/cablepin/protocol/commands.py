"""Cloud-signed commands and cable-signed receipts (H5).

Rules kept here:

* A command is ``{v, id, kind, serial, nonce, epoch, issued_at, expires_at}``
  signed by the cloud's command key. A cable accepts it only if the
  signature is the cloud's, ``serial`` is its own, ``nonce`` is the nonce of
  *this* connection, ``epoch`` is its current epoch, the connection has been
  open less than ``COMMAND_LIFETIME_S`` by the cable's own count, and its
  clock reads within ``[issued_at - SKEW, expires_at + SKEW]``. So nothing
  can be replayed on another connection, another cable, or after a reset.
* A signed copy lives ``COMMAND_LIFETIME_S`` (2 minutes): what the flow
  needs, since the cloud signs it for a nonce the app fetched on an open
  connection and the app relays it on that same connection, after at most
  one prompt for the driver's new PIN. The cable counts that time itself,
  from the connection's first request, so a cable whose clock is off by any
  amount still refuses a copy after two minutes; the cloud, which signs only
  after seeing the nonce, can therefore say truthfully until when a copy it
  handed out can be used (``issued_at + COMMAND_LIFETIME_S``). The wall-clock
  check is the coarse second fence, loose by ``CLOCK_SKEW_S`` both ways, so
  a cable whose clock drifted minutes still takes commands.
* A receipt is ``{v, command_id, kind, serial, nonce, result, epoch}`` signed
  by the cable's device key; ``epoch`` is the cable's epoch *after* the
  command (a wipe's receipt carries the new epoch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cablepin.protocol.errors import CommandRejected, MessageError
from cablepin.protocol.messages import NONCE_SIZE
from cablepin.protocol.signed import open_signed, seal

__all__ = [
    "COMMAND_LIFETIME_S",
    "Command",
    "CommandKind",
    "Receipt",
    "check_binding",
    "open_command",
    "open_receipt",
    "sign_command",
    "sign_receipt",
]

VERSION = 1
COMMAND_DOMAIN = "cablepin/v1/command"
RECEIPT_DOMAIN = "cablepin/v1/receipt"
# A signed copy lives as long as the flow needs (see the module's rules); a PIN
# permission revoked after an app fetched a copy stays usable for at most this long.
COMMAND_LIFETIME_S = 120
# How far the cable's clock may be off the cloud's before it refuses commands.
CLOCK_SKEW_S = 600


class CommandKind(StrEnum):
    WIPE = "wipe"
    ALLOW_PIN_SET = "allow_pin_set"


@dataclass(frozen=True)
class Command:
    id: str
    kind: CommandKind
    serial: str
    nonce: bytes
    epoch: int
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class Receipt:
    command_id: str
    kind: CommandKind
    serial: str
    nonce: bytes
    result: str
    epoch: int


def _field(payload: dict[str, Any], name: str, kind: type) -> Any:
    value = payload.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MessageError(f"signed field {name!r} is missing or not {kind.__name__}")
    return value


def _kind(payload: dict[str, Any]) -> CommandKind:
    try:
        return CommandKind(_field(payload, "kind", str))
    except ValueError as e:
        raise MessageError(f"unknown command kind {payload.get('kind')!r}") from e


def _version(payload: dict[str, Any]) -> None:
    if payload.get("v") != VERSION:
        raise MessageError(f"unsupported version {payload.get('v')!r}; this side speaks v{VERSION}")


def sign_command(command: Command, key: Ed25519PrivateKey) -> bytes:
    payload = {"v": VERSION, **asdict(command), "kind": str(command.kind)}
    return seal(COMMAND_DOMAIN, payload, key)


def open_command(blob: bytes, cloud_key: Ed25519PublicKey) -> Command:
    payload = open_signed(COMMAND_DOMAIN, blob, cloud_key)
    _version(payload)
    nonce = _field(payload, "nonce", bytes)
    if len(nonce) != NONCE_SIZE:
        raise MessageError("a command nonce must be 16 bytes")
    return Command(
        id=_field(payload, "id", str),
        kind=_kind(payload),
        serial=_field(payload, "serial", str),
        nonce=nonce,
        epoch=_field(payload, "epoch", int),
        issued_at=_field(payload, "issued_at", int),
        expires_at=_field(payload, "expires_at", int),
    )


def check_binding(
    command: Command, *, serial: str, nonce: bytes, epoch: int, now: int, open_s: int
) -> None:
    """Refuse a genuine command that is not meant for this cable, connection and moment.

    ``open_s``: how long this connection has been open, counted by the cable itself
    (not from its wall clock, which may be off by minutes).
    """
    if command.serial != serial:
        raise CommandRejected(
            f"this command is for cable {command.serial}, not {serial}", reason="wrong_serial"
        )
    if command.nonce != nonce:
        raise CommandRejected(
            "this command was signed for another connection; reconnect to get a fresh one",
            reason="wrong_nonce",
        )
    if command.epoch != epoch:
        raise CommandRejected(
            "this command was signed before the cable was last reset; reconnect to get a fresh one",
            reason="wrong_epoch",
        )
    if open_s >= COMMAND_LIFETIME_S or now > command.expires_at + CLOCK_SKEW_S:
        raise CommandRejected(
            "this command has expired; reconnect to get a fresh one", reason="expired"
        )
    if now + CLOCK_SKEW_S < command.issued_at:
        raise CommandRejected(
            "this command is dated in the future; check the cable's clock", reason="not_yet_valid"
        )


def sign_receipt(receipt: Receipt, device_key: Ed25519PrivateKey) -> bytes:
    payload = {"v": VERSION, **asdict(receipt), "kind": str(receipt.kind)}
    return seal(RECEIPT_DOMAIN, payload, device_key)


def open_receipt(blob: bytes, device_key: Ed25519PublicKey) -> Receipt:
    payload = open_signed(RECEIPT_DOMAIN, blob, device_key)
    _version(payload)
    return Receipt(
        command_id=_field(payload, "command_id", str),
        kind=_kind(payload),
        serial=_field(payload, "serial", str),
        nonce=_field(payload, "nonce", bytes),
        result=_field(payload, "result", str),
        epoch=_field(payload, "epoch", int),
    )

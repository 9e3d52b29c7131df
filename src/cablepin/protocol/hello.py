"""The cable's signed hello: what it says about itself, proven.

Rules kept here:

* ``hello`` answers with ``sig``: the device key's signature (domain
  ``cablepin/v1/hello``) over every other hello field except ``receipt``
  (which carries its own signature). The nonce is among them, so a signed
  hello belongs to one connection.
* The app may pass a ``challenge`` (16 bytes the cloud issued moments ago);
  the cable echoes it and signs it with the rest. The nonce is the cable's
  choice, so only the challenge tells the cloud a hello is *fresh*, not one
  replayed from an earlier visit. Without one, ``challenge`` is signed as b"".
* The cloud verifies it before it believes the cable's epoch, head or PIN
  state. An app can still *withhold* a hello, but it cannot *invent* one.
* ``Hello`` is the one typed value of a hello: the cable builds it, the app
  reads it (``from_wire``) and forwards it, the cloud rebuilds it from the
  app's request and verifies it. Its fields are named here and nowhere else
  but the cloud's JSON schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cablepin.protocol.errors import MessageError
from cablepin.protocol.signed import sign_detached, verify_detached

__all__ = ["HELLO_SIGNED_FIELDS", "Hello", "sign_hello", "signed_part", "verify_hello"]

HELLO_DOMAIN: Final = "cablepin/v1/hello"
HELLO_SIGNED_FIELDS: Final = (
    "serial",
    "fw",
    "epoch",
    "pin_default",
    "nonce",
    "head",
    "wait_s",
    "locked",
)


def signed_part(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a hello signature covers (missing ones raise ``KeyError``)."""
    signed = {name: fields[name] for name in HELLO_SIGNED_FIELDS}
    signed["challenge"] = fields.get("challenge", b"")
    return signed


def sign_hello(fields: Mapping[str, Any], device_key: Ed25519PrivateKey) -> bytes:
    return sign_detached(HELLO_DOMAIN, signed_part(fields), device_key)


def verify_hello(fields: Mapping[str, Any], sig: bytes, device_key: Ed25519PublicKey) -> None:
    """Raise ``SignatureError`` unless the cable signed exactly these hello fields."""
    verify_detached(HELLO_DOMAIN, signed_part(fields), sig, device_key)


@dataclass(frozen=True)
class Hello:
    """What a cable says about itself at the start of a connection (``sig`` covers it)."""

    serial: str
    fw: str
    epoch: int
    pin_default: bool
    nonce: bytes
    head_seq: int
    head_hash: bytes
    wait_s: int
    locked: bool
    challenge: bytes | None = None  # the cloud's, echoed: proves the hello is fresh
    sig: bytes = b""
    receipt: bytes | None = None  # the last command's receipt; carries its own signature

    def to_wire(self) -> dict[str, Any]:
        """The ``hello`` response's fields (``protocol.messages.RESPONSE_FIELDS``)."""
        fields: dict[str, Any] = {
            "serial": self.serial,
            "fw": self.fw,
            "epoch": self.epoch,
            "pin_default": self.pin_default,
            "nonce": self.nonce,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "wait_s": self.wait_s,
            "locked": self.locked,
        }
        if self.challenge is not None:
            fields["challenge"] = self.challenge
        fields["sig"] = self.sig
        if self.receipt is not None:
            fields["receipt"] = self.receipt
        return fields

    @classmethod
    def from_wire(cls, fields: Mapping[str, Any]) -> Hello:
        """Read a hello's fields; raises ``MessageError`` if one is missing or mistyped."""
        head = _typed(fields, "head", dict)
        return cls(
            serial=_typed(fields, "serial", str),
            fw=_typed(fields, "fw", str),
            epoch=_typed(fields, "epoch", int),
            pin_default=_typed(fields, "pin_default", bool),
            nonce=_typed(fields, "nonce", bytes),
            head_seq=_typed(head, "seq", int),
            head_hash=_typed(head, "hash", bytes),
            wait_s=_typed(fields, "wait_s", int),
            locked=_typed(fields, "locked", bool),
            challenge=_typed(fields, "challenge", bytes, optional=True),
            sig=_typed(fields, "sig", bytes, optional=True) or b"",
            receipt=_typed(fields, "receipt", bytes, optional=True),
        )

    def signed(self, device_key: Ed25519PrivateKey) -> Hello:
        """This hello with the cable's signature (over every field but ``receipt``)."""
        return replace(self, sig=sign_hello(self.to_wire(), device_key))

    def verify(self, device_key: Ed25519PublicKey) -> None:
        """Raise ``SignatureError`` unless the cable signed exactly this hello."""
        verify_hello(self.to_wire(), self.sig, device_key)


def _typed(fields: Mapping[str, Any], name: str, kind: type, *, optional: bool = False) -> Any:
    value = fields.get(name)
    if value is None and optional:
        return None
    # bool is an int subclass in Python; keep the two apart as on the wire.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MessageError(f"hello field {name!r} is missing or not {kind.__name__}")
    return value

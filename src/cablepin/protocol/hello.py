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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cablepin.protocol.signed import sign_detached, verify_detached

__all__ = ["HELLO_SIGNED_FIELDS", "sign_hello", "signed_part", "verify_hello"]

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

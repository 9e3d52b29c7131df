"""The one signed envelope every signed object uses.

``blob = CBOR([payload, signature])`` where ``payload`` is the canonical CBOR
of a map and ``signature = Ed25519(domain || 0x00 || payload)``. The domain
("cablepin/v1/command", "cablepin/v1/receipt", "cablepin/v1/head") keeps a
signature made for one purpose from being accepted for another.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cablepin.protocol.codec import cbor_dumps, cbor_loads
from cablepin.protocol.errors import FrameError, MessageError, SignatureError

__all__ = ["open_signed", "seal", "sign_detached", "verify_detached"]

SIGNATURE_SIZE = 64


def _signing_input(domain: str, payload: bytes) -> bytes:
    return domain.encode() + b"\x00" + payload


def sign_detached(domain: str, payload: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    return key.sign(_signing_input(domain, cbor_dumps(payload)))


def verify_detached(
    domain: str, payload: dict[str, Any], signature: bytes, key: Ed25519PublicKey
) -> None:
    try:
        key.verify(signature, _signing_input(domain, cbor_dumps(payload)))
    except InvalidSignature as e:
        raise SignatureError(f"the {domain.rsplit('/', 1)[-1]} signature does not verify") from e


def seal(domain: str, payload: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    body = cbor_dumps(payload)
    return cbor_dumps([body, key.sign(_signing_input(domain, body))])


def open_signed(domain: str, blob: bytes, key: Ed25519PublicKey) -> dict[str, Any]:
    """Verify ``blob`` under ``key`` and return its payload map."""
    try:
        outer = cbor_loads(blob)
    except FrameError as e:
        raise MessageError(f"a signed {domain.rsplit('/', 1)[-1]} is malformed: {e.message}") from e
    if (
        not isinstance(outer, list)
        or len(outer) != 2
        or not isinstance(outer[0], bytes)
        or not isinstance(outer[1], bytes)
        or len(outer[1]) != SIGNATURE_SIZE
    ):
        raise MessageError(f"a signed {domain.rsplit('/', 1)[-1]} must be [payload, signature]")
    body, signature = outer
    try:
        key.verify(signature, _signing_input(domain, body))
    except InvalidSignature as e:
        raise SignatureError(f"the {domain.rsplit('/', 1)[-1]} signature does not verify") from e
    payload = cbor_loads(body)
    if not isinstance(payload, dict):
        raise MessageError("a signed payload must be a map")
    return payload

"""The session chain (S2): records signed as a hash chain per cable and epoch.

Rules kept here:

* A record is seven non-negative integers
  ``[seq, start, end, wh, meter_start_wh, meter_end_wh, max_w]`` (UTC epoch
  seconds, watt-hours, watts); ``seq`` counts from 1 in every epoch.
* ``h0 = SHA-256("cablepin/v1" || serial || epoch as 8 bytes)`` and
  ``h_i = SHA-256(h_{i-1} || canonical CBOR(record_i))``.
* The cable signs the head ``{serial, epoch, seq, hash}`` of the last record
  it sends. A verifier that knows a verified ``(seq, hash)`` accepts a batch
  only if it starts right after (or overlaps) it, every seq follows the
  previous one, and the signature over the recomputed head verifies. So a
  forged, altered, dropped-from-the-middle or reordered record is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cablepin.protocol.codec import cbor_dumps
from cablepin.protocol.errors import ChainError, MessageError, SignatureError
from cablepin.protocol.signed import sign_detached, verify_detached

__all__ = ["Head", "Record", "genesis", "link", "sign_head", "verify_batch", "verify_head"]

HEAD_DOMAIN = "cablepin/v1/head"
MAX_VALUE = 2**63 - 1


@dataclass(frozen=True)
class Record:
    seq: int
    start: int
    end: int
    wh: int
    meter_start_wh: int
    meter_end_wh: int
    max_w: int

    def to_wire(self) -> list[int]:
        # Spelled out: dataclasses.astuple deep-copies, and every chain link calls this.
        return [
            self.seq,
            self.start,
            self.end,
            self.wh,
            self.meter_start_wh,
            self.meter_end_wh,
            self.max_w,
        ]

    @classmethod
    def from_wire(cls, value: Any) -> Record:
        if not isinstance(value, list | tuple) or len(value) != 7:
            raise MessageError("a session record must be an array of 7 integers")
        for item in value:
            if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item <= MAX_VALUE:
                raise MessageError("a session record holds only non-negative integers")
        record = cls(*value)
        if record.seq < 1:
            raise MessageError("session records count from seq 1")
        if record.end < record.start or record.meter_end_wh < record.meter_start_wh:
            raise MessageError(f"session {record.seq} ends before it starts")
        return record


@dataclass(frozen=True)
class Head:
    serial: str
    epoch: int
    seq: int
    hash: bytes


def genesis(serial: str, epoch: int) -> bytes:
    return hashlib.sha256(b"cablepin/v1" + serial.encode() + epoch.to_bytes(8, "big")).digest()


def link(previous: bytes, record: Record) -> bytes:
    return hashlib.sha256(previous + cbor_dumps(record.to_wire())).digest()


def _head_payload(head: Head) -> dict[str, Any]:
    return {"serial": head.serial, "epoch": head.epoch, "seq": head.seq, "hash": head.hash}


def sign_head(head: Head, device_key: Ed25519PrivateKey) -> bytes:
    return sign_detached(HEAD_DOMAIN, _head_payload(head), device_key)


def verify_head(head: Head, signature: bytes, device_key: Ed25519PublicKey) -> None:
    verify_detached(HEAD_DOMAIN, _head_payload(head), signature, device_key)


def verify_batch(
    *,
    serial: str,
    epoch: int,
    previous: tuple[int, bytes],
    records: Sequence[Record],
    head_sig: bytes,
    device_key: Ed25519PublicKey,
) -> list[bytes]:
    """Verify ``records`` continue the chain after ``previous = (seq, hash)``.

    ``previous`` must be the verified link just before ``records[0]`` (the
    caller looks up the stored hash of ``records[0].seq - 1`` when a batch
    overlaps what it already has). Returns each record's chain hash.
    """
    if not records:
        raise ChainError("an empty batch proves nothing; send at least one record")
    prev_seq, running = previous
    hashes: list[bytes] = []
    for record in records:
        if record.seq != prev_seq + 1:
            raise ChainError(
                f"record {record.seq} does not follow record {prev_seq}: records were dropped "
                "or reordered; sync again from the cable"
            )
        running = link(running, record)
        hashes.append(running)
        prev_seq = record.seq
    try:
        verify_head(Head(serial, epoch, prev_seq, running), head_sig, device_key)
    except SignatureError as e:
        raise ChainError(
            "the cable's signature does not match these records: they were altered or forged; "
            "sync again from the cable"
        ) from e
    return hashes

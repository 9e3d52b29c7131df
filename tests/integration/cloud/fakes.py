"""A fake cable for cloud tests: real protocol signatures, no firmware, no link.

It keeps what the cloud sees of a cable: its serial, device key, epoch and
the signed session chain; it signs its hello like the firmware
(``protocol.hello.sign_hello``) and checks commands exactly as the protocol
says (signature, serial, nonce, epoch). Built only on ``cablepin.protocol``.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cablepin.protocol import pki
from cablepin.protocol.chain import Head, Record, genesis, link, sign_head
from cablepin.protocol.commands import (
    CommandKind,
    Receipt,
    check_binding,
    open_command,
    sign_receipt,
)
from cablepin.protocol.hello import sign_hello


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Keys:
    directory: Any
    ca_key: Ed25519PrivateKey
    ca_cert: Any
    command_key: Ed25519PrivateKey

    @property
    def command_pub(self) -> Ed25519PublicKey:
        return self.command_key.public_key()


def make_keys(directory: Any) -> Keys:
    now = dt.datetime.now(dt.UTC)
    ca_key = pki.generate_key()
    ca_cert = pki.make_factory_ca(ca_key, now)
    command_key = pki.generate_key()
    (directory / "factory-ca.pem").write_bytes(pki.certificate_pem(ca_cert))
    (directory / "factory-ca.key").write_bytes(pki.private_key_pem(ca_key))
    (directory / "command.key").write_bytes(pki.private_key_pem(command_key))
    (directory / "command.pem").write_bytes(pki.public_key_pem(command_key.public_key()))
    return Keys(directory, ca_key, ca_cert, command_key)


@dataclass
class FakeCable:
    serial: str
    device_key: Ed25519PrivateKey
    cert_pem: bytes
    command_pub: Ed25519PublicKey
    epoch: int = 0
    records: list[Record] = field(default_factory=list)
    pin_default: bool = True
    nonce: bytes = b""
    last_receipt: bytes | None = None
    # Where the app of account ``who`` gets the cloud's challenge for the next hello
    # (set by the World: GET .../challenge as that account).
    challenge_source: Callable[[str | None], bytes] | None = None
    challenge: bytes = b""

    @classmethod
    def provision(cls, keys: Keys, serial: str) -> FakeCable:
        device_key = pki.generate_key()
        cert = pki.issue_device_certificate(
            keys.ca_key, keys.ca_cert, serial, device_key.public_key(), dt.datetime.now(dt.UTC)
        )
        return cls(serial, device_key, pki.certificate_pem(cert), keys.command_pub)

    def hello(self, who: str | None = None, *, same_nonce: bool = False) -> dict[str, Any]:
        """A new connection (fresh nonce; ``same_nonce``: hello again on this one).

        ``who`` is the account whose app fetches the challenge for this hello.
        Returns the body an app posts to /connect, signed like the firmware does.
        """
        if not same_nonce or not self.nonce:
            self.nonce = os.urandom(16)
            self.challenge = self.challenge_source(who) if self.challenge_source else bytes(16)
        fields: dict[str, Any] = {
            "serial": self.serial,
            "fw": "1.0.0",
            "epoch": self.epoch,
            "pin_default": self.pin_default,
            "nonce": self.nonce,
            "head": {"seq": len(self.records), "hash": self.head_hash()},
            "wait_s": 0,
            "locked": False,
            "challenge": self.challenge,
        }
        sig = sign_hello(fields, self.device_key)
        return {
            "nonce": b64(self.nonce),
            "epoch": self.epoch,
            "head": {"seq": len(self.records), "hash": b64(self.head_hash())},
            "pin_default": self.pin_default,
            "wait_s": 0,
            "fw": "1.0.0",
            "locked": False,
            "sig": b64(sig),
            "challenge": b64(self.challenge),
            # Like the firmware's hello: the receipt of the last command it applied.
            **({"receipt": b64(self.last_receipt)} if self.last_receipt else {}),
        }

    def head_hash(self) -> bytes:
        running = genesis(self.serial, self.epoch)
        for record in self.records:
            running = link(running, record)
        return running

    def charge(self, count: int = 1, wh: int = 7000) -> None:
        for _ in range(count):
            seq = len(self.records) + 1
            start = 1_700_000_000 + seq * 3600
            meter = sum(r.wh for r in self.records)
            self.records.append(Record(seq, start, start + 1800, wh, meter, meter + wh, 11000))

    def batch(self, after_seq: int = 0, limit: int = 500) -> dict[str, Any]:
        chosen = self.records[after_seq : after_seq + limit]
        return self.sign_batch(chosen)

    def sign_batch(self, records: list[Record], *, epoch: int | None = None) -> dict[str, Any]:
        """Records as sent, signed over the head the cable would compute for them."""
        running = genesis(self.serial, self.epoch)
        for record in self.records:
            running = link(running, record)
            if record.seq == records[-1].seq:
                break
        sig = sign_head(Head(self.serial, self.epoch, records[-1].seq, running), self.device_key)
        return {
            "epoch": self.epoch if epoch is None else epoch,
            "records": [r.to_wire() for r in records],
            "head_sig": b64(sig),
        }

    def apply(self, blob_b64: str, *, now: int | None = None) -> str:
        """Check and apply a signed command like the firmware; return the receipt (base64)."""
        command = open_command(base64.b64decode(blob_b64), self.command_pub)
        check_binding(
            command,
            serial=self.serial,
            nonce=self.nonce,
            epoch=self.epoch,
            now=int(dt.datetime.now(dt.UTC).timestamp()) if now is None else now,
            open_s=0,  # this fake relays a command the moment it is handed over
        )
        if command.kind is CommandKind.WIPE:
            self.epoch += 1
            self.records = []
            self.pin_default = True
        receipt = sign_receipt(
            Receipt(command.id, command.kind, self.serial, self.nonce, "ok", self.epoch),
            self.device_key,
        )
        self.last_receipt = receipt
        return b64(receipt)

"""Fakes for the app core: a real cable behind an in-memory link, and an in-memory cloud.

Both behave like the real ones (fakes over mocks): the link runs the real
firmware's per-connection dispatcher and turns refusals into ``CableRefused``
exactly as ``CableLink`` does; the cloud signs real commands for the
connection's nonce, checks receipts with the cable's key and verifies every
batch against the chain. ``events`` records who did what, in order, so a
test can prove H2 (nothing read before every receipt was posted).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cablepin.app.cloud import BeforeLink, ConnectReply, Pending, Synced
from cablepin.app.errors import CableRefused, CloudRefused, LinkError
from cablepin.app.flow import AppCore, PinAsk
from cablepin.app.home import Home
from cablepin.cable.firmware import Cable, Identity, factory_state
from cablepin.cable.session import CableSession
from cablepin.cable.state import save_state
from cablepin.cable.store import SimulatedFlash
from cablepin.errors import CablepinError
from cablepin.protocol.chain import Record, genesis, verify_batch
from cablepin.protocol.commands import Command, CommandKind, open_receipt, sign_command
from cablepin.protocol.hello import verify_hello
from cablepin.protocol.messages import Request

SERIAL = "CBL-00012345"
NOW = 1_750_000_000


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


class SessionLink:
    """One connection to a real cable, in memory (TLS is protocol's business)."""

    def __init__(self, cable: Cable, clock: Clock, events: list[str], drop_after: int | None):
        self.session = CableSession(cable, os.urandom(16))
        self.clock = clock
        self.events = events
        self.ids = itertools.count(1)
        self.left = drop_after
        self.closed = False

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        self.events.append("link:flight")
        return self._one(op, fields)

    def _one(self, op: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        if self.closed:
            raise LinkError("closed")
        if self.left is not None:
            if self.left == 0:
                raise LinkError("the link broke; connect again")
            self.left -= 1
        self.events.append(f"cable:{op}")
        try:
            return self.session.handle(Request(op, next(self.ids), dict(fields)), self.clock())
        except CablepinError as e:
            wire = {"error": e.code, "message": e.message, **e.details}
            raise CableRefused.from_response(
                {k: v for k, v in wire.items() if v is not None}
            ) from e

    def pipeline(
        self, requests: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[dict[str, Any] | CableRefused]:
        self.events.append("link:flight")
        answers: list[dict[str, Any] | CableRefused] = []
        for op, fields in requests:
            try:
                answers.append(self._one(op, fields))
            except CableRefused as refused:
                answers.append(refused)
        return answers

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeCloud:
    """The cloud's app-facing rules for one cable, in memory."""

    identity: Identity
    key: Ed25519PrivateKey
    clock: Clock
    events: list[str]
    assigned: bool = True
    pending: list[tuple[str, CommandKind]] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    epoch: int = 0
    seq: int = 0
    hashes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    stored: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    fail_upload_after_store: int = 0  # lose this many answers after storing (network drop)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    issued: bytes = b""
    leased: set[str] = field(default_factory=set)  # permissions handed out, not yet back

    def order(self, kind: CommandKind) -> str:
        command_id = f"cmd-{next(self.ids)}"
        self.pending.append((command_id, kind))
        return command_id

    def challenge(self, serial: str) -> bytes:
        self.events.append("cloud:challenge")
        self.issued = os.urandom(16)
        return self.issued

    def before_link(self, serial: str) -> BeforeLink:
        # Like the real cloud: quiet only when connect would hand out nothing to this driver.
        quiet = self.assigned and not self.pending
        return BeforeLink(self.challenge(serial), quiet, Synced(self.epoch, self.seq))

    def connect(self, serial: str, hello: dict[str, Any]) -> ConnectReply:
        self.events.append("cloud:connect")
        # Like the real cloud: only a hello the cable signed, for the challenge just issued.
        verify_hello(hello, hello["sig"], self.identity.device_key.public_key())
        if hello.get("challenge") != self.issued:
            raise CloudRefused.kind("bad_hello")("not a fresh hello")
        if hello.get("receipt"):
            self.post_receipt(serial, hello["receipt"], log=False)
        now = self.clock()
        handed = [
            (cid, kind)
            for cid, kind in self.pending
            if kind is CommandKind.WIPE or (self.assigned and cid not in self.leased)
        ]
        # Like the real cloud: a permission is leased to one connect until used or released.
        self.leased.update(cid for cid, kind in handed if kind is CommandKind.ALLOW_PIN_SET)
        commands = tuple(
            Pending(
                cid,
                kind,
                sign_command(
                    Command(cid, kind, serial, hello["nonce"], hello["epoch"], now, now + 600),
                    self.key,
                ),
                "handover" if kind is CommandKind.WIPE else None,
            )
            for cid, kind in handed
        )
        return ConnectReply(self.assigned, commands, Synced(self.epoch, self.seq))

    def release(self, serial: str, command_id: str) -> None:
        self.events.append("cloud:release")
        self.leased.discard(command_id)

    def post_receipt(self, serial: str, receipt: bytes, log: bool = True) -> dict[str, Any]:
        opened = open_receipt(receipt, self.identity.device_key.public_key())
        if log:
            self.events.append(f"cloud:receipt:{opened.kind}")
        for cid, kind in list(self.pending):
            if cid == opened.command_id:
                self.pending.remove((cid, kind))
                self.done.append(cid)
                if kind is CommandKind.WIPE:
                    self.epoch, self.seq = opened.epoch, 0
        return {"command_id": opened.command_id, "state": "done", "epoch": opened.epoch}

    def upload_sessions(
        self, serial: str, epoch: int, records: list[list[int]], head_sig: bytes
    ) -> tuple[int, int, Synced]:
        self.events.append("cloud:upload")
        if any(kind is CommandKind.WIPE for _, kind in self.pending):
            raise CloudRefused.kind("wipe_pending")("a wipe is pending")
        if not self.assigned:
            raise CloudRefused.kind("not_assigned")("not yours")
        if epoch != self.epoch:
            raise CloudRefused.kind("stale_epoch")("old epoch")
        parsed = [Record.from_wire(r) for r in records]
        first = parsed[0].seq
        previous = self.hashes.get((epoch, first - 1), genesis(serial, epoch))
        hashes = verify_batch(
            serial=serial,
            epoch=epoch,
            previous=(first - 1, previous),
            records=parsed,
            head_sig=head_sig,
            device_key=self.identity.device_key.public_key(),
        )
        accepted = duplicates = 0
        for record, digest in zip(parsed, hashes, strict=True):
            if (epoch, record.seq) in self.stored:
                duplicates += 1
                continue
            self.stored[(epoch, record.seq)] = record.to_wire()
            self.hashes[(epoch, record.seq)] = digest
            accepted += 1
        self.seq = max(self.seq, parsed[-1].seq)
        if self.fail_upload_after_store:
            self.fail_upload_after_store -= 1
            raise CloudRefused.kind("cloud_error")("the answer got lost")
        return accepted, duplicates, Synced(self.epoch, self.seq)

    def sessions(self, **params: Any) -> list[dict[str, Any]]:
        return [{"epoch": e, "seq": s} for (e, s) in sorted(self.stored)]


class Prompt:
    """A driver who answers from a script and remembers what was asked."""

    def __init__(self, answers: dict[str, str | None] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[str] = []

    def __call__(self, ask: PinAsk) -> str | None:
        self.asked.append(ask.purpose)
        return self.answers.get(ask.purpose)


@dataclass
class World:
    cable: Cable
    cloud: FakeCloud
    clock: Clock
    events: list[str]
    tmp: Path
    drop_after: int | None = None
    links: list[SessionLink] = field(default_factory=list)

    def open_link(self, serial: str, address: str | None) -> SessionLink:
        assert serial == self.cable.serial
        link = SessionLink(self.cable, self.clock, self.events, self.drop_after)
        self.links.append(link)
        return link

    def app(
        self, name: str = "phone", prompt: Callable[[PinAsk], str | None] | None = None, **kw: Any
    ) -> AppCore:
        return AppCore(
            Home(self.tmp / name),
            self.cloud,
            self.open_link,
            pin_prompt=prompt or Prompt(),
            **kw,
        )

    def charge(self, count: int) -> None:
        for i in range(count):
            start = self.clock() - 10_000 + i * 100
            self.cable.record_session(start, start + 50, 1000 + i, 11_000)


@pytest.fixture
def world(tmp_path: Path) -> World:
    cloud_key = Ed25519PrivateKey.generate()
    identity = Identity(SERIAL, Ed25519PrivateKey.generate(), cloud_key.public_key(), b"k" * 32)
    flash = SimulatedFlash()
    save_state(flash, factory_state(identity))
    clock = Clock()
    events: list[str] = []
    cable = Cable(identity, flash)
    cloud = FakeCloud(identity, cloud_key, clock, events)
    return World(cable, cloud, clock, events, tmp_path)

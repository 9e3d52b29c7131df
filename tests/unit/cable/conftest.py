"""Fixtures for cable tests: one identity, a simulated flash, commands signed by a fake cloud."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cablepin.cable.firmware import Cable, Identity, factory_state
from cablepin.cable.session import CableSession
from cablepin.cable.state import save_state
from cablepin.cable.store import SimulatedFlash
from cablepin.protocol.commands import Command, CommandKind, sign_command
from cablepin.protocol.messages import Request

SERIAL = "CBL-00012345"
NOW = 1_750_000_000
NONCE = bytes(range(16))


def counter_random() -> Callable[[int], bytes]:
    """Deterministic 'randomness': distinct, reproducible byte strings."""
    counter = itertools.count(1)

    def random(n: int) -> bytes:
        return next(counter).to_bytes(n, "big")

    return random


@dataclass(frozen=True)
class Keys:
    identity: Identity
    cloud: Ed25519PrivateKey

    def command(
        self,
        kind: CommandKind,
        *,
        nonce: bytes = NONCE,
        epoch: int = 0,
        serial: str = SERIAL,
        issued_at: int = NOW,
        expires_at: int = NOW + 600,
        command_id: str = "c-1",
        key: Ed25519PrivateKey | None = None,
    ) -> bytes:
        cmd = Command(command_id, kind, serial, nonce, epoch, issued_at, expires_at)
        return sign_command(cmd, key or self.cloud)


@pytest.fixture(scope="session")
def keys() -> Keys:
    cloud = Ed25519PrivateKey.generate()
    identity = Identity(SERIAL, Ed25519PrivateKey.generate(), cloud.public_key(), b"k" * 32)
    return Keys(identity, cloud)


def new_flash(identity: Identity) -> SimulatedFlash:
    flash = SimulatedFlash()
    save_state(flash, factory_state(identity))
    return flash


@pytest.fixture
def flash(keys: Keys) -> SimulatedFlash:
    return new_flash(keys.identity)


@pytest.fixture
def cable(keys: Keys, flash: SimulatedFlash) -> Cable:
    return Cable(keys.identity, flash, counter_random())


class Conn:
    """One app connection to the cable, speaking in requests (no TLS: that is protocol's job)."""

    def __init__(self, cable: Cable, nonce: bytes = NONCE) -> None:
        self.session = CableSession(cable, nonce)
        self._ids = itertools.count(1)

    def __call__(self, op: str, now: int = NOW, **fields: Any) -> dict[str, Any]:
        return self.session.handle(Request(op, next(self._ids), dict(fields)), now)


@pytest.fixture
def conn(cable: Cable) -> Conn:
    return Conn(cable)

"""H5/P6: what the cable says in hello is signed, bound to the connection, and cannot be edited."""

from __future__ import annotations

import pytest

from cablepin.cable.firmware import Cable
from cablepin.protocol.errors import SignatureError
from cablepin.protocol.hello import verify_hello

from .conftest import NONCE, NOW, Conn, Keys


def test_h5_hello_is_signed_by_the_device_key(cable: Cable, keys: Keys) -> None:
    hello = Conn(cable)("hello")
    verify_hello(hello, hello["sig"], keys.identity.device_key.public_key())


@pytest.mark.parametrize(
    "edit",
    [
        {"pin_default": False},
        {"epoch": 7},
        {"head": {"seq": 0, "hash": b"\x00" * 32}},
        {"nonce": bytes(16)},
        {"locked": True},
    ],
)
def test_p6_h5_an_edited_hello_does_not_verify(
    cable: Cable, keys: Keys, edit: dict[str, object]
) -> None:
    cable.record_session(NOW - 100, NOW - 50, 1000, 3000)
    hello = Conn(cable, NONCE)("hello")
    with pytest.raises(SignatureError):
        verify_hello({**hello, **edit}, hello["sig"], keys.identity.device_key.public_key())


def test_h5_the_clouds_challenge_is_signed_so_an_old_hello_cannot_pass_as_fresh(
    cable: Cable, keys: Keys
) -> None:
    device = keys.identity.device_key.public_key()
    old = Conn(cable)("hello", challenge=b"A" * 16)
    assert old["challenge"] == b"A" * 16
    verify_hello(old, old["sig"], device)
    with pytest.raises(SignatureError):  # replayed under today's challenge
        verify_hello({**old, "challenge": b"B" * 16}, old["sig"], device)
    without = Conn(cable)("hello")
    assert "challenge" not in without
    with pytest.raises(SignatureError):
        verify_hello({**without, "challenge": b"B" * 16}, without["sig"], device)

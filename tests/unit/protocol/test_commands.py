"""H5: a command is accepted only if the cloud signed it for this cable, connection and epoch."""

from __future__ import annotations

import pytest

from cablepin.protocol import pki
from cablepin.protocol.commands import (
    CLOCK_SKEW_S,
    COMMAND_LIFETIME_S,
    Command,
    CommandKind,
    Receipt,
    check_binding,
    open_command,
    open_receipt,
    sign_command,
    sign_receipt,
)
from cablepin.protocol.errors import CommandRejected, MessageError, SignatureError

from .conftest import SERIAL, Factory

NONCE = bytes(range(16))
T0 = 1_790_000_000


def command(**changes: object) -> Command:
    base = {
        "id": "c1",
        "kind": CommandKind.WIPE,
        "serial": SERIAL,
        "nonce": NONCE,
        "epoch": 3,
        "issued_at": T0,
        "expires_at": T0 + 600,
    }
    return Command(**{**base, **changes})  # type: ignore[arg-type]


def binding_error(cmd: Command, now: int = T0 + 1, open_s: int = 1) -> str:
    with pytest.raises(CommandRejected) as info:
        check_binding(cmd, serial=SERIAL, nonce=NONCE, epoch=3, now=now, open_s=open_s)
    return str(info.value.details["reason"])


def test_h5_command_for_this_connection_is_accepted() -> None:
    check_binding(command(), serial=SERIAL, nonce=NONCE, epoch=3, now=T0 + 1, open_s=1)


def test_h5_command_for_another_connection_is_refused() -> None:
    assert binding_error(command(nonce=b"\x00" * 16)) == "wrong_nonce"


def test_h5_command_for_another_cable_is_refused() -> None:
    assert binding_error(command(serial="CBL-00000002")) == "wrong_serial"


def test_h5_command_from_before_a_reset_is_refused() -> None:
    assert binding_error(command(epoch=2)) == "wrong_epoch"


def test_h5_expired_command_is_refused() -> None:
    assert binding_error(command(), now=T0 + 600 + CLOCK_SKEW_S + 1) == "expired"


def test_p8_a_command_on_a_connection_older_than_its_lifetime_is_refused() -> None:
    # However the cable's wall clock stands, its own count of the connection decides.
    assert binding_error(command(), open_s=COMMAND_LIFETIME_S) == "expired"
    check_binding(
        command(), serial=SERIAL, nonce=NONCE, epoch=3, now=T0 - 60, open_s=COMMAND_LIFETIME_S - 1
    )


def test_h5_command_from_the_future_is_refused() -> None:
    assert binding_error(command(issued_at=T0 + 3600, expires_at=T0 + 4000)) == "not_yet_valid"


def test_h5_command_signed_by_another_key_is_refused(factory: Factory) -> None:
    forged = sign_command(command(), pki.generate_key())
    with pytest.raises(SignatureError):
        open_command(forged, factory.command_key.public_key())


def test_h5_altered_command_is_refused(factory: Factory) -> None:
    blob = bytearray(sign_command(command(), factory.command_key))
    blob[20] ^= 0x01
    with pytest.raises((SignatureError, MessageError)):
        open_command(bytes(blob), factory.command_key.public_key())


def test_h5_receipt_cannot_pass_for_a_command(factory: Factory) -> None:
    receipt = Receipt("c1", CommandKind.WIPE, SERIAL, NONCE, "done", 4)
    blob = sign_receipt(receipt, factory.command_key)  # even with the cloud's own key
    with pytest.raises(SignatureError):
        open_command(blob, factory.command_key.public_key())


def test_h4_receipt_round_trips_and_names_the_new_epoch(factory: Factory) -> None:
    receipt = Receipt("c1", CommandKind.WIPE, SERIAL, NONCE, "done", 4)
    blob = sign_receipt(receipt, factory.device_key)
    assert open_receipt(blob, factory.device_key.public_key()) == receipt
    with pytest.raises(SignatureError):
        open_receipt(blob, factory.command_key.public_key())

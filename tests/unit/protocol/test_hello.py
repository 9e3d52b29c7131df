"""H5/P6: the hello is one typed value; its wire form round-trips and its signature holds."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cablepin.protocol import codec, messages
from cablepin.protocol.errors import MessageError, SignatureError
from cablepin.protocol.hello import Hello, verify_hello

from .conftest import SERIAL, Factory

HELLO = Hello(
    serial=SERIAL,
    fw="cablepin-sim/0.1.0",
    epoch=2,
    pin_default=False,
    nonce=b"n" * 16,
    head_seq=7,
    head_hash=b"h" * 32,
    wait_s=60,
    locked=False,
    challenge=b"c" * 16,
    receipt=b"r" * 40,
)


def test_h5_hello_round_trips_through_the_wire(factory: Factory) -> None:
    signed = HELLO.signed(factory.device_key)
    wire = signed.to_wire()
    # What the cable sends is a valid hello response, and reads back as the same value.
    messages.parse_response({"id": 1, "ok": True, **wire}, "hello")
    assert Hello.from_wire(codec.cbor_loads(codec.cbor_dumps(wire))) == signed
    signed.verify(factory.device_key.public_key())
    verify_hello(wire, signed.sig, factory.device_key.public_key())
    bare = replace(HELLO, challenge=None, receipt=None)
    assert "challenge" not in bare.to_wire()
    assert "receipt" not in bare.to_wire()
    assert Hello.from_wire(bare.to_wire()) == bare


@pytest.mark.parametrize(
    "edit",
    [
        {"pin_default": True},
        {"epoch": 3},
        {"head_seq": 0},
        {"nonce": bytes(16)},
        {"locked": True},
        {"challenge": None},
    ],
)
def test_p6_h5_an_edited_typed_hello_does_not_verify(
    factory: Factory, edit: dict[str, object]
) -> None:
    signed = HELLO.signed(factory.device_key)
    with pytest.raises(SignatureError):
        replace(signed, **edit).verify(factory.device_key.public_key())  # type: ignore[arg-type]


def test_h5_the_receipt_is_not_part_of_the_hello_signature(factory: Factory) -> None:
    signed = HELLO.signed(factory.device_key)
    replace(signed, receipt=None).verify(factory.device_key.public_key())


@settings(deadline=None)  # a loaded machine must not turn slowness into a failure
@given(
    st.dictionaries(
        st.sampled_from([*HELLO.to_wire(), "x"]),
        st.none() | st.booleans() | st.integers() | st.binary(max_size=4) | st.text(max_size=4),
    )
)
def test_from_wire_raises_only_message_error(fields: dict[str, object]) -> None:
    with contextlib.suppress(MessageError):
        Hello.from_wire(fields)

"""Every decoder, fed arbitrary bytes, raises only ProtocolError; encodings round-trip."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cablepin.protocol import advert, chain, codec, commands, messages
from cablepin.protocol.errors import ProtocolError

from .conftest import Factory

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(0, 2**63 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(st.binary(max_size=300))
def test_cbor_loads_raises_only_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        codec.cbor_loads(data)


@given(st.lists(st.binary(max_size=80), max_size=6))
def test_frame_decoder_raises_only_protocol_error(chunks: list[bytes]) -> None:
    decoder = codec.FrameDecoder()
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            list(decoder.frames())
    except ProtocolError:
        pass
    assert decoder.pending <= codec.MAX_FRAME + 4 + 80


@given(st.dictionaries(st.text(max_size=8), plain, max_size=6))
def test_frames_round_trip(message: dict[str, object]) -> None:
    decoder = codec.FrameDecoder()
    frame = codec.encode_frame(message)
    # arrive in two arbitrary pieces, as a socket would deliver them
    decoder.feed(frame[:3])
    assert list(decoder.frames()) == []
    decoder.feed(frame[3:])
    assert list(decoder.frames()) == [message]


def test_oversized_length_prefix_is_refused_before_buffering() -> None:
    decoder = codec.FrameDecoder()
    with pytest.raises(ProtocolError, match="exceeds"):
        decoder.feed((codec.MAX_FRAME + 1).to_bytes(4, "big"))


@given(st.dictionaries(st.text(max_size=10), plain, max_size=8))
def test_parse_request_raises_only_protocol_error(obj: dict[str, object]) -> None:
    try:
        request = messages.parse_request(obj)
    except ProtocolError:
        return
    assert messages.parse_request(messages.request_to_wire(request)) == request


@given(
    st.sampled_from(sorted(messages.OPS)), st.dictionaries(st.text(max_size=10), plain, max_size=8)
)
def test_parse_response_raises_only_protocol_error(op: str, obj: dict[str, object]) -> None:
    with contextlib.suppress(ProtocolError):
        messages.parse_response(obj, op)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_signed_openers_raise_only_protocol_error(factory: Factory, data: bytes) -> None:
    for opener, key in (
        (commands.open_command, factory.command_key.public_key()),
        (commands.open_receipt, factory.device_key.public_key()),
    ):
        with contextlib.suppress(ProtocolError):
            opener(data, key)


@given(plain)
def test_record_from_wire_raises_only_protocol_error(value: object) -> None:
    try:
        record = chain.Record.from_wire(value)
    except ProtocolError:
        return
    assert chain.Record.from_wire(record.to_wire()) == record


@given(st.binary(max_size=200))
def test_advert_decoder_raises_only_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        advert.decode_advert(data)


def test_advert_round_trips() -> None:
    ad = advert.Advert("CBL-00000001", "127.0.0.1:4000", 42)
    assert advert.decode_advert(advert.encode_advert(ad)) == ad


@given(
    st.builds(
        commands.Command,
        id=st.text(min_size=1, max_size=36),
        kind=st.sampled_from(list(commands.CommandKind)),
        serial=st.from_regex(r"CBL-[0-9]{8}", fullmatch=True),
        nonce=st.binary(min_size=16, max_size=16),
        epoch=st.integers(0, 2**32),
        issued_at=st.integers(0, 2**40),
        expires_at=st.integers(0, 2**40),
    )
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_commands_round_trip(factory: Factory, command: commands.Command) -> None:
    blob = commands.sign_command(command, factory.command_key)
    assert commands.open_command(blob, factory.command_key.public_key()) == command

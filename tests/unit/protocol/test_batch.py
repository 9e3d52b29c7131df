"""B1/S2: a read's batch is delta-coded, decodes to exactly what was sent, and nothing else."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cablepin.protocol.batch import MAX_BATCH_INTS, pack_records, unpack_records
from cablepin.protocol.chain import MAX_VALUE, Record
from cablepin.protocol.codec import MAX_FRAME, cbor_dumps, cbor_loads, encode_frame
from cablepin.protocol.errors import MessageError, ProtocolError
from cablepin.protocol.messages import MAX_READ_LIMIT

# Values a cable may really hold: anything Record allows, in ranges that reach every CBOR width.
value = st.integers(0, MAX_VALUE)


@st.composite
def runs(draw: st.DrawFn, max_size: int = 12) -> list[Record]:
    """A run of consecutive records, with arbitrary (valid) values."""
    n = draw(st.integers(0, max_size))
    seq = draw(st.integers(1, MAX_VALUE - max_size))
    out = []
    for i in range(n):
        start = draw(value)
        end = draw(st.integers(start, MAX_VALUE))
        meter_start = draw(value)
        meter_end = draw(st.integers(meter_start, MAX_VALUE))
        out.append(Record(seq + i, start, end, draw(value), meter_start, meter_end, draw(value)))
    return out


def typical(n: int) -> list[Record]:
    """What a cable at home records: one session every two hours, the meter running on."""
    out, meter, t0 = [], 1_234_567, 1_750_000_000
    for i in range(n):
        wh = 7_400 + i % 300
        out.append(
            Record(i + 1, t0 + i * 7200, t0 + i * 7200 + 5400, wh, meter, meter + wh, 11_000)
        )
        meter += wh
    return out


@given(runs())
def test_s2_batch_round_trips_any_valid_run(records: list[Record]) -> None:
    packed = pack_records(records)
    assert unpack_records(packed) == records
    # and through the wire's own CBOR, as it travels
    assert unpack_records(cbor_loads(cbor_dumps(packed))) == records


@given(st.lists(st.integers(-(2**64), 2**64 - 1), max_size=40))
def test_unpack_of_arbitrary_integers_raises_only_message_error(items: list[int]) -> None:
    try:
        records = unpack_records(items)
    except MessageError:
        return
    assert pack_records(records) == items  # what decodes is exactly what was sent


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=8) | st.text(max_size=4),
    lambda children: st.lists(children, max_size=8) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@given(plain)
def test_unpack_of_arbitrary_values_raises_only_message_error(obj: Any) -> None:
    with contextlib.suppress(MessageError):
        unpack_records(obj)


@given(st.binary(max_size=200))
def test_unpack_of_arbitrary_bytes_raises_only_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        unpack_records(cbor_loads(data))


def test_s2_a_batch_cannot_skip_or_reorder_seqs() -> None:
    a, b, c = typical(3)
    with pytest.raises(MessageError, match="does not follow"):
        pack_records([a, c])
    with pytest.raises(MessageError, match="does not follow"):
        pack_records([b, a])


@pytest.mark.parametrize(
    ("packed", "why"),
    [
        ([1, 2, 3], "whole records"),
        ([*pack_records(typical(2)), 0], "whole records"),
        ([0, 1, 1, 1, 1, 0, 1], "count from seq 1"),
        ([1, 10, -5, 1, 1, 0, 1], "ends before it starts"),
        ([1, 10, 1, 1, 5, -3, 1], "ends before it starts"),
        ([1, -1, 1, 1, 1, 0, 1], "non-negative"),
        ([1, MAX_VALUE, 1, 1, 1, 0, 1], "non-negative"),
        ([1, 1, 1, True, 1, 0, 1], "only integers"),
        ([0] * (MAX_BATCH_INTS + 6), "at most"),
    ],
)
def test_s2_malformed_batches_are_refused(packed: list[Any], why: str) -> None:
    with pytest.raises(MessageError, match=why):
        unpack_records(packed)


def test_b1_a_typical_session_costs_about_twelve_bytes_on_the_wire() -> None:
    records = typical(MAX_READ_LIMIT)
    size = len(cbor_dumps(pack_records(records)))
    plain_size = len(cbor_dumps([r.to_wire() for r in records]))
    assert size / len(records) < 12.1 < 29 < plain_size / len(records)


def test_a_full_batch_of_the_largest_values_fits_one_frame() -> None:
    top = MAX_VALUE // 2
    records = [Record(i, top, top, top, top - 1, top - 1, top) for i in range(1, 501)]
    assert len(encode_frame({"batch": pack_records(records)})) < MAX_FRAME

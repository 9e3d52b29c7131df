"""S2: the cloud accepts records only as the cable signed them, in order, none dropped."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cablepin.protocol import pki
from cablepin.protocol.chain import Head, Record, genesis, link, sign_head, verify_batch
from cablepin.protocol.errors import ChainError, MessageError

from .conftest import SERIAL, Factory

EPOCH = 2


def make_records(n: int, first: int = 1) -> list[Record]:
    out, meter = [], 10_000
    for seq in range(first, first + n):
        out.append(
            Record(
                seq,
                1_700_000_000 + seq * 7200,
                1_700_003_600 + seq * 7200,
                7400,
                meter,
                meter + 7400,
                11000,
            )
        )
        meter += 7400
    return out


def signed(
    factory: Factory, records: list[Record], previous: bytes | None = None
) -> tuple[bytes, bytes]:
    running = previous if previous is not None else genesis(SERIAL, EPOCH)
    for r in records:
        running = link(running, r)
    return running, sign_head(Head(SERIAL, EPOCH, records[-1].seq, running), factory.device_key)


def verify(
    factory: Factory, records: list[Record], sig: bytes, previous: tuple[int, bytes] | None = None
) -> list[bytes]:
    return verify_batch(
        serial=SERIAL,
        epoch=EPOCH,
        previous=previous or (0, genesis(SERIAL, EPOCH)),
        records=records,
        head_sig=sig,
        device_key=factory.device_key.public_key(),
    )


def test_s2_genuine_batch_verifies_and_continues(factory: Factory) -> None:
    first = make_records(5)
    head, sig = signed(factory, first)
    hashes = verify(factory, first, sig)
    assert hashes[-1] == head
    second = make_records(3, first=6)
    _, sig2 = signed(factory, second, previous=head)
    verify(factory, second, sig2, previous=(5, head))


def test_s2_chain_depends_on_serial_and_epoch() -> None:
    assert genesis(SERIAL, 1) != genesis(SERIAL, 2) != genesis("CBL-00000002", 2)


records_strategy = st.integers(min_value=2, max_value=12).map(make_records)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(records=records_strategy, data=st.data())
def test_s2_any_altered_record_is_refused(
    factory: Factory, records: list[Record], data: st.DataObject
) -> None:
    _, sig = signed(factory, records)
    i = data.draw(st.integers(0, len(records) - 1))
    field = data.draw(st.integers(1, 6))  # any field but seq
    wire = records[i].to_wire()
    wire[field] += data.draw(st.integers(1, 1000))
    try:
        tampered = [*records[:i], Record.from_wire(wire), *records[i + 1 :]]
    except MessageError:
        return  # not even a valid record
    with pytest.raises(ChainError):
        verify(factory, tampered, sig)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(records=records_strategy, data=st.data())
def test_s2_any_record_dropped_from_the_middle_is_refused(
    factory: Factory, records: list[Record], data: st.DataObject
) -> None:
    _, sig = signed(factory, records)
    i = data.draw(st.integers(0, len(records) - 2))
    with pytest.raises(ChainError):
        verify(factory, records[:i] + records[i + 1 :], sig)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(records=records_strategy, perm=st.randoms(use_true_random=False))
def test_s2_any_reordering_is_refused(
    factory: Factory, records: list[Record], perm: object
) -> None:
    _, sig = signed(factory, records)
    shuffled = list(records)
    perm.shuffle(shuffled)  # type: ignore[attr-defined]
    if shuffled == records:
        return
    with pytest.raises(ChainError):
        verify(factory, shuffled, sig)


def test_s2_records_continued_by_the_app_are_refused(factory: Factory) -> None:
    records = make_records(3)
    _, sig = signed(factory, records)
    forged = records + make_records(1, first=4)
    with pytest.raises(ChainError, match="altered or forged"):
        verify(factory, forged, sig)


def test_s2_head_signed_by_another_cable_is_refused(factory: Factory) -> None:
    records = make_records(3)
    running = genesis(SERIAL, EPOCH)
    for r in records:
        running = link(running, r)
    sig = sign_head(Head(SERIAL, EPOCH, 3, running), pki.generate_key())
    with pytest.raises(ChainError):
        verify(factory, records, sig)


def test_s2_empty_batch_is_refused(factory: Factory) -> None:
    with pytest.raises(ChainError, match="empty"):
        verify(factory, [], b"x" * 64)


def test_record_travels_as_about_thirty_bytes() -> None:
    from cablepin.protocol.codec import cbor_dumps

    assert len(cbor_dumps(make_records(1, first=1000)[0].to_wire())) <= 36

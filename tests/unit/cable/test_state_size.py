"""S1 and B5: a cable keeps every session it recorded, however many, until they are synced,
and its state stays small: the sessions are in their own append-only log."""

from __future__ import annotations

from cablepin.cable.firmware import Cable, Charge
from cablepin.cable.state import RECORD_SIZE
from cablepin.protocol.codec import MAX_FRAME

from .conftest import NOW, Conn


def test_s1_a_cable_with_more_sessions_than_one_frame_still_reads_its_state(cable: Cable) -> None:
    # 88 bytes per stored session: 3,000 sessions are four times a protocol frame.
    cable.record_sessions(
        [Charge(NOW - 10_000 + i, NOW - 9_000 + i, 7_000, 11_000) for i in range(3_000)]
    )
    assert cable.flash.size("sessions.log") == 3_000 * RECORD_SIZE > MAX_FRAME
    conn = Conn(cable)
    assert conn("hello")["head"]["seq"] == 3_000
    conn("auth", pin="0000")
    answer = conn("read", after_seq=2_900, limit=500)
    assert [r[0] for r in answer["records"]] == list(range(2_901, 3_001))
    assert answer["more"] is False


def test_b5_the_state_file_does_not_grow_with_the_sessions(cable: Cable) -> None:
    cable.record_session(NOW - 100, NOW - 50, 10, 1_000)
    small = len(cable.flash.read("state.cbor") or b"")
    cable.record_sessions([Charge(NOW + i, NOW + i + 1, 1, 3_600) for i in range(2_000)])
    assert len(cable.flash.read("state.cbor") or b"") - small <= 4  # a longer head_seq number


def test_b5_a_read_from_the_middle_reads_only_its_own_records(cable: Cable) -> None:
    cable.record_sessions([Charge(NOW + i, NOW + i + 1, 1, 3_600) for i in range(2_000)])
    flash = cable.flash
    asked: list[tuple[int, int]] = []
    read_at = flash.read_at

    def spy(name: str, offset: int, length: int) -> bytes:
        asked.append((offset, length))
        return read_at(name, offset, length)

    flash.read_at = spy  # type: ignore[method-assign]
    conn = Conn(cable)
    conn("auth", pin="0000")
    answer = conn("read", after_seq=1_000, limit=10)
    assert [r[0] for r in answer["records"]] == list(range(1_001, 1_011))
    assert answer["more"] is True
    # one read: the record before (its hash links the first) and the ten
    assert asked == [(999 * RECORD_SIZE, 11 * RECORD_SIZE)]

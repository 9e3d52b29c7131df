"""S1: a cable keeps every session it recorded, however many, until they are synced."""

from __future__ import annotations

from cablepin.cable.firmware import Cable, Charge
from cablepin.protocol.codec import MAX_FRAME

from .conftest import NOW, Conn


def test_s1_a_cable_with_more_sessions_than_one_frame_still_reads_its_state(cable: Cable) -> None:
    # About 64 bytes per stored session: 3,000 sessions are three times a protocol frame.
    cable.record_sessions(
        [Charge(NOW - 10_000 + i, NOW - 9_000 + i, 7_000, 11_000) for i in range(3_000)]
    )
    assert len(cable.flash.read("state.cbor") or b"") > MAX_FRAME
    conn = Conn(cable)
    assert conn("hello")["head"]["seq"] == 3_000
    conn("auth", pin="0000")
    answer = conn("read", after_seq=2_900, limit=500)
    assert [r[0] for r in answer["records"]] == list(range(2_901, 3_001))
    assert answer["more"] is False

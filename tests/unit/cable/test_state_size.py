"""S1 and B5: a cable keeps every session it recorded, however many, until they are synced,
and its state stays small: the sessions are in their own append-only log."""

from __future__ import annotations

from pathlib import Path

from cablepin.cable.firmware import Cable, Charge, factory_state
from cablepin.cable.state import RECORD_SIZE, save_state
from cablepin.cable.store import DirectoryFlash
from cablepin.protocol.batch import unpack_records
from cablepin.protocol.codec import MAX_FRAME
from cablepin.protocol.commands import CommandKind

from .conftest import NOW, Conn, Keys, counter_random


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
    assert [r.seq for r in unpack_records(answer["batch"])] == list(range(2_901, 3_001))
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
    assert [r.seq for r in unpack_records(answer["batch"])] == list(range(1_001, 1_011))
    assert answer["more"] is True
    # one read: the record before (its hash links the first) and the ten
    assert asked == [(999 * RECORD_SIZE, 11 * RECORD_SIZE)]


def test_b5_on_a_real_directory_a_torn_tail_is_written_over_and_a_wipe_empties_the_log(
    keys: Keys, tmp_path: Path
) -> None:
    flash = DirectoryFlash(tmp_path)
    with flash.lock():
        save_state(flash, factory_state(keys.identity))
    cable = Cable(keys.identity, flash, counter_random())
    cable.record_sessions([Charge(NOW + i, NOW + i + 1, 5, 18_000) for i in range(3)])
    log = tmp_path / "sessions.log"
    assert log.stat().st_size == 3 * RECORD_SIZE
    assert log.stat().st_mode & 0o777 == 0o600
    with log.open("ab") as f:  # what a power cut mid-append leaves: part of a record
        f.write(b"\xff" * (RECORD_SIZE // 2))
    cable = Cable(keys.identity, DirectoryFlash(tmp_path), counter_random())  # a reboot
    assert cable.state().head_seq == 3
    cable.record_session(NOW + 10, NOW + 20, 7, 2_520)
    assert log.stat().st_size == 4 * RECORD_SIZE
    conn = Conn(cable)
    conn("auth", pin="0000")
    records = unpack_records(conn("read", after_seq=2, limit=500)["batch"])  # read checks the chain
    assert [(r.seq, r.wh) for r in records] == [(3, 5), (4, 7)]
    Conn(cable)("command", cmd=keys.command(CommandKind.WIPE))
    assert log.stat().st_size == 0
    assert Conn(cable)("hello")["head"]["seq"] == 0

"""Fault injection: the power is cut after the k-th flash write, for every k.

After the reboot the invariants hold: no free PIN guess, no half-wiped cable,
no lost session once the cable reported it recorded, no session doubled or
half there, no PIN change half done. And the rebooted cable goes on: it
records the next session after the last one that counts, whatever torn tail
the cut left in its log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cablepin.cable.errors import CableError, StoreError, UnknownBond, WrongPin
from cablepin.cable.firmware import Cable, Charge
from cablepin.cable.state import (
    RECORD_SIZE,
    CableState,
    LoggedRecord,
    decode_state,
    read_sessions,
)
from cablepin.cable.store import LOG_FILE, PowerLost, SimulatedFlash, atomic_replace
from cablepin.protocol.batch import unpack_records
from cablepin.protocol.chain import genesis
from cablepin.protocol.codec import cbor_dumps
from cablepin.protocol.commands import CommandKind

from .conftest import NOW, SERIAL, Conn, Keys, counter_random, new_flash

Operation = Callable[[Cable], Any]


@dataclass(frozen=True)
class Seen:
    """What a rebooted cable holds: its state and every session its log counts."""

    state: CableState
    sessions: tuple[LoggedRecord, ...]


Check = Callable[[Seen, Seen, bool], None]


def seen(flash: SimulatedFlash, keys: Keys) -> Seen:
    state = Cable(keys.identity, flash).state()  # must load: never a torn state
    genesis_hash = genesis(SERIAL, state.epoch)
    # read_sessions checks every record continues the chain: none torn, none doubled
    sessions = read_sessions(flash, state, 0, max(state.head_seq, 1), genesis_hash)
    assert len(sessions) == state.head_seq
    assert state.head_hash == (sessions[-1].hash if sessions else genesis_hash)
    return Seen(state, tuple(sessions))


def goes_on(flash: SimulatedFlash, keys: Keys, had: Seen) -> None:
    """After the reboot the cable records the next session right after the last counted one."""
    Cable(keys.identity, flash, counter_random()).record_session(NOW + 9000, NOW + 9600, 10, 60)
    now = seen(flash.reboot(), keys)
    assert now.sessions[:-1] == had.sessions
    assert now.sessions[-1].record.seq == had.state.head_seq + 1
    assert flash.size(LOG_FILE) == now.state.head_seq * RECORD_SIZE  # the torn tail is gone


def cut_everywhere(base: SimulatedFlash, keys: Keys, operation: Operation, check: Check) -> int:
    """Run ``operation`` once per possible cut-off point; return how many points there were."""
    before = seen(base.reboot(), keys)
    k = 0
    while True:
        flash = base.reboot(fail_after=k)
        try:
            operation(Cable(keys.identity, flash, counter_random()))
            completed = True
        except PowerLost:
            completed = False
        except CableError:
            completed = True  # the cable answered (e.g. wrong_pin): it finished its writes
        rebooted = flash.reboot()
        after = seen(rebooted, keys)
        check(before, after, completed)
        goes_on(rebooted, keys, after)
        if completed:  # the cut-off was never reached: every point has been tried
            return k
        k += 1


def prepared(keys: Keys, pin: str = "4711", sessions: int = 2) -> tuple[SimulatedFlash, bytes]:
    flash = new_flash(keys.identity)
    cable = Cable(keys.identity, flash, counter_random())
    conn = Conn(cable)
    conn("auth", pin="0000")
    bond = conn("set_pin", new=pin)["bond"]
    for i in range(sessions):
        cable.record_session(NOW + i * 100, NOW + i * 100 + 50, 1000, 11000)
    assert isinstance(bond, bytes)
    return flash, bond


def test_p9_power_cut_during_a_wrong_pin_gives_no_free_guess(keys: Keys) -> None:
    base, _ = prepared(keys)

    def guess(cable: Cable) -> None:
        with pytest.raises(WrongPin):
            Conn(cable)("auth", pin="1111")

    answered: list[bool] = []

    def check(was: Seen, now: Seen, completed: bool) -> None:
        before, after = was.state, now.state
        answered.append(completed)
        if completed:  # the guesser learned "wrong": it must have been counted
            assert after.failures == before.failures + 1
        else:  # no answer was given; counted or not, nothing was learned
            assert after.failures in (before.failures, before.failures + 1)
        assert after.pin_hash == before.pin_hash
        assert now.sessions == was.sessions

    points = cut_everywhere(base, keys, guess, check)
    assert points >= 4
    assert answered[-1] is True


def test_p9_power_cut_during_a_right_pin_never_reveals_it_without_counting(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cablepin.cable import pin as pins

    base, _ = prepared(keys)
    compared_at: list[int] = []
    original = pins.pin_matches

    def spy(key: bytes, stored: bytes, pin: str) -> bool:
        flash = current["flash"]
        compared_at.append(Cable(keys.identity, flash.reboot()).state().failures)
        return original(key, stored, pin)

    monkeypatch.setattr(pins, "pin_matches", spy)
    current: dict[str, SimulatedFlash] = {}

    def auth(cable: Cable) -> None:
        current["flash"] = cable.flash  # type: ignore[assignment]
        Conn(cable)("auth", pin="4711")

    def check(was: Seen, now: Seen, completed: bool) -> None:
        before, after = was.state, now.state
        if completed:
            assert after.failures == 0
            assert len(after.bonds) == len(before.bonds) + 1
        else:
            assert after.bonds == before.bonds

    cut_everywhere(base, keys, auth, check)
    # Every compare happened with the attempt already durable on flash.
    assert compared_at
    assert all(failures == 1 for failures in compared_at)


def test_h2_power_cut_during_wipe_leaves_old_or_wiped_never_a_mix(keys: Keys) -> None:
    base, _ = prepared(keys)
    blob = keys.command(CommandKind.WIPE)
    old_log: list[bool] = []

    def wipe(cable: Cable) -> None:
        current["flash"] = cable.flash  # type: ignore[assignment]
        Conn(cable)("command", cmd=blob)

    current: dict[str, SimulatedFlash] = {}

    def check(was: Seen, now: Seen, completed: bool) -> None:
        before, after = was.state, now.state
        wiped = CableState(
            epoch=1,
            pin_hash=after.pin_hash,
            pin_default=True,
            head_hash=genesis(SERIAL, 1),
            meter_wh=before.meter_wh,
            last_receipt=after.last_receipt,
        )
        if completed:
            assert after == wiped
            assert after.last_receipt is not None
            assert current["flash"].reboot().size(LOG_FILE) == 0  # the records are gone
        else:
            assert after in (before, wiped)
        if after == wiped:
            assert now.sessions == ()
            # cut before the log was cut off: old records lie past the end, counted by nothing
            old_log.append(current["flash"].reboot().size(LOG_FILE) > 0)
        else:
            assert now.sessions == was.sessions

    assert cut_everywhere(base, keys, wipe, check) >= 4
    assert True in old_log  # that case was tried, and the cable went on from it (goes_on)


def test_p4_power_cut_during_set_pin_leaves_old_or_new_pin_and_bonds(keys: Keys) -> None:
    base, old_bond = prepared(keys)

    def change(cable: Cable) -> None:
        conn = Conn(cable)
        conn("auth", bond=old_bond)
        conn("set_pin", new="8362", current="4711")

    def check(was: Seen, now: Seen, completed: bool) -> None:
        before, after = was.state, now.state
        changed = after.pin_hash != before.pin_hash
        if completed:
            assert changed
        if changed:
            assert after.bonds != before.bonds
            assert len(after.bonds) == 1
            assert after.failures == 0
            assert not after.pin_default
        else:
            assert after.bonds == before.bonds
        assert now.sessions == was.sessions

    cut_everywhere(base, keys, change, check)
    # and the old bond is gone for good once the change went through
    flash = base.reboot()
    change(Cable(keys.identity, flash, counter_random()))
    with pytest.raises(UnknownBond):
        Conn(Cable(keys.identity, flash.reboot()))("auth", bond=old_bond)


def test_power_cut_while_recording_loses_no_reported_session(keys: Keys) -> None:
    base, _ = prepared(keys, sessions=3)
    tails: list[int] = []

    def record(cable: Cable) -> None:
        current["flash"] = cable.flash  # type: ignore[assignment]
        cable.record_session(NOW + 1000, NOW + 2000, 4200, 11000)

    current: dict[str, SimulatedFlash] = {}

    def check(was: Seen, now: Seen, completed: bool) -> None:
        before, after = was.state, now.state
        if completed:
            assert after.head_seq == before.head_seq + 1
        assert after.head_seq in (before.head_seq, before.head_seq + 1)
        assert now.sessions[: before.head_seq] == was.sessions
        tails.append(current["flash"].reboot().size(LOG_FILE) - after.head_seq * RECORD_SIZE)

    cut_everywhere(base, keys, record, check)
    # Some cuts left a torn record (part of one) and some a whole one the state did not count
    # yet: both were ignored, and the next session went in their place (goes_on).
    assert any(0 < tail < RECORD_SIZE for tail in tails)
    assert RECORD_SIZE in tails


def test_power_cut_while_recording_a_batch_keeps_all_or_none(keys: Keys) -> None:
    base, _ = prepared(keys, sessions=1)
    batch = [Charge(NOW + 1000 * i, NOW + 1000 * i + 500, 300, 4000) for i in range(1, 6)]

    def record(cable: Cable) -> None:
        cable.record_sessions(batch)

    def check(was: Seen, now: Seen, completed: bool) -> None:
        grown = now.state.head_seq - was.state.head_seq
        assert grown in (0, 5)
        if completed:
            assert grown == 5
        assert now.sessions[: was.state.head_seq] == was.sessions

    cut_everywhere(base, keys, record, check)


def test_power_cut_while_recording_after_an_earlier_cut_never_doubles_a_session(
    keys: Keys,
) -> None:
    # Cut one recording after its record is durable but before the state counts it, then
    # cut every step of the next one: the orphan is never counted on top of the new record.
    base, _ = prepared(keys, sessions=2)
    flash = base.reboot(fail_after=2)  # write_from + fsync of the log done, the state not
    with pytest.raises(PowerLost):
        Cable(keys.identity, flash, counter_random()).record_session(NOW + 500, NOW + 600, 1, 60)
    orphaned = flash.reboot()
    assert orphaned.size(LOG_FILE) == 3 * RECORD_SIZE
    assert Cable(keys.identity, orphaned).state().head_seq == 2

    def record(cable: Cable) -> None:
        cable.record_session(NOW + 700, NOW + 800, 2, 60)

    def check(was: Seen, now: Seen, completed: bool) -> None:
        assert now.state.head_seq in (2, 3)
        if now.state.head_seq == 3:
            assert now.sessions[2].record.wh == 2  # the new one, not the orphan
        assert now.state.meter_wh == sum(s.record.wh for s in now.sessions)

    cut_everywhere(orphaned, keys, record, check)


def test_simulated_flash_tears_unsynced_writes(keys: Keys) -> None:
    flash = SimulatedFlash()
    flash.write_new("a", b"0123456789")
    flash.fsync_dir()
    assert flash.reboot().read("a") == b"01234"
    flash.fsync("a")
    assert flash.reboot().read("a") == b"0123456789"
    flash.write_new("b", b"xyz")
    flash.fsync("b")
    flash.rename("b", "a")
    assert flash.reboot().read("a") == b"0123456789"  # the rename was not durable yet


def test_simulated_flash_tears_an_unsynced_append_over_the_old_tail(keys: Keys) -> None:
    flash = SimulatedFlash()
    flash.write_from("log", 0, b"aaaaXXXX")
    flash.fsync("log")
    flash.fsync_dir()
    flash.write_from("log", 4, b"bbbbbbbb")  # over an old tail, not synced
    assert flash.read_at("log", 2, 4) == b"aabb"
    assert flash.reboot().read("log") == b"aaaabbbb"  # half the new bytes landed
    flash.write_from("log", 2, b"")  # a cut-off not synced is not durable either:
    assert flash.reboot().read("log") == b"aaaaXXXX"  # what the last fsync saw
    flash.fsync("log")
    assert flash.reboot().read("log") == b"aa"
    new = SimulatedFlash()
    new.write_from("log", 0, b"abcd")
    new.fsync("log")
    assert new.reboot().read("log") is None  # a new file's name needs fsync_dir


def test_a_damaged_log_is_refused_not_sent(keys: Keys) -> None:
    base, bond = prepared(keys, sessions=3)
    flash = base.reboot()
    data = bytearray(flash.read(LOG_FILE) or b"")
    data[RECORD_SIZE + 20] ^= 1  # one bit of session 2 flips
    flash.write_from(LOG_FILE, 0, bytes(data))
    conn = Conn(Cable(keys.identity, flash))
    conn("auth", bond=bond)
    assert (
        len(unpack_records(conn("read", after_seq=2, limit=10)["batch"])) == 1
    )  # session 3 is fine
    with pytest.raises(StoreError, match="damaged at session 2"):
        conn("read", after_seq=0, limit=10)
    flash.write_from(LOG_FILE, 2 * RECORD_SIZE, b"")  # and a log cut short of its count
    with pytest.raises(StoreError, match="shorter"):
        Cable(keys.identity, flash).state()


def _as_version_1(had: Seen) -> bytes:
    """The state file as the firmware before the log wrote it: the sessions inside it."""
    state = had.state
    return cbor_dumps(
        {
            "v": 1,
            "epoch": state.epoch,
            "pin_hash": state.pin_hash,
            "pin_default": state.pin_default,
            "head_hash": state.head_hash,
            "failures": state.failures,
            "locked_until": state.locked_until,
            "bonds": list(state.bonds),
            "sessions": [[*s.record.to_wire(), s.hash] for s in had.sessions],
            "meter_wh": state.meter_wh,
            "last_receipt": state.last_receipt,
            "applied": list(state.applied),
        }
    )


def test_a_cable_from_before_the_log_moves_its_sessions_into_it_power_cuts_or_not(
    keys: Keys,
) -> None:
    current, bond = prepared(keys, sessions=4)
    had = seen(current.reboot(), keys)
    base = SimulatedFlash()
    atomic_replace(base, "state.cbor", _as_version_1(had))
    assert base.size(LOG_FILE) == 0

    def load(cable: Cable) -> None:
        cable.state()

    def check(was: Seen, now: Seen, completed: bool) -> None:
        assert now == had  # v1 or migrated, the cable reads the same state and sessions

    cut_everywhere(base, keys, load, check)
    migrated = base.reboot()
    Cable(keys.identity, migrated).state()
    assert decode_state(migrated.read("state.cbor") or b"").head_seq == 4  # now version 2
    conn = Conn(Cable(keys.identity, migrated))
    conn("auth", bond=bond)
    assert [r.seq for r in unpack_records(conn("read", after_seq=1, limit=10)["batch"])] == [
        2,
        3,
        4,
    ]

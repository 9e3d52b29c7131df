"""Fault injection: the power is cut after the k-th flash write, for every k.

After the reboot the invariants hold: no free PIN guess, no half-wiped cable,
no lost session once the cable reported it recorded, no PIN change half done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cablepin.cable.errors import CableError, UnknownBond, WrongPin
from cablepin.cable.firmware import Cable, Charge
from cablepin.cable.state import CableState
from cablepin.cable.store import PowerLost, SimulatedFlash
from cablepin.protocol.chain import genesis
from cablepin.protocol.commands import CommandKind

from .conftest import NOW, SERIAL, Conn, Keys, counter_random, new_flash

Operation = Callable[[Cable], Any]
Check = Callable[[CableState, CableState, bool], None]


def cut_everywhere(base: SimulatedFlash, keys: Keys, operation: Operation, check: Check) -> int:
    """Run ``operation`` once per possible cut-off point; return how many points there were."""
    before = Cable(keys.identity, base.reboot()).state()
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
        after = Cable(keys.identity, flash.reboot()).state()  # must load: never a torn state
        check(before, after, completed)
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

    def check(before: CableState, after: CableState, completed: bool) -> None:
        answered.append(completed)
        if completed:  # the guesser learned "wrong": it must have been counted
            assert after.failures == before.failures + 1
        else:  # no answer was given; counted or not, nothing was learned
            assert after.failures in (before.failures, before.failures + 1)
        assert after.pin_hash == before.pin_hash

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

    def check(before: CableState, after: CableState, completed: bool) -> None:
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

    def wipe(cable: Cable) -> None:
        Conn(cable)("command", cmd=blob)

    def check(before: CableState, after: CableState, completed: bool) -> None:
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
        else:
            assert after in (before, wiped)

    assert cut_everywhere(base, keys, wipe, check) >= 4


def test_p4_power_cut_during_set_pin_leaves_old_or_new_pin_and_bonds(keys: Keys) -> None:
    base, old_bond = prepared(keys)

    def change(cable: Cable) -> None:
        conn = Conn(cable)
        conn("auth", bond=old_bond)
        conn("set_pin", new="8362", current="4711")

    def check(before: CableState, after: CableState, completed: bool) -> None:
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
        assert after.sessions == before.sessions

    cut_everywhere(base, keys, change, check)
    # and the old bond is gone for good once the change went through
    flash = base.reboot()
    change(Cable(keys.identity, flash, counter_random()))
    with pytest.raises(UnknownBond):
        Conn(Cable(keys.identity, flash.reboot()))("auth", bond=old_bond)


def test_power_cut_while_recording_loses_no_reported_session(keys: Keys) -> None:
    base, _ = prepared(keys, sessions=3)

    def record(cable: Cable) -> None:
        cable.record_session(NOW + 1000, NOW + 2000, 4200, 11000)

    def check(before: CableState, after: CableState, completed: bool) -> None:
        if completed:
            assert after.head_seq == before.head_seq + 1
        assert after.head_seq in (before.head_seq, before.head_seq + 1)
        assert after.sessions[: before.head_seq] == before.sessions
        assert after.head_hash == (after.sessions[-1].hash if after.sessions else after.head_hash)

    cut_everywhere(base, keys, record, check)


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


def test_power_cut_while_recording_a_batch_keeps_all_or_none(keys: Keys) -> None:
    base, _ = prepared(keys, sessions=1)
    batch = [Charge(NOW + 1000 * i, NOW + 1000 * i + 500, 300, 4000) for i in range(1, 6)]

    def record(cable: Cable) -> None:
        cable.record_sessions(batch)

    def check(before: CableState, after: CableState, completed: bool) -> None:
        grown = after.head_seq - before.head_seq
        assert grown in (0, 5)
        if completed:
            assert grown == 5

    cut_everywhere(base, keys, record, check)

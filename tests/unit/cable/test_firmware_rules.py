"""Every P and H rule of the cable, driven through the per-connection dispatcher."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cablepin.cable import pin as pins
from cablepin.cable.errors import (
    InvalidPin,
    InvalidSession,
    Locked,
    NotAuthenticated,
    PinRequired,
    UnknownBond,
    WeakPin,
    WrongPin,
)
from cablepin.cable.firmware import Cable, Charge
from cablepin.cable.session import AuthState
from cablepin.protocol.batch import unpack_records
from cablepin.protocol.chain import genesis, verify_batch
from cablepin.protocol.commands import (
    CLOCK_SKEW_S,
    COMMAND_LIFETIME_S,
    CommandKind,
    open_receipt,
)
from cablepin.protocol.errors import CommandRejected, MessageError, SignatureError

from .conftest import NONCE, NOW, SERIAL, Conn, Keys, counter_random


def reboot(cable: Cable) -> Cable:
    return Cable(cable.identity, cable.flash, counter_random())


def bonded(conn: Conn, pin: str = "0000") -> bytes:
    answer = conn("auth", pin=pin)
    assert answer["via"] == "pin"
    bond = answer["bond"]
    assert isinstance(bond, bytes)
    assert len(bond) == 32
    return bond


def with_pin(cable: Cable, pin: str = "4711") -> None:
    conn = Conn(cable)
    bonded(conn)
    conn("set_pin", new=pin)


# -- P1 / P3 / P6 --------------------------------------------------------------


def test_p1_a_new_cable_has_pin_0000(conn: Conn) -> None:
    hello = conn("hello")
    assert hello["pin_default"] is True
    assert hello["epoch"] == 0
    assert hello["serial"] == SERIAL
    assert hello["nonce"] == NONCE
    assert hello["head"] == {"seq": 0, "hash": genesis(SERIAL, 0)}
    assert hello["wait_s"] == 0
    assert hello["locked"] is False
    assert "receipt" not in hello
    bonded(conn, "0000")


def test_p3_a_cable_with_its_own_pin_refuses_the_default(cable: Cable) -> None:
    with_pin(cable, "4711")
    conn = Conn(cable)
    assert conn("hello")["pin_default"] is False
    with pytest.raises(WrongPin):
        conn("auth", pin="0000")
    with pytest.raises(NotAuthenticated):
        conn("read", after_seq=0, limit=10)


def test_p3_auth_without_bond_or_pin_asks_for_the_pin(conn: Conn) -> None:
    with pytest.raises(PinRequired):
        conn("auth")


def test_p2_a_malformed_pin_is_refused_and_costs_no_attempt(cable: Cable) -> None:
    with_pin(cable)
    conn = Conn(cable)
    for bad in ("123", "12345", "abcd", ""):
        with pytest.raises(InvalidPin):
            conn("auth", pin=bad)
    assert cable.state().failures == 0


# -- P4 bonds --------------------------------------------------------------------


def test_p4_a_bonded_app_reconnects_without_the_pin(cable: Cable) -> None:
    first = Conn(cable)
    bonded(first)
    bond = first("set_pin", new="4711")["bond"]
    again = Conn(cable, nonce=b"\x01" * 16)
    assert again("auth", bond=bond) == {"via": "bond"}
    assert again.session.auth_state is AuthState.AUTHENTICATED
    again("read", after_seq=0, limit=10)


def test_p4_only_hashes_of_bonds_are_stored(cable: Cable, conn: Conn) -> None:
    bond = bonded(conn)
    assert bond not in cable.state().bonds
    assert bond not in cable.flash.read("state.cbor")  # type: ignore[operator]


def test_p4_an_unknown_bond_is_refused(conn: Conn) -> None:
    with pytest.raises(UnknownBond, match="connect with the PIN"):
        conn("auth", bond=b"\x07" * 32)


def test_p4_changing_the_pin_revokes_every_other_bond(cable: Cable) -> None:
    phones = [Conn(cable, nonce=bytes([i]) * 16) for i in range(3)]
    bonds = [bonded(phone) for phone in phones]
    fresh = phones[0]("set_pin", new="4711")["bond"]
    assert fresh not in bonds
    for bond in bonds:
        with pytest.raises(UnknownBond):
            Conn(cable)("auth", bond=bond)
    assert Conn(cable)("auth", bond=fresh) == {"via": "bond"}
    # A connection authenticated with a revoked bond loses its access at once.
    with pytest.raises(NotAuthenticated):
        phones[1]("read", after_seq=0, limit=1)


# -- P5 changing the PIN ---------------------------------------------------------------


def test_p5_change_needs_current_pin(cable: Cable) -> None:
    with_pin(cable, "4711")
    conn = Conn(cable)
    bond = bonded(conn, "4711")
    with pytest.raises(PinRequired, match="current PIN"):
        conn("set_pin", new="8362")
    with pytest.raises(WrongPin):
        conn("set_pin", new="8362", current="1357")
    conn("set_pin", new="8362", current="4711")
    with pytest.raises(UnknownBond):
        Conn(cable)("auth", bond=bond)
    bonded(Conn(cable), "8362")


def test_p5_default_pin_changes_without_current(conn: Conn) -> None:
    bonded(conn)
    assert "bond" in conn("set_pin", new="4711")
    assert conn("hello")["pin_default"] is False


def test_p5_set_pin_needs_an_authenticated_connection(conn: Conn) -> None:
    with pytest.raises(NotAuthenticated):
        conn("set_pin", new="4711")


def test_p5_weak_or_invalid_new_pin_is_refused_before_the_current_is_checked(cable: Cable) -> None:
    with_pin(cable, "4711")
    conn = Conn(cable)
    bonded(conn, "4711")
    with pytest.raises(WeakPin):
        conn("set_pin", new="1234", current="9999")
    with pytest.raises(InvalidPin):
        conn("set_pin", new="12", current="9999")
    with pytest.raises(WeakPin):
        conn("set_pin", new="0000", current="4711")
    assert cable.state().failures == 0


# -- P9 brute force ------------------------------------------------------------------


def test_p9_failure_counted_before_compare(cable: Cable, monkeypatch: pytest.MonkeyPatch) -> None:
    with_pin(cable, "4711")
    seen: list[int] = []
    original = pins.pin_matches

    def spy(key: bytes, stored: bytes, pin: str) -> bool:
        # What would a cable find after a power cut at this very moment?
        seen.append(reboot_flash_failures(cable))
        return original(key, stored, pin)

    monkeypatch.setattr(pins, "pin_matches", spy)
    with pytest.raises(WrongPin):
        Conn(cable)("auth", pin="1111")
    Conn(cable)("auth", pin="4711")
    assert seen == [1, 2]
    assert cable.state().failures == 0


def reboot_flash_failures(cable: Cable) -> int:
    flash = cable.flash.reboot()  # type: ignore[attr-defined]
    return Cable(cable.identity, flash).state().failures


def test_p9_waits_grow_by_the_schedule_and_survive_a_reboot(cable: Cable) -> None:
    with_pin(cable, "4711")
    now = NOW
    seen = []
    for _ in range(4):
        with pytest.raises(WrongPin) as wrong:
            Conn(cable)("auth", now=now, pin="1111")
        seen.append((wrong.value.details["attempts_before_wait"], wrong.value.details["wait_s"]))
    assert seen == [(4, 0), (3, 0), (2, 0), (1, 0)]
    with pytest.raises(WrongPin) as fifth:
        Conn(cable)("auth", now=now, pin="1111")
    assert fifth.value.details == {"attempts_before_wait": 1, "wait_s": 60}
    assert "wait 60 seconds" in fifth.value.message
    rebooted = reboot(cable)
    assert Conn(rebooted)("hello", now=now + 10)["wait_s"] == 50
    with pytest.raises(Locked) as locked:
        Conn(rebooted)("auth", now=now + 10, pin="4711")  # even the right PIN must wait
    assert locked.value.details == {"wait_s": 50}
    assert rebooted.state().failures == 5  # a refused attempt during a wait is not a guess
    expected = [300, 900, 900, 3600]
    for wait in expected:
        now += 10_000
        with pytest.raises(WrongPin) as wrong:
            Conn(rebooted)("auth", now=now, pin="1111")
        assert wrong.value.details["wait_s"] == wait


def test_p9_tenth_failure_locks_until_allow_pin_set(cable: Cable, keys: Keys) -> None:
    with_pin(cable, "4711")
    now = NOW
    for _ in range(9):
        with pytest.raises(WrongPin):
            Conn(cable)("auth", now=now, pin="1111")
        now += 4000
    with pytest.raises(Locked) as tenth:
        Conn(cable)("auth", now=now, pin="1111")
    assert tenth.value.details == {"reason": "permanent"}
    assert "ask your fleet manager to allow a new PIN" in tenth.value.message
    now += 10**6
    conn = Conn(cable)
    assert conn("hello", now=now)["locked"] is True
    with pytest.raises(Locked, match="fleet manager"):
        conn("auth", now=now, pin="4711")
    # P8 lifts it
    conn(
        "command",
        now=now,
        cmd=keys.command(CommandKind.ALLOW_PIN_SET, issued_at=now, expires_at=now + 600),
    )
    assert conn("hello", now=now)["locked"] is False
    conn("set_pin", now=now, new="8362")
    bonded(Conn(cable), "8362")


def test_p9_a_correct_pin_resets_the_counter(cable: Cable) -> None:
    with_pin(cable, "4711")
    for _ in range(3):
        with pytest.raises(WrongPin):
            Conn(cable)("auth", pin="1111")
    bonded(Conn(cable), "4711")
    assert cable.state().failures == 0
    with pytest.raises(WrongPin) as wrong:
        Conn(cable)("auth", pin="1111")
    assert wrong.value.details["attempts_before_wait"] == 4


def test_p9_a_clock_that_jumps_back_does_not_stretch_the_wait(cable: Cable) -> None:
    with_pin(cable, "4711")
    for _ in range(5):
        with pytest.raises(WrongPin):
            Conn(cable)("auth", now=NOW, pin="1111")
    assert Conn(cable)("hello", now=NOW - 10**6)["wait_s"] == 60


def test_p9_wrong_current_pin_in_set_pin_counts_as_a_guess(cable: Cable) -> None:
    with_pin(cable, "4711")
    conn = Conn(cable)
    bonded(conn, "4711")
    with pytest.raises(WrongPin):
        conn("set_pin", new="8362", current="1111")
    assert cable.state().failures == 1


# -- P8 allow_pin_set -----------------------------------------------------------------


def test_p8_allow_pin_set_lets_this_connection_set_a_pin_without_the_current(
    cable: Cable, keys: Keys
) -> None:
    with_pin(cable, "4711")
    cable.record_session(NOW - 3600, NOW - 60, 7000, 11000)
    conn = Conn(cable)
    answer = conn("command", cmd=keys.command(CommandKind.ALLOW_PIN_SET))
    assert answer["kind"] == "allow_pin_set"
    receipt = open_receipt(answer["receipt"], keys.identity.device_key.public_key())
    assert (receipt.kind, receipt.nonce, receipt.epoch, receipt.result) == (
        CommandKind.ALLOW_PIN_SET,
        NONCE,
        0,
        "done",
    )
    assert conn.session.auth_state is AuthState.ALLOWED
    assert len(unpack_records(conn("read", after_seq=0, limit=10)["batch"])) == 1  # sessions intact
    bond = conn("set_pin", new="8362")["bond"]
    assert conn.session.auth_state.name == "AUTHENTICATED"  # the permission is used up
    # single use: a second change needs the current PIN again
    with pytest.raises(PinRequired):
        conn("set_pin", new="5927")
    assert Conn(cable)("auth", bond=bond) == {"via": "bond"}
    assert Conn(cable)("hello")["receipt"] == answer["receipt"]


def test_p8_the_permission_does_not_carry_to_another_connection(cable: Cable, keys: Keys) -> None:
    with_pin(cable, "4711")
    Conn(cable)("command", cmd=keys.command(CommandKind.ALLOW_PIN_SET))
    other = Conn(cable, nonce=b"\x09" * 16)
    with pytest.raises(NotAuthenticated):
        other("set_pin", new="8362")


# -- H2 wipe --------------------------------------------------------------------------


def test_h2_wipe_deletes_sessions_bonds_counters_and_resets_the_pin(
    cable: Cable, keys: Keys
) -> None:
    with_pin(cable, "4711")
    bond = bonded(Conn(cable), "4711")
    cable.record_session(NOW - 3600, NOW - 60, 7000, 11000)
    with pytest.raises(WrongPin):
        Conn(cable)("auth", pin="1111")
    conn = Conn(cable)
    conn("auth", bond=bond)
    answer = conn("command", cmd=keys.command(CommandKind.WIPE))
    receipt = open_receipt(answer["receipt"], keys.identity.device_key.public_key())
    assert (receipt.kind, receipt.epoch, receipt.serial) == (CommandKind.WIPE, 1, SERIAL)
    assert conn.session.auth_state is AuthState.UNAUTHENTICATED
    state = cable.state()
    assert state.epoch == 1
    assert state.head_seq == 0
    assert cable.flash.size("sessions.log") == 0  # the old records are gone from flash too
    assert state.bonds == ()
    assert state.failures == 0
    assert state.pin_default
    assert state.head_hash == genesis(SERIAL, 1)
    assert state.meter_wh == 7000  # the energy meter is hardware, not driver data
    hello = conn("hello")
    assert (hello["epoch"], hello["pin_default"], hello["receipt"]) == (1, True, answer["receipt"])
    assert hello["head"] == {"seq": 0, "hash": genesis(SERIAL, 1)}
    with pytest.raises(UnknownBond):
        conn("auth", bond=bond)
    bonded(conn, "0000")
    assert cable.identity.serial == SERIAL  # identity and keys stay


def test_h2_the_epoch_never_goes_back(cable: Cable, keys: Keys) -> None:
    epochs = []
    for i in range(3):
        conn = Conn(cable, nonce=bytes([i]) * 16)
        conn("command", cmd=keys.command(CommandKind.WIPE, nonce=bytes([i]) * 16, epoch=i))
        epochs.append(reboot(cable).state().epoch)
    assert epochs == [1, 2, 3]


def test_h3_sessions_after_a_wipe_start_a_new_chain(cable: Cable, keys: Keys) -> None:
    cable.record_session(NOW - 3600, NOW - 60, 7000, 11000)
    Conn(cable)("command", cmd=keys.command(CommandKind.WIPE))
    record = cable.record_session(NOW, NOW + 60, 500, 3000)
    assert record.seq == 1


# -- H5 commands bound to this cable, connection, epoch and moment ----------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nonce": b"\xff" * 16}, "wrong_nonce"),
        ({"serial": "CBL-99999999"}, "wrong_serial"),
        ({"epoch": 1}, "wrong_epoch"),
        ({"issued_at": NOW - 2000, "expires_at": NOW - CLOCK_SKEW_S - 1}, "expired"),
        ({"issued_at": NOW + 3600, "expires_at": NOW + 4000}, "not_yet_valid"),
    ],
)
@pytest.mark.parametrize("kind", list(CommandKind))
def test_h5_a_replayed_or_misdirected_command_is_refused(
    cable: Cable, keys: Keys, kind: CommandKind, changes: dict[str, object], reason: str
) -> None:
    with_pin(cable, "4711")
    before = cable.state()

    with pytest.raises(CommandRejected) as refused:
        Conn(cable)("command", cmd=keys.command(kind, **changes))  # type: ignore[arg-type]
    assert refused.value.details["reason"] == reason
    assert cable.state() == before


def test_p8_a_signed_copy_lives_two_minutes_of_the_cables_own_count_whatever_its_clock(
    cable: Cable, keys: Keys
) -> None:
    # The cable's clock is 9 minutes behind the cloud's: by its wall clock the copy would
    # be good for 11 minutes more. The connection's own count ends it after two.
    behind = NOW - 9 * 60
    conn = Conn(cable)
    conn("hello", now=behind, challenge=b"c" * 16)
    with pytest.raises(CommandRejected) as late:
        conn("command", now=behind + COMMAND_LIFETIME_S, cmd=keys.command(CommandKind.WIPE))
    assert late.value.details["reason"] == "expired"
    assert cable.state().epoch == 0

    in_time = Conn(cable, nonce=b"n" * 16)
    in_time("hello", now=behind, challenge=b"c" * 16)
    blob = keys.command(CommandKind.WIPE, nonce=b"n" * 16)
    in_time("command", now=behind + COMMAND_LIFETIME_S - 1, cmd=blob)
    assert cable.state().epoch == 1


@pytest.mark.parametrize("off_by", [-CLOCK_SKEW_S, CLOCK_SKEW_S + COMMAND_LIFETIME_S - 1])
def test_h5_a_cable_whose_clock_is_minutes_off_still_takes_a_fresh_command(
    cable: Cable, keys: Keys, off_by: int
) -> None:
    Conn(cable)("command", now=NOW + off_by, cmd=keys.command(CommandKind.WIPE))
    assert cable.state().epoch == 1


def test_h5_a_command_signed_by_anyone_but_the_cloud_is_refused(cable: Cable, keys: Keys) -> None:

    before = cable.state()
    forged = keys.command(CommandKind.WIPE, key=Ed25519PrivateKey.generate())
    with pytest.raises(SignatureError):
        Conn(cable)("command", cmd=forged)
    tampered = bytearray(keys.command(CommandKind.WIPE))
    tampered[-1] ^= 1
    with pytest.raises(SignatureError):
        Conn(cable)("command", cmd=bytes(tampered))
    assert cable.state() == before


def test_h5_a_command_is_applied_once_per_connection(cable: Cable, keys: Keys) -> None:

    conn = Conn(cable)
    blob = keys.command(CommandKind.ALLOW_PIN_SET)
    conn("command", cmd=blob)
    with pytest.raises(CommandRejected) as again:
        conn("command", cmd=blob)
    assert again.value.details["reason"] == "replayed"


def test_p8_a_permission_signed_again_for_a_later_connection_is_refused(
    cable: Cable, keys: Keys
) -> None:
    # An app that withholds the receipt makes the cloud's lease run out; the cloud then signs
    # the same permission for a new connection. The cable remembers it (across a reboot).
    Conn(cable, nonce=b"a" * 16)(
        "command", cmd=keys.command(CommandKind.ALLOW_PIN_SET, nonce=b"a" * 16)
    )
    later = Conn(reboot(cable), nonce=b"b" * 16)
    with pytest.raises(CommandRejected) as again:
        later("command", cmd=keys.command(CommandKind.ALLOW_PIN_SET, nonce=b"b" * 16))
    assert again.value.details["reason"] == "replayed"
    assert later("hello")["pin_default"] is True  # nothing changed
    fresh = keys.command(CommandKind.ALLOW_PIN_SET, nonce=b"b" * 16, command_id="c-2")
    later("command", cmd=fresh)  # a new permission (a new id) still works


def test_h5_a_wipe_cannot_be_replayed_on_a_later_connection(cable: Cable, keys: Keys) -> None:

    blob = keys.command(CommandKind.WIPE)
    Conn(cable)("command", cmd=blob)
    with pytest.raises(CommandRejected):
        Conn(cable)("command", cmd=blob)  # same nonce even: the epoch moved on
    assert cable.state().epoch == 1


# -- S2 read -------------------------------------------------------------------------


def test_s2_read_returns_signed_records_that_verify_as_a_chain(cable: Cable, keys: Keys) -> None:
    for i in range(7):
        cable.record_session(NOW + i * 100, NOW + i * 100 + 50, 1000 + i, 11000)
    conn = Conn(cable)
    bonded(conn)
    device = keys.identity.device_key.public_key()
    previous = (0, genesis(SERIAL, 0))
    pages = 0
    while True:
        answer = conn("read", after_seq=previous[0], limit=3)
        records = unpack_records(answer["batch"])
        hashes = verify_batch(
            serial=SERIAL,
            epoch=0,
            previous=previous,
            records=records,
            head_sig=answer["head_sig"],
            device_key=device,
        )
        previous = (records[-1].seq, hashes[-1])
        pages += 1
        if not answer["more"]:
            break
    assert pages == 3
    assert previous[0] == 7
    assert previous[1] == cable.state().head_hash
    assert records[-1].meter_end_wh == sum(1000 + i for i in range(7))


def test_s2_read_past_the_head_returns_nothing_more(cable: Cable, conn: Conn) -> None:
    cable.record_session(NOW, NOW + 50, 1000, 11000)
    bonded(conn)
    answer = conn("read", after_seq=5, limit=10)
    assert answer["batch"] == []
    assert answer["more"] is False


@pytest.mark.parametrize("limit", [0, 501])
def test_s2_read_limit_is_bounded(conn: Conn, limit: int) -> None:
    bonded(conn)
    with pytest.raises(MessageError, match="limit"):
        conn("read", after_seq=0, limit=limit)


def test_sessions_with_impossible_values_are_refused(cable: Cable) -> None:

    with pytest.raises(InvalidSession, match="end after the start"):
        cable.record_session(NOW, NOW - 1, 100, 100)
    assert cable.state().head_seq == 0


def test_a_batch_of_sessions_is_recorded_whole_or_not_at_all(cable: Cable) -> None:
    good, bad = Charge(NOW, NOW + 60, 100, 6000), Charge(NOW, NOW - 60, 100, 6000)
    with pytest.raises(InvalidSession):
        cable.record_sessions([good, bad, good])
    assert cable.state().head_seq == 0
    records = cable.record_sessions([good, good, good])
    assert [r.seq for r in records] == [1, 2, 3]
    assert [r.meter_end_wh for r in records] == [100, 200, 300]

"""PIN format (P2), weak PINs, the lockout schedule (P9) and the keyed hash."""

from __future__ import annotations

import pytest

from cablepin.cable import pin as pins
from cablepin.cable.errors import InvalidPin, WeakPin


@pytest.mark.parametrize("pin", ["4711", "0000", "9382", "0815"])
def test_p2_four_digits_are_a_pin(pin: str) -> None:
    assert pins.validate_pin(pin) == pin


@pytest.mark.parametrize(
    "pin",
    [
        "",
        "123",
        "12345",
        "12a4",
        "12 4",
        " 1234",
        "１２３４",
        "٠١٢٣",
        "12.4",
        "-123",
        "+123",
        None,
        1234,
    ],
)
def test_p2_anything_else_is_refused_with_a_clear_message(pin: object) -> None:
    with pytest.raises(InvalidPin, match="exactly four digits"):
        pins.validate_pin(pin)


@pytest.mark.parametrize("pin", ["0000", "1234", "1111", "9999", "4321", "1212", "0123", "2580"])
def test_p1_weak_pins_and_the_factory_pin_are_refused_as_new_pins(pin: str) -> None:
    with pytest.raises(WeakPin, match="too easy"):
        pins.check_new_pin(pin)


def test_every_repeated_digit_is_weak() -> None:
    assert {d * 4 for d in "0123456789"} <= pins.WEAK_PINS


@pytest.mark.parametrize("pin", ["4711", "8362", "0815"])
def test_ordinary_pins_are_accepted(pin: str) -> None:
    assert pins.check_new_pin(pin) == pin


def test_p9_lockout_schedule() -> None:
    waits = [pins.wait_after(n) for n in range(1, 11)]
    assert waits == [0, 0, 0, 0, 60, 300, 900, 900, 3600, None]
    assert pins.wait_after(11) is None
    assert pins.MAX_FAILURES == 10


def test_p9_attempts_before_wait_counts_down_to_the_fifth_failure() -> None:
    assert [pins.attempts_before_wait(n) for n in range(0, 6)] == [5, 4, 3, 2, 1, 1]
    assert pins.attempts_before_wait(10) == 0


def test_p7_the_hash_is_keyed_so_the_stored_value_alone_does_not_give_the_pin() -> None:
    a = pins.hash_pin(b"a" * 32, "4711")
    b = pins.hash_pin(b"b" * 32, "4711")
    assert a != b
    assert len(a) == 32
    assert pins.pin_matches(b"a" * 32, a, "4711")
    assert not pins.pin_matches(b"a" * 32, a, "4712")

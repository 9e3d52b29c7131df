"""What a PIN is, and which PINs a driver may choose (P1, P2): one list for cable and app.

Rules kept here (and only here):

* P2: a PIN is exactly four ASCII digits ``0-9``.
* P1: the factory PIN is ``0000``; it is refused as a *new* PIN, as is every
  PIN in ``WEAK_PINS`` (every repeated digit, straight runs, and the most
  common picks in leaked PIN lists: keypad column, years, pairs).

The cable enforces this; the app checks it first, so that a typo or a weak
choice costs no attempt and uses up no fleet manager's permission (U2, P8).
"""

from __future__ import annotations

from typing import Final, TypeGuard

__all__ = ["DEFAULT_PIN", "PIN_LENGTH", "WEAK_PINS", "is_pin", "is_weak"]

DEFAULT_PIN: Final = "0000"
PIN_LENGTH: Final = 4
_DIGITS: Final = frozenset("0123456789")


def _runs() -> set[str]:
    ascending = "0123456789"
    descending = ascending[::-1]
    return {s[i : i + PIN_LENGTH] for s in (ascending, descending) for i in range(7)}


WEAK_PINS: Final[frozenset[str]] = frozenset(
    {d * PIN_LENGTH for d in "0123456789"}
    | _runs()
    | {"1212", "2580", "0852", "1122", "1313", "6969", "1004", "2000", "2001", "1010"}
    | {"4444", "0101", "1230", "0007", "7777", "5683", "1998", "1999", "2020", "2121"}
)


def is_pin(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == PIN_LENGTH and set(value) <= _DIGITS


def is_weak(pin: str) -> bool:
    return pin in WEAK_PINS

"""PIN rules of the cable: format, weak PINs, lockout schedule, keyed hash.

Rules kept here (and only here):

* P1/P2: what a PIN is and which ones a driver may choose come from
  ``protocol.pin_policy`` (shared with the app, which checks first); this
  module turns a refusal into the cable's wire error.
* P9: the lockout schedule is ``LOCKOUT_SCHEDULE``: failures 1-4 cost nothing,
  the 5th a minute, the 6th five, the 7th and 8th fifteen, the 9th an hour;
  the 10th locks the cable until an ``allow_pin_set`` (P8) or a ``wipe`` (H2).
  (NIST SP 800-63B-4 §3.2.10 and FIPS 201-3 allow at most 10 tries; with 10
  tries a guesser wins with 0.1 %.)
* The cable keeps only ``HMAC-SHA256(pin_key, pin)`` with a per-cable secret
  key, and compares in constant time; the answer is right or wrong for the
  whole PIN, never for single digits.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

from cablepin.cable.errors import InvalidPin, WeakPin
from cablepin.protocol.pin_policy import DEFAULT_PIN, WEAK_PINS, is_pin, is_weak

__all__ = [
    "DEFAULT_PIN",
    "LOCKOUT_SCHEDULE",
    "MAX_FAILURES",
    "PIN_KEY_SIZE",
    "WEAK_PINS",
    "attempts_before_wait",
    "check_new_pin",
    "hash_pin",
    "pin_matches",
    "validate_pin",
    "wait_after",
]

PIN_KEY_SIZE: Final = 32
_HASH_DOMAIN: Final = b"cablepin/v1/pin\x00"

#: failures so far -> seconds to wait before the next attempt; ``None`` = locked
#: until ``allow_pin_set`` or ``wipe``.
LOCKOUT_SCHEDULE: Final[Mapping[int, int | None]] = {
    0: 0,
    1: 0,
    2: 0,
    3: 0,
    4: 0,
    5: 60,
    6: 300,
    7: 900,
    8: 900,
    9: 3600,
    10: None,
}
MAX_FAILURES: Final = max(LOCKOUT_SCHEDULE)


def validate_pin(pin: object) -> str:
    """P2: return ``pin`` if it is exactly four digits, else raise ``InvalidPin``."""
    if not is_pin(pin):
        raise InvalidPin("a PIN is exactly four digits 0-9 (for example 4711); enter it again")
    return pin


def check_new_pin(pin: object) -> str:
    """A PIN the driver may choose: valid (P2) and not weak."""
    valid = validate_pin(pin)
    if is_weak(valid):
        raise WeakPin(
            f"{valid} is too easy to guess; choose four digits that are not a run, a repeat "
            "or a common pick"
        )
    return valid


def wait_after(failures: int) -> int | None:
    """Seconds to wait after ``failures`` consecutive wrong PINs; ``None`` = locked."""
    if failures >= MAX_FAILURES:
        return None
    return LOCKOUT_SCHEDULE[max(failures, 0)]


def attempts_before_wait(failures: int) -> int:
    """How many more attempts may follow at once (the last of them earns a wait)."""
    for next_failure in range(failures + 1, MAX_FAILURES + 1):
        if wait_after(next_failure) != 0:
            return next_failure - failures
    return 0


def hash_pin(pin_key: bytes, pin: str) -> bytes:
    return hmac.new(pin_key, _HASH_DOMAIN + pin.encode("ascii"), hashlib.sha256).digest()


def pin_matches(pin_key: bytes, stored: bytes, pin: str) -> bool:
    return hmac.compare_digest(hash_pin(pin_key, pin), stored)

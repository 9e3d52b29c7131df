"""Refusals by the cable's firmware. Each one says what to do next (U2).

::

    CableError               code = "cable_error"
    ├── InvalidPin           "invalid_pin"        not exactly four digits 0-9 (P2)
    ├── WeakPin              "weak_pin"           a new PIN that is too easy to guess
    ├── PinRequired          "pin_required"       the operation needs a PIN that was not given
    ├── WrongPin             "wrong_pin"          attempts_before_wait, wait_s (P9)
    ├── Locked               "locked"             wait_s, or reason="permanent" (P9)
    ├── UnknownBond          "unknown_bond"       the bond was revoked or never existed (P4)
    ├── NotAuthenticated     "not_authenticated"  authenticate first (bond or PIN)
    ├── InvalidSession       "invalid_session"    a charging session with impossible values
    ├── InvalidAddress       "invalid_address"    a link address that is not HOST:PORT
    ├── NotProvisioned       "not_provisioned"    the state directory holds no cable
    ├── AlreadyExists        "already_exists"     refusing to overwrite keys or a cable
    └── StoreError           "store_error"        the cable's flash is unreadable

Only the first seven travel on the wire; their details are limited to what the
protocol's error responses carry (``wait_s``, ``attempts_before_wait``, ``reason``).
"""

from __future__ import annotations

from cablepin.errors import CablepinError

__all__ = [
    "AlreadyExists",
    "CableError",
    "InvalidAddress",
    "InvalidPin",
    "InvalidSession",
    "Locked",
    "NotAuthenticated",
    "NotProvisioned",
    "PinRequired",
    "StoreError",
    "UnknownBond",
    "WeakPin",
    "WrongPin",
]


class CableError(CablepinError):
    code = "cable_error"


class InvalidPin(CableError):
    code = "invalid_pin"


class WeakPin(CableError):
    code = "weak_pin"


class PinRequired(CableError):
    code = "pin_required"


class WrongPin(CableError):
    code = "wrong_pin"

    def __init__(self, *, attempts_before_wait: int, wait_s: int) -> None:
        if wait_s:
            advice = f"wait {wait_s} seconds, then try again"
        else:
            advice = (
                f"check the PIN and try again ({attempts_before_wait} more attempt(s) "
                "before the cable makes you wait)"
            )
        super().__init__(
            f"wrong PIN; {advice}; if you forgot the PIN, ask your fleet manager to allow "
            "a new PIN",
            attempts_before_wait=attempts_before_wait,
            wait_s=wait_s,
        )


class Locked(CableError):
    code = "locked"

    @classmethod
    def waiting(cls, wait_s: int) -> Locked:
        return cls(
            f"too many wrong PINs; wait {wait_s} seconds before the next try, "
            "or ask your fleet manager to allow a new PIN",
            wait_s=wait_s,
        )

    @classmethod
    def permanently(cls) -> Locked:
        return cls(
            "too many wrong PINs; the cable accepts no more PIN attempts: "
            "ask your fleet manager to allow a new PIN",
            reason="permanent",
        )


class UnknownBond(CableError):
    code = "unknown_bond"


class NotAuthenticated(CableError):
    code = "not_authenticated"


class InvalidSession(CableError):
    code = "invalid_session"


class InvalidAddress(CableError):
    code = "invalid_address"


class NotProvisioned(CableError):
    code = "not_provisioned"


class AlreadyExists(CableError):
    code = "already_exists"


class StoreError(CableError):
    code = "store_error"

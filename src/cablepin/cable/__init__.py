"""The cable's firmware (simulated): PIN, bonds, session log, signed commands.

Sans-I/O rules (``firmware``, ``session``, ``pin``) over a crash-safe flash
(``store``); ``provision`` writes the files, ``simulator`` serves a cable over
TCP. Imports ``protocol`` only, never ``app`` or ``cloud``.
"""

from cablepin.cable.errors import (
    AlreadyExists,
    CableError,
    InvalidAddress,
    InvalidPin,
    InvalidSession,
    Locked,
    NotAuthenticated,
    NotProvisioned,
    PinRequired,
    StoreError,
    UnknownBond,
    WeakPin,
    WrongPin,
)
from cablepin.cable.firmware import Cable, Charge, Grant, Identity, factory_state
from cablepin.cable.session import AuthState, CableSession
from cablepin.cable.store import DirectoryFlash, PowerLost, SimulatedFlash

__all__ = [
    "AlreadyExists",
    "AuthState",
    "Cable",
    "CableError",
    "CableSession",
    "Charge",
    "DirectoryFlash",
    "Grant",
    "Identity",
    "InvalidAddress",
    "InvalidPin",
    "InvalidSession",
    "Locked",
    "NotAuthenticated",
    "NotProvisioned",
    "PinRequired",
    "PowerLost",
    "SimulatedFlash",
    "StoreError",
    "UnknownBond",
    "WeakPin",
    "WrongPin",
    "factory_state",
]

"""Fresh-hello challenges: how the cloud knows a signed hello is from now (H5).

Rules kept here:

* A challenge is ``HMAC-SHA256(key, serial || account || window)`` cut to 16
  bytes, where ``account`` is the id of the signed-in account that fetched it
  and ``window`` is the 5-minute slot of the cloud's clock. Nothing is stored:
  any API process with the deployment keys computes the same challenge, so N
  processes behind a load balancer agree.
* A challenge is good for the account that fetched it only: a hello signed for
  one driver's challenge does not pass at another driver's connect, so two
  drivers cannot hand each other a fresh hello (ARCHITECTURE.md, decision 11).
* A challenge is fresh in its own window and the one after (5 to 10 minutes:
  enough for a slow Bluetooth sync to start, too little to keep an old hello).
* The key is derived from the cloud's command key (``keys.py``), never stored.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from cablepin.protocol.messages import CHALLENGE_SIZE

__all__ = ["WINDOW_S", "is_fresh", "issue"]

WINDOW_S: Final = 300
_DOMAIN: Final = b"cablepin/v1/challenge\x00"


def _for_window(key: bytes, serial: str, account_id: int, window: int) -> bytes:
    # serial is ASCII without NUL (a cable serial), so the NUL keeps the fields apart.
    message = (
        _DOMAIN
        + serial.encode()
        + b"\x00"
        + account_id.to_bytes(8, "big", signed=True)
        + window.to_bytes(8, "big")
    )
    return hmac.new(key, message, hashlib.sha256).digest()[:CHALLENGE_SIZE]


def issue(key: bytes, serial: str, account_id: int, now_s: int) -> bytes:
    """The challenge for ``account_id``'s next hello to cable ``serial``."""
    return _for_window(key, serial, account_id, now_s // WINDOW_S)


def is_fresh(key: bytes, serial: str, account_id: int, challenge: bytes, now_s: int) -> bool:
    """True if ``account_id`` fetched ``challenge`` for ``serial`` within the last two windows."""
    window = now_s // WINDOW_S
    return any(
        hmac.compare_digest(challenge, _for_window(key, serial, account_id, w))
        for w in (window, window - 1)
    )

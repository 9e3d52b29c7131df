"""Fresh-hello challenges: how the cloud knows a signed hello is from now (H5).

Rules kept here:

* A challenge is ``HMAC-SHA256(key, serial || window)`` cut to 16 bytes, where
  ``window`` is the 5-minute slot of the cloud's clock. Nothing is stored: any
  API process with the deployment keys computes the same challenge, so N
  processes behind a load balancer agree.
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


def _for_window(key: bytes, serial: str, window: int) -> bytes:
    message = _DOMAIN + serial.encode() + window.to_bytes(8, "big")
    return hmac.new(key, message, hashlib.sha256).digest()[:CHALLENGE_SIZE]


def issue(key: bytes, serial: str, now_s: int) -> bytes:
    return _for_window(key, serial, now_s // WINDOW_S)


def is_fresh(key: bytes, serial: str, challenge: bytes, now_s: int) -> bool:
    window = now_s // WINDOW_S
    return any(
        hmac.compare_digest(challenge, _for_window(key, serial, w)) for w in (window, window - 1)
    )

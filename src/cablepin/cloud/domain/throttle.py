"""How long a login must wait after failed attempts (per e-mail address).

Rules kept here: the first ``free`` failures cost nothing; then each failure
doubles the wait from ``BASE_S`` up to ``MAX_S``; a success clears the count.
A *burst* (the failure that starts the waits) is audited once.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BASE_S", "MAX_S", "is_burst", "wait_after"]

BASE_S: Final = 30
MAX_S: Final = 15 * 60


def wait_after(failures: int, free: int) -> int:
    """Seconds to wait after ``failures`` consecutive failures."""
    over = failures - free
    if over < 0:
        return 0
    return min(BASE_S * (1 << min(over, 16)), MAX_S)


def is_burst(failures: int, free: int) -> bool:
    return failures == free

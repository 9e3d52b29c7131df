"""PIN-reset permissions (P8) and one-time claims.

Rules kept here:

* A permission lets the cable's *assigned* driver set a new PIN without the
  current one. It is single-use, expires (default 7 days, 1..30 allowed),
  can be revoked, and is bound to the cable, the assignee and the cable's
  epoch at the time it was granted: a handover or reset voids it.
* A fleet manager grants it as the primary owner; support may too, but must
  give a reason (every support action states one).

Its life (leased, used, revoked, expired) and when it counts are the command
lifecycle's, for every kind at once: ``domain/commands.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.errors import InvalidRequest, ReasonRequired

__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "MIN_DAYS",
    "expiry",
    "require_reason",
]

DEFAULT_DAYS: Final = 7
MIN_DAYS: Final = 1
MAX_DAYS: Final = 30


def expiry(now: dt.datetime, days: int | None) -> dt.datetime:
    days = DEFAULT_DAYS if days is None else days
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidRequest(
            f"expires_in_days must be between {MIN_DAYS} and {MAX_DAYS}; "
            f"leave it out for the default of {DEFAULT_DAYS} days"
        )
    return now + dt.timedelta(days=days)


def require_reason(actor: Actor, reason: str | None) -> str | None:
    """Support must always say why; others may."""
    cleaned = (reason or "").strip() or None
    if actor.is_support and cleaned is None:
        raise ReasonRequired(
            "support actions need a reason; send it in the 'reason' field (it is audited)"
        )
    return cleaned

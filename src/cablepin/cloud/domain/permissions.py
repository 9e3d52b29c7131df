"""PIN-reset permissions (P8) and one-time claims.

Rules kept here:

* A permission lets the cable's *assigned* driver set a new PIN without the
  current one. It is single-use, expires (default 7 days, 1..30 allowed),
  can be revoked, and is bound to the cable, the assignee and the cable's
  epoch at the time it was granted: a handover or reset voids it.
* A fleet manager grants it as the primary owner; support may too, but must
  give a reason (every support action states one).
* A one-time thing handed to an app is *leased*, not consumed: a claim
  succeeds on a pending item or on an issued one whose lease ran out, so a
  signed copy the app never used falls back to pending. The database applies
  the same rule as a conditional UPDATE (``services/commands.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.errors import InvalidRequest, ReasonRequired

__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "MIN_DAYS",
    "Permission",
    "claimable",
    "expiry",
    "not_expired",
    "require_reason",
    "usable",
]

DEFAULT_DAYS: Final = 7
MIN_DAYS: Final = 1
MAX_DAYS: Final = 30
OPEN_STATES: Final = frozenset({"pending", "issued"})


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


def not_expired(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    """A permission counts (pending, shown, handed out) only before it expires."""
    return expires_at is None or now < expires_at


@dataclass(frozen=True)
class Permission:
    state: str
    epoch: int
    driver_id: int | None
    expires_at: dt.datetime | None


def usable(
    permission: Permission, *, cable_epoch: int, assignee_id: int | None, now: dt.datetime
) -> bool:
    """May this permission still be handed to ``assignee_id``'s app now?"""
    return (
        permission.state in OPEN_STATES
        and permission.epoch == cable_epoch
        and permission.driver_id is not None
        and permission.driver_id == assignee_id
        and not_expired(permission.expires_at, now)
    )


def claimable(state: str, lease_until: dt.datetime | None, now: dt.datetime) -> bool:
    return state == "pending" or (state == "issued" and (lease_until is None or lease_until < now))

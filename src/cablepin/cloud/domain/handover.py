"""The state machine of a wipe command (handover H1/H4, support reset H2).

Rules kept here:

* A handover or reset is a ``wipe`` command. ``pending`` -> ``issued`` when an
  app takes a signed copy (leased; back to ``pending`` when the lease runs
  out) -> ``done`` when a cable-signed receipt proves the wipe.
  A *handover* may be cancelled while not done; a reset may not.
* A wipe receipt is the cable's word: it finishes the command even if it was
  cancelled meanwhile (the cable *is* wiped, so the cloud must follow).
* Transitions are data (``TRANSITIONS``); anything else is refused.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from cablepin.cloud.errors import Conflict

__all__ = ["TRANSITIONS", "Event", "State", "next_state"]


class State(StrEnum):
    PENDING = "pending"
    ISSUED = "issued"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Event(StrEnum):
    ISSUE = "issue"
    LEASE_EXPIRED = "lease_expired"
    RECEIPT = "receipt"
    CANCEL = "cancel"
    EXPIRE = "expire"


TRANSITIONS: Final[dict[tuple[State, Event], State]] = {
    (State.PENDING, Event.ISSUE): State.ISSUED,
    (State.ISSUED, Event.LEASE_EXPIRED): State.PENDING,
    (State.ISSUED, Event.ISSUE): State.ISSUED,  # a re-claim after the lease ran out
    (State.PENDING, Event.RECEIPT): State.DONE,
    (State.ISSUED, Event.RECEIPT): State.DONE,
    (State.CANCELLED, Event.RECEIPT): State.DONE,
    (State.PENDING, Event.CANCEL): State.CANCELLED,
    (State.ISSUED, Event.CANCEL): State.CANCELLED,
    (State.PENDING, Event.EXPIRE): State.EXPIRED,
    (State.ISSUED, Event.EXPIRE): State.EXPIRED,
}

OPEN: Final = frozenset({State.PENDING, State.ISSUED})


def next_state(state: State, event: Event) -> State:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise Conflict(
            f"a {state} command cannot take '{event}'; reload the cable to see its current state"
        ) from None

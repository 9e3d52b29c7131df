"""The life of a command the cloud sends a cable, for every kind, as one table.

Rules kept here (H1-H5, P8):

* A command is a ``wipe`` (purpose ``handover``, ``reset`` or ``clean_start``)
  or an ``allow_pin_set`` (purpose ``pin_reset``). Its state is a ``State``;
  what happens to it is an ``Event``; ``TRANSITIONS[kind]`` says which state
  each event leads to from which states. Nothing else moves a command: the
  database applies an event as one ``UPDATE ... WHERE state IN
  (sources(kind, event))`` (``services/commands.py``), so two processes can
  never both win one.
* ``pending`` -> ``issued`` when an app takes a signed copy (``claim``). The
  copy is *leased* for its lifetime, not burned: a one-time command
  (``exclusive_lease``) can be claimed again only after the lease ran out, or
  when the app hands it back unused (``release``). A wipe may be handed to
  several connects at once: each copy is bound to one nonce and epoch, and
  only the cable's receipt counts.
* ``receipt``: the cable's signed word that it carried the command out ends
  it from any open state, or after a cancel or an expiry (the cable *is*
  wiped or its PIN changed, so the cloud follows): ``done``, except for a
  PIN permission that was revoked (or voided) while a signed copy was with
  an app: the cable took that copy, and the command says so,
  ``revoked_used``, not ``done``. A copy lives ``COMMAND_LIFETIME_S``
  (``protocol/commands.py``); ``copy_out_until`` says until when one handed
  out may still be used.
* ``cancel``: revoked, cancelled, voided by a handover, or superseded.
  ``expire``: a PIN permission whose time ran out (wipes do not expire).
* A PIN permission counts (shown as pending, handed out) only while it is
  ``live``: open and not expired, even before a service marked it expired.

The SQL that mirrors ``live``, ``expired`` and ``claimable`` sits next to
them in ``services/commands.py``; a test proves each pair agrees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, assert_never

from cablepin.cloud.errors import Conflict
from cablepin.protocol.commands import CommandKind

__all__ = [
    "OPEN",
    "TRANSITIONS",
    "Event",
    "Permission",
    "Purpose",
    "State",
    "claimable",
    "copy_out_until",
    "exclusive_lease",
    "expired",
    "live",
    "moves",
    "next_state",
    "sources",
    "usable",
]


class State(StrEnum):
    PENDING = "pending"
    ISSUED = "issued"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REVOKED_USED = "revoked_used"  # a PIN permission revoked, then used by a copy already out


class Event(StrEnum):
    CLAIM = "claim"  # an app takes a signed copy for its connection (leased)
    RELEASE = "release"  # the app hands back a copy it did not relay
    RECEIPT = "receipt"  # the cable's signed receipt arrived
    CANCEL = "cancel"  # revoked, cancelled, voided or superseded
    EXPIRE = "expire"  # a PIN permission's time ran out


class Purpose(StrEnum):
    """Why a command exists; the audit actions are named after it (``handover.done``)."""

    HANDOVER = "handover"
    RESET = "reset"
    CLEAN_START = "clean_start"
    PIN_RESET = "pin_reset"


OPEN: Final = frozenset({State.PENDING, State.ISSUED})

Table = Mapping[tuple[State, Event], State]

_EVERY_KIND: Final[Table] = {
    (State.PENDING, Event.CLAIM): State.ISSUED,
    (State.ISSUED, Event.CLAIM): State.ISSUED,  # a lease that ran out, or a wipe handed out again
    (State.PENDING, Event.CANCEL): State.CANCELLED,
    (State.ISSUED, Event.CANCEL): State.CANCELLED,
    (State.PENDING, Event.RECEIPT): State.DONE,
    (State.ISSUED, Event.RECEIPT): State.DONE,
    (State.CANCELLED, Event.RECEIPT): State.DONE,  # the cable's word wins
}


def _table(kind: CommandKind) -> Table:
    match kind:
        case CommandKind.WIPE:
            return _EVERY_KIND
        case CommandKind.ALLOW_PIN_SET:
            return {
                **_EVERY_KIND,
                (State.ISSUED, Event.RELEASE): State.PENDING,
                (State.PENDING, Event.EXPIRE): State.EXPIRED,
                (State.ISSUED, Event.EXPIRE): State.EXPIRED,
                (State.EXPIRED, Event.RECEIPT): State.DONE,  # a copy handed out in time
                (State.CANCELLED, Event.RECEIPT): State.REVOKED_USED,
            }
        case _:
            assert_never(kind)


TRANSITIONS: Final[Mapping[CommandKind, Table]] = {kind: _table(kind) for kind in CommandKind}


def exclusive_lease(kind: CommandKind) -> bool:
    """Is a signed copy held by one app at a time (until its lease runs out)?"""
    match kind:
        case CommandKind.ALLOW_PIN_SET:
            return True  # single use: two apps must not both get it
        case CommandKind.WIPE:
            return False  # harmless twice: each copy is bound to one nonce and epoch
        case _:
            assert_never(kind)


def sources(kind: CommandKind, event: Event) -> frozenset[State]:
    """The states from which ``event`` moves a command of ``kind`` (empty: never)."""
    return frozenset(state for (state, on), _ in TRANSITIONS[kind].items() if on is event)


def moves(kind: CommandKind, event: Event) -> Mapping[State, State]:
    """Where ``event`` leads a command of ``kind``, by the state it is in (source -> target)."""
    found = {state: to for (state, on), to in TRANSITIONS[kind].items() if on is event}
    if not found:
        raise Conflict(f"a {kind} cannot take '{event}'; reload the cable to see its state")
    return found


def next_state(kind: CommandKind, state: State, event: Event) -> State:
    try:
        return TRANSITIONS[kind][(state, event)]
    except KeyError:
        raise Conflict(
            f"a {state} {kind} cannot take '{event}'; reload the cable to see its current state"
        ) from None


# ------------------------------------------------------------------ predicates
# Each has a SQL twin in services/commands.py (same name + _clause).


def expired(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Has a permission's time run out? (A command without an expiry never does.)"""
    return expires_at is not None and expires_at <= now


def live(state: State, expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Does a command still count (shown as pending, may be handed out)?"""
    return state in OPEN and not expired(expires_at, now)


def claimable(
    kind: CommandKind, state: State, lease_until: dt.datetime | None, now: dt.datetime
) -> bool:
    """May a connect take a signed copy now (``Event.CLAIM``)?"""
    if state not in sources(kind, Event.CLAIM):
        return False
    if state is State.ISSUED and exclusive_lease(kind):
        return lease_until is None or lease_until < now
    return True


def copy_out_until(
    state: State, lease_until: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """Until when may a signed copy already handed to an app still be used (None: no copy)?

    A copy lives its lease (its signed lifetime from the claim), whatever happened to the
    command since: a revoke, a release or an expiry in the cloud does not reach the app.
    Only a used one is gone (the cable applies a command once).
    """
    if state in (State.DONE, State.REVOKED_USED) or lease_until is None or lease_until <= now:
        return None
    return lease_until


@dataclass(frozen=True)
class Permission:
    """A PIN permission (P8) as far as handing it out is concerned."""

    state: State
    epoch: int
    driver_id: int | None
    expires_at: dt.datetime | None


def usable(
    permission: Permission, *, cable_epoch: int, assignee_id: int | None, now: dt.datetime
) -> bool:
    """May this permission be handed to ``assignee_id``'s app now?

    It is bound to the cable's epoch and its assignee when granted: a handover
    or reset voids it.
    """
    return (
        live(permission.state, permission.expires_at, now)
        and permission.epoch == cable_epoch
        and permission.driver_id is not None
        and permission.driver_id == assignee_id
    )

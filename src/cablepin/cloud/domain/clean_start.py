"""The next driver starts clean (H3): the "clean start" check of an assignment.

Rules kept here:

* Every assignment that *starts* a driver on a cable carries an open clean
  check: the assignment of a pool cable (``PUT .../assignment``) and the one a
  handover's wipe receipt opens. Until the check is closed the assignee cannot
  upload (``clean_start_pending``): sessions on the cable may have been
  recorded by someone else after the last wipe (the previous driver charged
  once more before the new one connected).
* The check is settled at the *assignee's* connect, from the cable's signed
  hello (``protocol/hello.py``; an app can withhold a hello but not invent
  one): a cable in the assignment's epoch with an empty log (head seq 0) is
  clean as it is (a fresh factory cable, or the new driver's own app applied
  the handover's wipe and said hello again). Anything else needs a wipe, bound
  to the same assignee (purpose ``clean_start``), handed out in the same
  connect; its receipt opens a new epoch that belongs to the assignee, clean.
* An open wipe settles the question by itself (its receipt opens a new
  epoch), so no check is made while one is open.
* The first driver a cable ever has, before any wipe (epoch 0), needs no
  check either: nobody else's sessions can be on it, so what the driver
  charged before first opening the app is theirs and must not be lost.
* An assignment that *keeps* the driver needs no check: a support reset (the
  driver stays assigned), a cancelled handover (the previous driver gets the
  cable back), and a clean-start wipe (handed only to its assignee, so the
  cable was wiped in the assignee's own connection).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from cablepin.cloud.domain.commands import Purpose

__all__ = [
    "CleanCheck",
    "Step",
    "assignment_starts_clean",
    "clean_start_step",
    "may_read_at_once",
    "may_receive_wipe",
    "starts_clean",
]

# Wipes after which the driver of the new epoch is the one who held the cable before.
KEEPS_DRIVER: Final = frozenset({Purpose.RESET, Purpose.CLEAN_START})


class Step(StrEnum):
    NOTHING = "nothing"  # no open check, or not the assignee's connect
    CLEAN = "clean"  # close the check: the cable is empty in the assignment's epoch
    WIPE = "wipe"  # open (or reuse) a clean-start wipe for the assignee


@dataclass(frozen=True)
class CleanCheck:
    """The active assignment as far as the check is concerned."""

    assignee_id: int
    epoch: int
    clean: bool


def clean_start_step(
    check: CleanCheck | None,
    *,
    actor_id: int,
    wipe_open: bool,
    hello_epoch: int,
    hello_seq: int,
) -> Step:
    """What the assignee's connect does about an open clean check (hello already verified)."""
    if check is None or check.clean or check.assignee_id != actor_id or wipe_open:
        return Step.NOTHING
    if hello_epoch == check.epoch and hello_seq == 0:
        return Step.CLEAN
    return Step.WIPE


def assignment_starts_clean(*, cable_epoch: int, had_driver: bool) -> bool:
    """Is the assignment of a pool cable clean from the start (its first driver ever)?"""
    return cable_epoch == 0 and not had_driver


def starts_clean(purpose: Purpose, *, cancelled: bool) -> bool:
    """Is the assignment a wipe receipt opens clean from the start?

    A handover's is not (whoever's app applied the wipe may have charged since).
    A reset or clean-start wipe keeps its driver. A *cancelled* wipe's receipt
    may arrive long after the cancel, when someone else holds the cable: its
    epoch is checked like a handover's (if the driver's own app applied it,
    the hello that follows shows an empty cable and closes the check at once).
    """
    return not cancelled and purpose in KEEPS_DRIVER


def may_receive_wipe(
    *,
    purpose: Purpose,
    wipe_driver_id: int | None,
    actor_id: int,
    hello_epoch: int,
    cable_epoch: int,
) -> bool:
    """May this connect get a signed copy of the open wipe?

    A handover or reset goes to whoever connects (H2). A clean-start wipe goes
    only to its assignee, so the new epoch is the assignee's from its first
    moment. No copy for a cable whose (signed) epoch is not the cloud's: it has
    already wiped, and its receipt (hello's, processed first) settles it.
    """
    if hello_epoch != cable_epoch:
        return False
    return purpose is not Purpose.CLEAN_START or wipe_driver_id == actor_id


def may_read_at_once(
    check: CleanCheck | None,
    *,
    actor_id: int,
    cable_epoch: int,
    wipe_open: bool,
    permission_open: bool,
) -> bool:
    """May the app read the cable before the cloud has seen its fresh hello (B1, H2)?

    Asked before the app opens the link (``GET .../challenge``). Only when the
    connect that follows could hand out nothing and settle nothing: no open
    command of either kind, the actor assigned in the cable's epoch, and its
    clean check closed. Otherwise the app goes step by step: hello, connect,
    relay every command, and only then read.
    """
    return (
        not wipe_open
        and not permission_open
        and check is not None
        and check.assignee_id == actor_id
        and check.epoch == cable_epoch
        and check.clean
    )

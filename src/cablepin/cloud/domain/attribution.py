"""Who may upload which sessions (S1, S3, H3; DESIGN "Attribution").

Rules kept here, in the order they are checked:

1. While a wipe is pending, every upload for the cable is refused: an app
   that withholds the wipe gains nothing.
2. Only the driver assigned for the cable's *current* epoch may upload; a
   handover ends the old assignment at once.
3. Only batches of the current epoch are accepted: a session recorded before
   a reset can never be attributed to the driver after it.
4. While the assignment's clean-start check is open (``domain/clean_start.py``)
   nothing is accepted: the cable may hold sessions of whoever had it after
   the last wipe; the assignee's next connect settles it.
5. A batch must start at or before ``head_seq + 1``: a later start is a gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from cablepin.cloud.errors import (
    ChainBroken,
    CleanStartPending,
    CloudError,
    NotAssigned,
    StaleEpoch,
    WipePending,
)

__all__ = ["CableFacts", "check_upload", "previous_link_source"]


@dataclass(frozen=True)
class CableFacts:
    serial: str
    epoch: int
    head_seq: int
    wipe_pending: bool
    assignee_id: int | None
    clean_pending: bool = False


def check_upload(cable: CableFacts, *, actor_id: int, batch_epoch: int, first_seq: int) -> None:
    """Raise the refusal for this upload, if any."""
    error: CloudError | None = None
    if cable.wipe_pending:
        error = WipePending(
            f"{cable.serial} has a pending reset; connect the cable in the app so the reset "
            "is applied first (sessions from before the reset cannot be synced)"
        )
    elif cable.assignee_id != actor_id:
        error = NotAssigned(
            f"{cable.serial} is not assigned to you, so its sessions cannot go to your account; "
            "ask your fleet manager to assign it to you"
        )
    elif batch_epoch != cable.epoch:
        error = StaleEpoch(
            f"these sessions are from epoch {batch_epoch} but {cable.serial} is in epoch "
            f"{cable.epoch}; reconnect the cable and sync again",
            epoch=cable.epoch,
        )
    elif cable.clean_pending:
        error = CleanStartPending(
            f"{cable.serial} was just assigned to you and may still hold someone else's "
            "sessions; connect the cable in the app again so the cloud can check it (or "
            "reset it) first, then sync"
        )
    elif first_seq > cable.head_seq + 1:
        error = ChainBroken(
            f"the batch starts at session {first_seq} but the cloud has only up to "
            f"{cable.head_seq}; sync again from session {cable.head_seq + 1}",
            synced_seq=cable.head_seq,
        )
    if error is not None:
        raise error


def previous_link_source(first_seq: int, head_seq: int) -> str:
    """Where the hash before ``first_seq`` comes from: genesis, the head, or a stored record."""
    if first_seq == 1:
        return "genesis"
    if first_seq == head_seq + 1:
        return "head"
    return "stored"

"""The outbox's rules (M7): what a message is, when it is tried again, when we give up.

Rules kept here:

* A message is ``pending`` (due at ``next_attempt_at``), ``sending`` (claimed by
  one sender until its lease ends), ``sent`` or ``failed`` (given up; support
  can put it back to ``pending``). ``TRANSITIONS`` is the whole lifecycle.
* A temporary refusal (an SMTP 4xx reply, a refused or broken connection) is
  tried again after a growing wait, ``RETRY_DELAYS``; after the last one the
  message is given up. A permanent refusal (5xx) is given up at once.
* A claimed message whose lease ended (its sender died) may be claimed again:
  the server may have accepted it already, so delivery is at least once; the
  ``Message-ID`` stays the same, so a reader's mail program can tell.
* A server's reply is kept for support with every e-mail address in it
  masked (``…@domain``, as the support page shows recipients): servers often
  echo the address they refused (``550 <anna@demo.test>: user unknown``).
* An invitation that was not delivered (pending or failed) loses its text,
  which carries the plaintext link, once the invitation has expired
  (``Event.EXPIRE``): it is failed for good, and support cannot send it again;
  the fleet manager sends a new invitation.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Final

__all__ = [
    "RETRY_DELAYS",
    "TRANSITIONS",
    "Event",
    "MailKind",
    "MailState",
    "is_permanent",
    "mask_address",
    "mask_addresses",
    "next_attempt",
    "sources",
]


class MailKind(StrEnum):
    INVITATION = "invitation"
    PIN_RESET_ALLOWED = "pin_reset_allowed"
    HANDOVER_LOSING = "handover_losing"
    HANDOVER_GETTING = "handover_getting"
    RECEIPT_SUBMITTED = "receipt_submitted"
    RECEIPT_APPROVED = "receipt_approved"
    RECEIPT_REJECTED = "receipt_rejected"


class MailState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Event(StrEnum):
    CLAIM = "claim"  # a sender takes a due message (or one whose lease ended)
    ACCEPTED = "accepted"  # the server took it
    DEFER = "defer"  # temporary refusal, tries left
    GIVE_UP = "give_up"  # permanent refusal, or no tries left
    RETRY = "retry"  # support puts a failed message back
    EXPIRE = "expire"  # an undelivered invitation outlived its link: its text is deleted


TRANSITIONS: Final[dict[tuple[MailState, Event], MailState]] = {
    (MailState.PENDING, Event.CLAIM): MailState.SENDING,
    (MailState.SENDING, Event.CLAIM): MailState.SENDING,  # only once the lease has ended
    (MailState.SENDING, Event.ACCEPTED): MailState.SENT,
    (MailState.SENDING, Event.DEFER): MailState.PENDING,
    (MailState.SENDING, Event.GIVE_UP): MailState.FAILED,
    (MailState.FAILED, Event.RETRY): MailState.PENDING,
    (MailState.PENDING, Event.EXPIRE): MailState.FAILED,
    (MailState.FAILED, Event.EXPIRE): MailState.FAILED,
}


def sources(event: Event) -> tuple[MailState, ...]:
    """The states ``event`` may leave (for the conditional ``UPDATE ... WHERE state IN``)."""
    return tuple(state for (state, e) in TRANSITIONS if e is event)


# Waits before the 2nd, 3rd, ... attempt; about 15 hours in all, then the message is failed.
RETRY_DELAYS: Final = tuple(
    dt.timedelta(seconds=s) for s in (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)
)


def next_attempt(attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When to try again after ``attempts`` temporary refusals; ``None``: give up."""
    if attempts < 1 or attempts > len(RETRY_DELAYS):
        return None
    return now + RETRY_DELAYS[attempts - 1]


def is_permanent(code: int | None) -> bool:
    """An SMTP reply code that will not change by trying again (5xx). ``None``: no reply
    at all (refused, timed out, cut off), which is temporary."""
    return code is not None and 500 <= code < 600


# The local part of an address (at least one character that is no space, bracket,
# quote or separator) before "@" and a domain.
_ADDRESS: Final = re.compile(r"[^\s<>()\[\]\"',;:@]+@(?=[A-Za-z0-9.-]+)")


def mask_address(address: str) -> str:
    """``anna@demo.test`` -> ``…@demo.test``: the domain only."""
    return "…@" + address.rpartition("@")[2]


def mask_addresses(text: str) -> str:
    """Every e-mail address in ``text`` (a server's reply) with its local part masked."""
    return _ADDRESS.sub("…@", text)

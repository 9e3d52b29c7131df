"""M7: the outbox's pure rules (``cloud/domain/outbox.py``)."""

from __future__ import annotations

import datetime as dt
import itertools

from cablepin.cloud.domain.outbox import (
    RETRY_DELAYS,
    TRANSITIONS,
    Event,
    MailState,
    is_permanent,
    next_attempt,
    sources,
)

NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)


def test_m7_waits_grow_and_end_in_giving_up() -> None:
    waits = [next_attempt(n, NOW) for n in range(1, len(RETRY_DELAYS) + 2)]
    assert waits[-1] is None  # no tries left
    delays = [w - NOW for w in waits[:-1] if w is not None]
    assert delays == list(RETRY_DELAYS)
    assert all(a < b for a, b in itertools.pairwise(delays))
    assert next_attempt(0, NOW) is None


def test_m7_only_5xx_is_permanent() -> None:
    assert [is_permanent(c) for c in (None, 421, 450, 451, 452, 500, 550, 554)] == [
        False, False, False, False, False, True, True, True,
    ]  # fmt: skip


def test_m7_a_message_is_sent_only_from_a_claim_and_failed_ones_come_back_only_by_retry() -> None:
    assert sources(Event.ACCEPTED) == (MailState.SENDING,)
    assert set(sources(Event.CLAIM)) == {MailState.PENDING, MailState.SENDING}
    assert sources(Event.RETRY) == (MailState.FAILED,)
    assert not any(state is MailState.SENT for state, _event in TRANSITIONS)  # sent is final

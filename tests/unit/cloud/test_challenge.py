"""H5: a challenge is fresh for 5 to 10 minutes, for one cable and one account, and needs
the cloud's key."""

from __future__ import annotations

from cablepin.cloud.domain.challenge import WINDOW_S, is_fresh, issue

KEY = b"k" * 32
T = 1_800_000_000 - 1_800_000_000 % WINDOW_S  # the start of a window
DRIVER, OTHER = 7, 8


def test_h5_fresh_in_its_window_and_the_next_only() -> None:
    challenge = issue(KEY, "CBL-00000001", DRIVER, T)
    assert len(challenge) == 16
    assert is_fresh(KEY, "CBL-00000001", DRIVER, challenge, T + WINDOW_S - 1)
    assert is_fresh(KEY, "CBL-00000001", DRIVER, challenge, T + 2 * WINDOW_S - 1)
    assert not is_fresh(KEY, "CBL-00000001", DRIVER, challenge, T + 2 * WINDOW_S)
    assert not is_fresh(KEY, "CBL-00000001", DRIVER, challenge, T - 1)  # not from the future


def test_h5_bound_to_the_cable_and_the_key() -> None:
    challenge = issue(KEY, "CBL-00000001", DRIVER, T)
    assert not is_fresh(KEY, "CBL-00000002", DRIVER, challenge, T)
    assert not is_fresh(b"x" * 32, "CBL-00000001", DRIVER, challenge, T)
    assert issue(KEY, "CBL-00000001", DRIVER, T) == issue(KEY, "CBL-00000001", DRIVER, T + 1)


def test_h3_h5_bound_to_the_account_that_fetched_it() -> None:
    """Decision 11: one driver's challenge does not pass for another's connect."""
    challenge = issue(KEY, "CBL-00000001", DRIVER, T)
    assert not is_fresh(KEY, "CBL-00000001", OTHER, challenge, T)
    assert issue(KEY, "CBL-00000001", OTHER, T) != challenge

"""H5: a challenge is fresh for 5 to 10 minutes, for one cable, and needs the cloud's key."""

from __future__ import annotations

from cablepin.cloud.domain.challenge import WINDOW_S, is_fresh, issue

KEY = b"k" * 32
T = 1_800_000_000 - 1_800_000_000 % WINDOW_S  # the start of a window


def test_h5_fresh_in_its_window_and_the_next_only() -> None:
    challenge = issue(KEY, "CBL-00000001", T)
    assert len(challenge) == 16
    assert is_fresh(KEY, "CBL-00000001", challenge, T + WINDOW_S - 1)
    assert is_fresh(KEY, "CBL-00000001", challenge, T + 2 * WINDOW_S - 1)
    assert not is_fresh(KEY, "CBL-00000001", challenge, T + 2 * WINDOW_S)
    assert not is_fresh(KEY, "CBL-00000001", challenge, T - 1)  # not from the future either


def test_h5_bound_to_the_cable_and_the_key() -> None:
    challenge = issue(KEY, "CBL-00000001", T)
    assert not is_fresh(KEY, "CBL-00000002", challenge, T)
    assert not is_fresh(b"x" * 32, "CBL-00000001", challenge, T)
    assert issue(KEY, "CBL-00000001", T) == issue(KEY, "CBL-00000001", T + 1)  # no state

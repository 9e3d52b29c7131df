"""The simulator's link-rate throttle and its clock (no sleeping in unit tests)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cablepin.cable.simulator import CLOCK_OFFSET_ENV, LinkPacer, simulated_clock


def test_pacer_holds_the_average_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(time, "sleep", sleep)
    pacer = LinkPacer(20_000, clock=lambda: now[0])
    for _ in range(10):
        pacer.pace(4_000)
    assert now[0] == pytest.approx(2.0)  # 40 KB at 20 KB/s
    assert all(s > 0 for s in slept)


def test_pacer_without_a_rate_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail("slept"))
    LinkPacer(None).pace(10**9)


def test_the_simulated_clock_adds_the_offset_file_read_at_every_call(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    clock = simulated_clock({CLOCK_OFFSET_ENV: str(offset)})
    assert abs(clock() - time.time()) < 5  # missing file: no offset
    offset.write_text("3600\n")
    assert 3595 < clock() - time.time() < 3605
    offset.write_text("garbled")
    assert abs(clock() - time.time()) < 5
    assert simulated_clock({}) is time.time

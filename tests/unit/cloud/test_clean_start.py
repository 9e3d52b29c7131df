"""H3: the next driver starts clean; the pure rule (domain/clean_start.py)."""

from __future__ import annotations

import pytest

from cablepin.cloud.domain.attribution import CableFacts, check_upload
from cablepin.cloud.domain.clean_start import (
    CleanCheck,
    Step,
    assignment_starts_clean,
    clean_start_step,
    may_receive_wipe,
    starts_clean,
)
from cablepin.cloud.domain.commands import Purpose
from cablepin.cloud.errors import CleanStartPending, NotAssigned, StaleEpoch, WipePending

B, A = 2, 1
OPEN = CleanCheck(assignee_id=B, epoch=1, clean=False)


def step(check: CleanCheck | None = OPEN, **kwargs: int | bool) -> Step:
    args: dict[str, int | bool] = {
        "actor_id": B,
        "wipe_open": False,
        "hello_epoch": 1,
        "hello_seq": 0,
    }
    args.update(kwargs)
    return clean_start_step(check, **args)  # type: ignore[arg-type]


def test_h3_empty_cable_in_the_assignments_epoch_is_clean() -> None:
    assert step() is Step.CLEAN


@pytest.mark.parametrize(
    ("hello_epoch", "hello_seq"),
    [(1, 3), (0, 0), (2, 0), (0, 5)],
)
def test_h3_sessions_or_another_epoch_need_a_wipe(hello_epoch: int, hello_seq: int) -> None:
    assert step(hello_epoch=hello_epoch, hello_seq=hello_seq) is Step.WIPE


def test_h3_only_the_assignees_connect_settles_the_check() -> None:
    assert step(actor_id=A) is Step.NOTHING
    assert step(actor_id=A, hello_seq=3) is Step.NOTHING


def test_h3_nothing_to_do_when_clean_unassigned_or_a_wipe_is_open() -> None:
    assert step(CleanCheck(assignee_id=B, epoch=1, clean=True), hello_seq=3) is Step.NOTHING
    assert step(None, hello_seq=3) is Step.NOTHING
    assert step(wipe_open=True, hello_seq=3) is Step.NOTHING


def test_h3_only_a_cables_first_driver_ever_starts_without_a_check() -> None:
    assert assignment_starts_clean(cable_epoch=0, had_driver=False) is True
    assert assignment_starts_clean(cable_epoch=0, had_driver=True) is False
    assert assignment_starts_clean(cable_epoch=1, had_driver=False) is False  # wiped before
    assert assignment_starts_clean(cable_epoch=3, had_driver=True) is False


def test_h3_which_wipe_receipts_open_a_clean_assignment() -> None:
    assert starts_clean(Purpose.HANDOVER, cancelled=False) is False
    # A late receipt of a cancelled wipe: whoever holds the cable by then is checked.
    assert starts_clean(Purpose.HANDOVER, cancelled=True) is False
    assert starts_clean(Purpose.CLEAN_START, cancelled=True) is False
    assert starts_clean(Purpose.RESET, cancelled=False) is True  # support reset keeps the driver
    assert starts_clean(Purpose.CLEAN_START, cancelled=False) is True


def test_h2_h3_who_gets_a_copy_of_an_open_wipe() -> None:
    common = {"wipe_driver_id": B, "hello_epoch": 1, "cable_epoch": 1}
    assert may_receive_wipe(purpose=Purpose.HANDOVER, actor_id=A, **common)  # whoever connects (H2)
    assert may_receive_wipe(purpose=Purpose.RESET, actor_id=A, **common)
    assert may_receive_wipe(purpose=Purpose.CLEAN_START, actor_id=B, **common)
    assert not may_receive_wipe(purpose=Purpose.CLEAN_START, actor_id=A, **common)
    # A cable that already wiped (its epoch is not the cloud's) gets no copy.
    assert not may_receive_wipe(
        purpose=Purpose.HANDOVER, actor_id=B, wipe_driver_id=B, hello_epoch=2, cable_epoch=1
    )


def facts(**kwargs: int | bool | None) -> CableFacts:
    values: dict[str, object] = {
        "serial": "CBL-00000001",
        "epoch": 1,
        "head_seq": 0,
        "wipe_pending": False,
        "assignee_id": B,
        "clean_pending": True,
    }
    values.update(kwargs)
    return CableFacts(**values)  # type: ignore[arg-type]


def test_h3_uploads_wait_for_the_clean_start_check() -> None:
    with pytest.raises(CleanStartPending) as e:
        check_upload(facts(), actor_id=B, batch_epoch=1, first_seq=1)
    assert e.value.status == 409
    assert "connect the cable" in e.value.message
    check_upload(facts(clean_pending=False), actor_id=B, batch_epoch=1, first_seq=1)


def test_h3_clean_start_refusal_comes_after_the_other_refusals() -> None:
    with pytest.raises(WipePending):
        check_upload(facts(wipe_pending=True), actor_id=B, batch_epoch=1, first_seq=1)
    with pytest.raises(NotAssigned):
        check_upload(facts(), actor_id=A, batch_epoch=1, first_seq=1)
    with pytest.raises(StaleEpoch):
        check_upload(facts(), actor_id=B, batch_epoch=0, first_seq=1)

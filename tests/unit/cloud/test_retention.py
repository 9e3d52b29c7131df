"""D2: the statutory retention period of an erased driver's receipts (domain/retention.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from cablepin.cloud.domain.retention import DEFAULT_YEARS, deletable_from


def test_d2_default_is_eight_years_for_buchungsbelege() -> None:
    assert DEFAULT_YEARS == 8


@pytest.mark.parametrize(
    ("made", "first_day_deletable"),
    [
        # Counted from the end of the calendar year in Berlin (§147 (4) AO).
        (dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC), dt.datetime(2034, 12, 31, 23, tzinfo=dt.UTC)),
        # 23:30 UTC on 31 December is already the next year in Berlin.
        (
            dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC),
            dt.datetime(2035, 12, 31, 23, tzinfo=dt.UTC),
        ),
    ],
)
def test_d2_a_receipt_may_go_from_new_year_after_the_period(
    made: dt.datetime, first_day_deletable: dt.datetime
) -> None:
    assert deletable_from(made, DEFAULT_YEARS) == first_day_deletable


def test_d2_a_period_is_at_least_a_year() -> None:
    with pytest.raises(ValueError, match="at least one year"):
        deletable_from(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 0)

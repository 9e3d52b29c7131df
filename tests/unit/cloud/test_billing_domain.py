"""Pure reimbursement rules (M1-M3): months in Berlin, deadlines, proof documents, prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cablepin.cloud.domain import billing as rules

UTC = dt.UTC


def ts(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=UTC).timestamp())


def test_m3_months_are_counted_in_berlin() -> None:
    # 23:30 UTC on 31 January is already February in Berlin.
    assert rules.month_of(ts(2026, 1, 31, 23, 30)) == "2026-02"
    assert rules.month_of(ts(2026, 1, 31, 22, 59)) == "2026-01"
    start, end = rules.month_bounds("2026-01")
    assert (start, end) == (ts(2025, 12, 31, 23), ts(2026, 1, 31, 23))
    # Summer time: July starts at 22:00 UTC on 30 June.
    assert rules.month_bounds("2026-07")[0] == ts(2026, 6, 30, 22)


def test_m3_a_month_is_over_when_its_last_day_ended() -> None:
    assert not rules.month_is_over("2026-01", dt.datetime(2026, 1, 31, 22, 59, tzinfo=UTC))
    assert rules.month_is_over("2026-01", dt.datetime(2026, 1, 31, 23, 0, tzinfo=UTC))


def test_m3_late_after_the_deadline_day_of_the_next_month() -> None:
    assert rules.deadline_end("2026-01", 10) == dt.datetime(2026, 2, 10, 23, tzinfo=UTC)
    assert rules.deadline_end("2026-12", 10) == dt.datetime(2027, 1, 10, 23, tzinfo=UTC)
    assert not rules.is_late("2026-01", 10, dt.datetime(2026, 2, 10, 22, 59, tzinfo=UTC))
    assert rules.is_late("2026-01", 10, dt.datetime(2026, 2, 10, 23, 0, tzinfo=UTC))


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-01", "2026-1", "1999-12", "x"])
def test_m3_bad_months_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        rules.parse_month(text)
    assert not rules.is_month(text)


def test_m3_the_previous_month_is_counted_in_berlin() -> None:
    assert rules.is_month("2026-01")
    # 31 December 23:30 UTC is already January in Berlin: the previous month is December.
    assert rules.previous_month(dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "2026-12"
    assert rules.previous_month(dt.datetime(2026, 1, 15, tzinfo=UTC)) == "2025-12"
    assert rules.previous_month(dt.datetime(2026, 3, 1, 0, 30, tzinfo=UTC)) == "2026-02"


def test_m2_proof_type_comes_from_the_content() -> None:
    assert rules.detect_document(b"%PDF-1.7 ...") == "application/pdf"
    assert rules.detect_document(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert rules.detect_document(b"\xff\xd8\xff\xdb") == "image/jpeg"
    for other in (b"", b"GIF89a", b"<html>%PDF-", b"PK\x03\x04"):
        assert rules.detect_document(other) is None


def test_m2_overlap() -> None:
    d = dt.date
    assert rules.overlaps(d(2026, 1, 1), d(2026, 6, 30), d(2026, 6, 30), d(2026, 12, 31))
    assert not rules.overlaps(d(2026, 1, 1), d(2026, 6, 29), d(2026, 6, 30), d(2026, 12, 31))


def test_m2_dynamic_tariff_needs_every_month_of_its_validity() -> None:
    d = dt.date
    prices = rules.parse_monthly_prices(
        '{"2026-01": "0.31", "2026-02": "0.29"}', d(2026, 1, 15), d(2026, 2, 28)
    )
    assert prices == {"2026-01": Decimal("0.31"), "2026-02": Decimal("0.29")}
    assert rules.monthly_prices_json(prices) == '{"2026-01":"0.31","2026-02":"0.29"}'
    with pytest.raises(ValueError, match="missing: 2026-02"):
        rules.parse_monthly_prices('{"2026-01": "0.31"}', d(2026, 1, 1), d(2026, 2, 1))
    with pytest.raises(ValueError, match="outside the validity: 2026-03"):
        rules.parse_monthly_prices(
            '{"2026-01": "0.31", "2026-03": "0.3"}', d(2026, 1, 1), d(2026, 1, 31)
        )
    for bad in ("[]", "{}", "nope", '{"2026-01": 0.31}'):
        with pytest.raises(ValueError, match=r"monthly_prices|price"):
            rules.parse_monthly_prices(bad, d(2026, 1, 1), d(2026, 1, 31))


def test_m2_a_session_is_priced_by_the_tariff_valid_on_its_start_day() -> None:
    d = dt.date
    fixed = rules.TariffFacts(1, d(2026, 1, 1), d(2026, 1, 31), Decimal("0.30"), None)
    dynamic = rules.TariffFacts(
        2,
        d(2026, 2, 1),
        d(2026, 3, 15),
        None,
        {"2026-02": Decimal("0.28"), "2026-03": Decimal("0.27")},
    )
    kwargs = {"method": rules.Method.CONTRACT, "tariffs": [fixed, dynamic], "flat_price": None}
    # 31 Jan 23:30 UTC is 1 Feb in Berlin: the dynamic tariff's February price.
    feb = rules.price_for(ts(2026, 1, 31, 23, 30), year=2026, **kwargs)  # type: ignore[arg-type]
    assert feb == rules.PriceRef("tariff-2-2026-02", Decimal("0.28"), d(2026, 2, 1), d(2026, 2, 28))
    jan = rules.price_for(ts(2026, 1, 31, 22, 30), year=2026, **kwargs)  # type: ignore[arg-type]
    assert jan is not None
    assert (jan.ref, jan.price) == ("tariff-1", Decimal("0.30"))
    mar = rules.price_for(ts(2026, 3, 10, 12), year=2026, **kwargs)  # type: ignore[arg-type]
    assert mar is not None
    assert mar.valid_to == d(2026, 3, 15)
    assert rules.price_for(ts(2026, 3, 20, 12), year=2026, **kwargs) is None  # type: ignore[arg-type]
    flat = rules.price_for(
        ts(2026, 3, 20, 12),
        method=rules.Method.FLAT,
        tariffs=[],
        flat_price=Decimal("0.34"),
        year=2026,
    )
    assert flat == rules.PriceRef("flat-2026", Decimal("0.34"), d(2026, 1, 1), d(2026, 12, 31))
    assert (
        rules.price_for(
            ts(2026, 3, 20), method=rules.Method.FLAT, tariffs=[], flat_price=None, year=2026
        )
        is None
    )

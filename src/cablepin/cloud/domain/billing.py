"""Reimbursement rules (M1-M3) as pure functions: months, deadlines, documents, prices.

Rules kept here:

* Months are ``YYYY-MM`` and counted in ``BILLING_ZONE`` (Europe/Berlin, where
  the employer's payroll counts them): a session belongs to the month its start
  falls in there; a month is over when its last day there has ended.
* The policy of a calendar year decides every month of that year: ``contract``
  (the driver's verified tariff valid on the session's start day; a dynamic
  tariff's price for that month) or ``flat`` (the year's flat price).
* A receipt is late when it is submitted after the end of the policy's
  deadline day in the month after the receipt's month.
* A tariff's proof is a PDF, PNG or JPEG, told by its first bytes (never by
  its name), of at most 5 MB. Two tariffs of a driver that are not rejected
  may not overlap in validity. A driver has at most ``MAX_PENDING_TARIFFS``
  tariffs waiting for a decision at once (each may carry a 5 MB proof).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from cablepin.evidence.money import parse_price, price_text

__all__ = [
    "BILLING_ZONE",
    "DEFAULT_DEADLINE_DAY",
    "DOCUMENT_TYPES",
    "MAX_DOCUMENT",
    "MAX_PENDING_TARIFFS",
    "MAX_UPLOAD",
    "Method",
    "PriceRef",
    "TariffFacts",
    "deadline_end",
    "detect_document",
    "is_late",
    "is_month",
    "month_bounds",
    "month_is_over",
    "month_of",
    "monthly_prices_json",
    "overlaps",
    "parse_month",
    "parse_monthly_prices",
    "previous_month",
    "price_for",
]

BILLING_ZONE: Final = ZoneInfo("Europe/Berlin")
DEFAULT_DEADLINE_DAY: Final = 10
MAX_DOCUMENT: Final = 5 * 1024 * 1024
#: Tariffs of one driver waiting for a fleet manager's decision at once.
MAX_PENDING_TARIFFS: Final = 10
#: A request that uploads a proof: the document and the form around it.
MAX_UPLOAD: Final = MAX_DOCUMENT + 64 * 1024
MONTH_PATTERN: Final = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
#: Magic bytes -> media type: what a proof document may be.
DOCUMENT_TYPES: Final = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


class Method(StrEnum):
    CONTRACT = "contract"
    FLAT = "flat"


def parse_month(text: str) -> tuple[int, int]:
    match = MONTH_PATTERN.fullmatch(text)
    if match is None or not 2000 <= int(match.group(1)) <= 2999:
        raise ValueError(f"{text!r} is not a month; write it as YYYY-MM, such as 2026-01")
    return int(match.group(1)), int(match.group(2))


def is_month(text: str) -> bool:
    try:
        parse_month(text)
    except ValueError:
        return False
    return True


def previous_month(now: dt.datetime) -> str:
    """The calendar month before ``now``'s, in the billing zone (``YYYY-MM``)."""
    local = now.astimezone(BILLING_ZONE)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def _first_instant(year: int, month: int) -> dt.datetime:
    return dt.datetime(year, month, 1, tzinfo=BILLING_ZONE)


def _next(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_bounds(month: str) -> tuple[int, int]:
    """``[start, end)`` of ``month`` in UTC epoch seconds."""
    year, m = parse_month(month)
    start = _first_instant(year, m)
    end = _first_instant(*_next(year, m))
    return int(start.timestamp()), int(end.timestamp())


def month_of(epoch_s: int) -> str:
    local = dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).astimezone(BILLING_ZONE)
    return f"{local.year:04d}-{local.month:02d}"


def day_of(epoch_s: int) -> dt.date:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).astimezone(BILLING_ZONE).date()


def month_is_over(month: str, now: dt.datetime) -> bool:
    return now.timestamp() >= month_bounds(month)[1]


def deadline_end(month: str, deadline_day: int) -> dt.datetime:
    """The instant after which a receipt for ``month`` is late."""
    year, m = _next(*parse_month(month))
    day_after = dt.date(year, m, deadline_day) + dt.timedelta(days=1)
    return dt.datetime.combine(day_after, dt.time(), tzinfo=BILLING_ZONE).astimezone(dt.UTC)


def is_late(month: str, deadline_day: int, submitted_at: dt.datetime) -> bool:
    return submitted_at >= deadline_end(month, deadline_day)


def detect_document(content: bytes) -> str | None:
    """The media type told by the content's first bytes, or None if not accepted."""
    for magic, media_type in DOCUMENT_TYPES:
        if content.startswith(magic):
            return media_type
    return None


def overlaps(a_from: dt.date, a_to: dt.date, b_from: dt.date, b_to: dt.date) -> bool:
    return a_from <= b_to and b_from <= a_to


def parse_monthly_prices(text: str, valid_from: dt.date, valid_to: dt.date) -> dict[str, Decimal]:
    """A dynamic tariff's ``{"YYYY-MM": "0.31", ...}``: every month of the validity, no other."""
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ValueError(
            'monthly_prices must be a JSON object such as {"2026-01": "0.31", "2026-02": "0.29"}'
        ) from e
    if not isinstance(raw, dict) or not raw:
        raise ValueError('monthly_prices must be a JSON object such as {"2026-01": "0.31"}')
    prices: dict[str, Decimal] = {}
    for month, value in raw.items():
        parse_month(month)
        if not isinstance(value, str):
            raise ValueError(f'the price of {month} must be a string such as "0.31"')
        prices[month] = parse_price(value)
    wanted = set(_months_between(valid_from, valid_to))
    missing, extra = sorted(wanted - prices.keys()), sorted(prices.keys() - wanted)
    if missing or extra:
        raise ValueError(
            "monthly_prices must name every month from valid_from to valid_to and no other"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; outside the validity: {', '.join(extra)}" if extra else "")
        )
    return prices


def monthly_prices_json(prices: Mapping[str, Decimal]) -> str:
    return json.dumps({m: price_text(p) for m, p in sorted(prices.items())}, separators=(",", ":"))


def _months_between(first: dt.date, last: dt.date) -> list[str]:
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = _next(year, month)
    return months


@dataclass(frozen=True)
class TariffFacts:
    id: int
    valid_from: dt.date
    valid_to: dt.date
    price: Decimal | None
    monthly: Mapping[str, Decimal] | None


@dataclass(frozen=True)
class PriceRef:
    """A price and where it comes from, as the evidence bundle lists it."""

    ref: str
    price: Decimal
    valid_from: dt.date
    valid_to: dt.date


def _month_days(month: str) -> tuple[dt.date, dt.date]:
    year, m = parse_month(month)
    ny, nm = _next(year, m)
    return dt.date(year, m, 1), dt.date(ny, nm, 1) - dt.timedelta(days=1)


def price_for(
    start_s: int,
    *,
    method: Method,
    tariffs: Sequence[TariffFacts],
    flat_price: Decimal | None,
    year: int,
) -> PriceRef | None:
    """The price of a session that starts at ``start_s``; None when it has none."""
    if method is Method.FLAT:
        if flat_price is None:
            return None
        return PriceRef(f"flat-{year}", flat_price, dt.date(year, 1, 1), dt.date(year, 12, 31))
    day = day_of(start_s)
    for tariff in tariffs:
        if not tariff.valid_from <= day <= tariff.valid_to:
            continue
        if tariff.monthly is None:
            assert tariff.price is not None
            return PriceRef(f"tariff-{tariff.id}", tariff.price, tariff.valid_from, tariff.valid_to)
        month = month_of(start_s)
        price = tariff.monthly.get(month)
        if price is None:
            return None
        first, last = _month_days(month)
        return PriceRef(
            f"tariff-{tariff.id}-{month}",
            price,
            max(first, tariff.valid_from),
            min(last, tariff.valid_to),
        )
    return None

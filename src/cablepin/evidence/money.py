"""The money rule of reimbursement (M3), in one place for the cloud and the verifier.

Rules kept here:

* Energy is integer watt-hours; kWh is ``Wh / 1000`` as an exact decimal.
* A price is EUR per kWh, a decimal string with at most 6 decimals, above 0
  and below 10 (``"0.3275"``); never a float.
* A line's amount is ``Wh * price / 1000``, exact. The receipt's amount is the
  exact sum of its lines, rounded **once**, on the total, to cents, half up
  (``round_total``). No line is rounded on its own.
* Arithmetic runs in ``EXACT``: a context that raises on any inexact result
  and on any float mixed in, so a float or a silent rounding on the money path
  is an error, not a wrong cent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    FloatOperation,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Final

__all__ = [
    "CENT",
    "EXACT",
    "PRICE_REGEX",
    "amount_for",
    "exact_sum",
    "kwh",
    "line_amount",
    "money_text",
    "parse_money",
    "parse_price",
    "price_text",
    "round_total",
    "typed_price",
]

CENT: Final = Decimal("0.01")
MAX_PRICE: Final = Decimal(10)
#: A price above 0 and below 10 with at most 6 decimals (also the API schema's pattern).
PRICE_REGEX: Final = (
    r"[1-9](\.[0-9]{1,6})?"
    r"|0\.([1-9][0-9]{0,5}|0[1-9][0-9]{0,4}|00[1-9][0-9]{0,3}|000[1-9][0-9]{0,2}"
    r"|0000[1-9][0-9]?|00000[1-9])"
)
PRICE_PATTERN: Final = re.compile(PRICE_REGEX)
MONEY_PATTERN: Final = re.compile(r"-?(0|[1-9][0-9]{0,17})\.[0-9]{2}")
EXACT: Final = Context(
    prec=120,
    rounding=ROUND_HALF_UP,
    traps=[Inexact, InvalidOperation, Overflow, DivisionByZero, FloatOperation],
)
_ROUNDING: Final = Context(
    prec=120, rounding=ROUND_HALF_UP, traps=[InvalidOperation, Overflow, FloatOperation]
)


def parse_price(text: str) -> Decimal:
    """A price in EUR/kWh from its decimal string; ValueError says what is accepted."""
    if not isinstance(text, str) or not PRICE_PATTERN.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a price: write EUR per kWh as a decimal with a point and at "
            "most 6 decimals, such as 0.3275"
        )
    with localcontext(EXACT):
        price = Decimal(text)
    if not Decimal(0) < price < MAX_PRICE:
        raise ValueError(f"a price must be above 0 and below {MAX_PRICE} EUR/kWh, not {text}")
    return price


def typed_price(text: str) -> str:
    """A price as a person types it (``"0,31"``, `` 0.31 ``) as the API's price text
    (``"0.31"``): a decimal comma is read as the point. The portal's form and the app's
    ``tariff add`` both use it; the API itself takes the point only (``parse_price``)."""
    return text.strip().replace(",", ".")


def parse_money(text: str) -> Decimal:
    """An amount in EUR with exactly two decimals (``"6.32"``)."""
    if not isinstance(text, str) or not MONEY_PATTERN.fullmatch(text):
        raise ValueError(f"{text!r} is not an amount: write EUR with two decimals, such as 6.32")
    with localcontext(EXACT):
        return Decimal(text)


def price_text(price: Decimal) -> str:
    return format(price, "f")


def money_text(amount: Decimal) -> str:
    return format(amount.quantize(CENT, context=EXACT), "f")


def kwh(wh: int) -> Decimal:
    """Integer Wh as exact kWh."""
    if isinstance(wh, bool) or not isinstance(wh, int) or wh < 0:
        raise ValueError("energy is a non-negative integer number of Wh")
    with localcontext(EXACT):
        return Decimal(wh) / 1000


def line_amount(wh: int, price: Decimal) -> Decimal:
    """One session's exact amount (not rounded)."""
    with localcontext(EXACT):
        return kwh(wh) * price


def exact_sum(lines: Iterable[tuple[int, Decimal]]) -> Decimal:
    with localcontext(EXACT):
        total = Decimal(0)
        for wh, price in lines:
            total += line_amount(wh, price)
        return total


def round_total(exact: Decimal) -> Decimal:
    """The one rounding of the money path: the total, to cents, half up."""
    return exact.quantize(CENT, context=_ROUNDING)


def amount_for(lines: Iterable[tuple[int, Decimal]]) -> Decimal:
    """A receipt's amount: the exact sum of ``Wh * price / 1000``, rounded once."""
    return round_total(exact_sum(lines))

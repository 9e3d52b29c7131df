"""M3: the money rule. Property tests: the total is the exact sum rounded once,
half up, to cents; no float is accepted anywhere on the money path."""

from __future__ import annotations

import ast
import decimal
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import cablepin
from cablepin.cloud.billing_schemas import FlatPriceRequest
from cablepin.evidence.money import (
    EXACT,
    amount_for,
    exact_sum,
    kwh,
    line_amount,
    money_text,
    parse_money,
    parse_price,
)

WH = st.integers(min_value=0, max_value=10**12)
PRICE = st.builds(
    lambda units, places: f"{Decimal(units).scaleb(-places):f}",
    st.integers(min_value=1, max_value=9_999_999),
    st.integers(min_value=0, max_value=6),
).filter(lambda text: Decimal(text) < 10)
LINES = st.lists(st.tuples(WH, PRICE), max_size=60)


def half_up_cents(value: Fraction) -> Fraction:
    cents = value * 100
    whole = cents.numerator // cents.denominator
    return Fraction(whole + (1 if cents - whole >= Fraction(1, 2) else 0), 100)


@given(LINES)
def test_m3_total_is_the_exact_sum_rounded_once(lines: list[tuple[int, str]]) -> None:
    parsed = [(wh, parse_price(price)) for wh, price in lines]
    exact = sum((Fraction(wh) * Fraction(price) / 1000 for wh, price in lines), Fraction(0))
    assert Fraction(exact_sum(parsed)) == exact
    amount = amount_for(parsed)
    assert Fraction(amount) == half_up_cents(exact)
    assert amount.as_tuple().exponent == -2
    assert parse_money(money_text(amount)) == amount


def test_m3_lines_are_not_rounded_on_their_own() -> None:
    """Three sessions of 0.004 EUR each: per-line rounding would pay 0.00."""
    lines = [(4, Decimal("1"))] * 3
    assert line_amount(4, Decimal("1")) == Decimal("0.004")
    assert amount_for(lines) == Decimal("0.01")


@given(WH)
def test_m3_kwh_from_integer_wh_is_exact(wh: int) -> None:
    assert Fraction(kwh(wh)) == Fraction(wh, 1000)


def test_m3_half_up_at_the_half_cent() -> None:
    assert amount_for([(5, Decimal("1"))]) == Decimal("0.01")  # 0.005 -> 0.01
    assert amount_for([(4, Decimal("1"))]) == Decimal("0.00")
    assert amount_for([(3, Decimal("1")), (2, Decimal("1"))]) == Decimal("0.01")
    assert amount_for([]) == Decimal("0.00")


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=0.01, max_value=9.9))
def test_m3_no_float_on_the_money_path(value: float) -> None:
    with pytest.raises(TypeError):
        line_amount(1000, value)  # type: ignore[arg-type]
    with pytest.raises(decimal.FloatOperation), decimal.localcontext(EXACT):
        Decimal(value)  # a float smuggled into a Decimal on the money path is an error
    with pytest.raises(ValueError, match="decimal"):
        parse_price(value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Wh"):
        kwh(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["0,34", "0.1234567", "-0.3", "10", "10.5", "", " ", "1e-2", "0"])
def test_m2_prices_are_refused_with_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r"0\.3275|above 0"):
        parse_price(text)


@pytest.mark.parametrize("text", ["0.34", "0.3275", "1", "9.999999", "0.000001"])
def test_m2_prices_parse_exactly(text: str) -> None:
    assert parse_price(text) == Decimal(text)


# The money path: every module that parses, sums, stores, sends or prints a price or amount.
MONEY_PATH = (
    "evidence/money.py",
    "evidence/bundle.py",
    "cloud/domain/billing.py",
    "cloud/services/billing.py",
    "cloud/services/receipts.py",
    "cloud/billing_schemas.py",
    "cloud/receipt_pdf.py",
    "cloud/portal/me_routes.py",
)


@pytest.mark.parametrize("module", MONEY_PATH)
def test_m3_no_float_anywhere_on_the_money_path(module: str) -> None:
    """No float literal, no ``float`` and no ``round()`` in any module money passes through."""
    path = Path(cablepin.__file__).parent / module
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [
        f"{module}:{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if (isinstance(node, ast.Constant) and isinstance(node.value, float))
        or (isinstance(node, ast.Name) and node.id in ("float", "round"))
    ]
    assert found == []


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=0.000001, max_value=9.99))
def test_m2_m3_the_api_refuses_a_price_sent_as_a_json_number(value: float) -> None:
    """At the door: a price is a decimal string; a JSON number never becomes one."""
    with pytest.raises(ValidationError):
        FlatPriceRequest.model_validate({"price": value, "source": "x", "reason": "y"})
    with pytest.raises(ValidationError):
        FlatPriceRequest.model_validate_json(
            json.dumps({"price": value, "source": "x", "reason": "y"})
        )


@given(LINES, st.randoms(use_true_random=False))
def test_m3_the_amount_does_not_depend_on_the_order_of_the_lines(
    lines: list[tuple[int, str]], rng: Any
) -> None:
    parsed = [(wh, parse_price(price)) for wh, price in lines]
    shuffled = list(parsed)
    rng.shuffle(shuffled)
    assert amount_for(shuffled) == amount_for(parsed)
    assert exact_sum(shuffled) == exact_sum(parsed)

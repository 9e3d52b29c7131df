"""M4's pure rules: which IBAN check failed (never the value), masking, cents, remittance."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cablepin.cloud.domain import payouts


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("DE89 3704 0044 0532 0130 01", payouts.AccountProblem.CHECKSUM),
        ("DE89 3704 0044 0532 0130", payouts.AccountProblem.LENGTH),
        ("XX89370400440532013000", payouts.AccountProblem.COUNTRY),
        ("hello", payouts.AccountProblem.FORMAT),
    ],
)
def test_m4_a_refused_iban_names_the_check_not_the_number(
    text: str, problem: payouts.AccountProblem
) -> None:
    with pytest.raises(payouts.BadAccount) as refused:
        payouts.parse_iban(text)
    assert refused.value.problem is problem
    assert text.replace(" ", "").upper() not in str(refused.value)
    assert refused.value.__cause__ is None  # schwifty's message quotes the input


def test_m4_iban_is_compact_and_masked_to_country_and_last_four() -> None:
    compact = payouts.parse_iban("de89 3704 0044 0532 0130 00")
    assert compact == "DE89370400440532013000"
    assert payouts.mask_iban(compact) == "DE** **** **** **** **30 00"
    assert payouts.mask_iban("NO9386011117947") == "NO** **** ***7 947"


def test_m4_transfer_pays_whole_cents_and_names_the_receipt() -> None:
    assert payouts.cents(Decimal("52.20")) == 5220
    with pytest.raises(ValueError, match="whole cents"):
        payouts.cents(Decimal("1.005"))
    with pytest.raises(ValueError, match="positive"):
        payouts.cents(Decimal("0.00"))
    text = payouts.remittance(17, "2026-10")
    assert "17" in text
    assert "2026-10" in text
    assert len(text) <= 140
    assert payouts.end_to_end_id(2**31 - 1) == "CABLEPIN-R2147483647"
    assert len(payouts.end_to_end_id(2**31 - 1)) <= 35

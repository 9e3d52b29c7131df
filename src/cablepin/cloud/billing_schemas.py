"""Request and response shapes of the reimbursement routes (M1-M6) and money out (M4).

Money and prices are decimal strings (``"6.32"``, ``"0.3275"``), energy is
integer Wh, months ``YYYY-MM``, session times UTC epoch seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from cablepin.cloud.domain.payouts import PERSONNEL_NUMBER
from cablepin.cloud.schemas import EMAIL_PATTERN, MAX_INT, Strict
from cablepin.evidence.money import PRICE_REGEX

__all__ = [
    "BankOut",
    "BankRequest",
    "DecisionRequest",
    "EvidenceBundle",
    "FlatPriceOut",
    "FlatPriceRequest",
    "MonthPayouts",
    "MonthSessionOut",
    "MonthView",
    "PaymentRunOut",
    "PayoutReceipt",
    "PayrollOut",
    "PayrollRequest",
    "PolicyOut",
    "PolicyRequest",
    "ReceiptLineOut",
    "ReceiptList",
    "ReceiptOut",
    "ReceiptSubmit",
    "TariffList",
    "TariffOut",
]

MONTH = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"
PRICE = f"^({PRICE_REGEX})$"
MONEY = r"^-?[0-9]+\.[0-9]{2}$"


class PolicyRequest(Strict):
    method: Literal["contract", "flat"]
    deadline_day: int = Field(default=10, ge=1, le=28, description="day of the following month")
    # One plain address (no display name, comma or line break): it becomes the To header
    # and the envelope recipient of every receipt mail (M7).
    recipient_email: str | None = Field(
        default=None, min_length=3, max_length=320, pattern=EMAIL_PATTERN
    )
    wage_type: str | None = Field(default=None, min_length=1, max_length=40)
    debtor_name: str | None = Field(default=None, min_length=1, max_length=70)
    debtor_iban: str | None = Field(default=None, min_length=15, max_length=42)
    debtor_bic: str | None = Field(default=None, min_length=8, max_length=11)


class PolicyOut(BaseModel):
    year: int
    method: Literal["contract", "flat"]
    deadline_day: int
    recipient_email: str | None
    wage_type: str | None
    debtor_name: str | None
    debtor_iban: str | None
    debtor_bic: str | None
    flat_price: str | None = Field(description="EUR/kWh; present for the flat method")
    flat_price_source: str | None


class FlatPriceRequest(Strict):
    price: str = Field(pattern=PRICE, max_length=10, description="EUR/kWh, e.g. 0.34")
    source: str = Field(min_length=1, max_length=300, description="where the figure is published")
    reason: str = Field(min_length=1, max_length=1000, description="why (audited)")


class FlatPriceOut(BaseModel):
    year: int
    price: str
    source: str


class TariffOut(BaseModel):
    id: int
    driver_email: str
    kind: Literal["fixed", "dynamic"]
    price: str | None
    monthly_prices: dict[str, str] | None
    valid_from: dt.date
    valid_to: dt.date
    state: Literal["pending", "verified", "rejected"]
    reason: str | None
    document_type: str
    document_size: int
    document_sha256: str
    created_at: dt.datetime
    decided_at: dt.datetime | None


class TariffList(BaseModel):
    items: list[TariffOut]


class DecisionRequest(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class MonthSessionOut(BaseModel):
    id: int
    serial: str
    start: int
    end: int
    wh: int
    receipt_id: int | None = Field(description="the live receipt it is on, if any")
    price: str | None = Field(description="EUR/kWh it gets; null when no price applies")


class MonthView(BaseModel):
    month: str
    over: bool
    method: Literal["contract", "flat"] | None
    sessions: list[MonthSessionOut]
    missing_price_dates: list[dt.date]


class ReceiptSubmit(Strict):
    month: str = Field(pattern=MONTH, description="YYYY-MM")
    exclude: list[Annotated[int, Field(ge=1, le=MAX_INT)]] = Field(
        default_factory=list, max_length=1000, description="session ids not to reimburse"
    )


class ReceiptLineOut(BaseModel):
    session_id: int
    serial: str
    start: int
    end: int
    wh: int
    price: str
    price_ref: str


class ReceiptOut(BaseModel):
    id: int
    state: Literal["submitted", "approved", "rejected"]
    month: str
    driver_email: str
    driver_name: str
    total_wh: int
    amount: str
    price_source: Literal["contract", "flat"]
    late: bool
    supplementary: bool
    submitted_at: dt.datetime
    decided_at: dt.datetime | None
    reason: str | None
    lines: list[ReceiptLineOut]


class ReceiptList(BaseModel):
    items: list[ReceiptOut]


# ------------------------------------------------------------------ evidence (M6)


class EvidenceReceipt(BaseModel):
    id: int
    month: str
    organisation: str
    driver: str
    state: str
    submitted_at: dt.datetime
    total_wh: int
    amount: str = Field(pattern=MONEY)
    price_source: Literal["contract", "flat"]


class EvidenceLine(BaseModel):
    serial: str
    epoch: int = Field(ge=0, le=MAX_INT)
    seq: int = Field(ge=1, le=MAX_INT)
    start: int
    end: int
    wh: int
    price: str = Field(pattern=PRICE)
    price_ref: str


class EvidencePrice(BaseModel):
    ref: str
    price: str = Field(pattern=PRICE)
    valid_from: dt.date
    valid_to: dt.date
    source: str


class ChainLink(BaseModel):
    seq: int
    hash: str = Field(description="SHA-256, standard base64")


class EvidenceChain(BaseModel):
    epoch: int
    previous: ChainLink
    records: list[list[int]]
    head: ChainLink
    head_sig: str = Field(description="the cable's Ed25519 signature of the head, base64")


class EvidenceCable(BaseModel):
    serial: str
    certificate: str = Field(description="the cable's X.509 certificate, PEM")
    certificate_sha256: str
    chains: list[EvidenceChain]


class EvidenceBundle(BaseModel):
    format: Literal["cablepin/v1/receipt-evidence"]
    zone: str
    receipt: EvidenceReceipt
    lines: list[EvidenceLine]
    prices: list[EvidencePrice]
    cables: list[EvidenceCable]


# ------------------------------------------------------------------ money out (M4)


class BankRequest(Strict):
    iban: str = Field(
        min_length=5, max_length=42, description="the driver's IBAN; spaces are allowed"
    )
    holder: str | None = Field(
        default=None,
        min_length=1,
        max_length=70,
        description="the account holder, when it is not the driver",
    )


class BankOut(BaseModel):
    iban: str | None = Field(description="the full IBAN: only its owner ever gets it")
    iban_masked: str | None = Field(description="what everyone else sees, e.g. DE** **** ... 3000")
    holder: str | None
    updated_at: dt.datetime | None


class PayrollRequest(Strict):
    personnel_number: str = Field(
        pattern=PERSONNEL_NUMBER, max_length=20, description="the driver's number in payroll"
    )


class PayrollOut(BaseModel):
    driver_email: str
    personnel_number: str | None
    iban_masked: str | None


class PayoutReceipt(BaseModel):
    receipt_id: int
    driver_email: str
    driver_name: str
    personnel_number: str | None
    amount: str = Field(pattern=MONEY)
    iban_masked: str | None
    paid_at: dt.datetime | None
    payment_run_id: int | None
    problem: Literal["no_iban"] | None = Field(
        description="why a transfer cannot pay it (unpaid receipts only): the driver has no IBAN"
    )


class PaymentRunOut(BaseModel):
    id: int
    month: str
    created_at: dt.datetime
    count: int
    amount: str = Field(pattern=MONEY)
    download: str = Field(description="where the same file can be downloaded again")


class MonthPayouts(BaseModel):
    month: str
    approved_amount: str = Field(pattern=MONEY)
    unpaid_amount: str = Field(pattern=MONEY, description="approved, not yet in a transfer")
    receipts: list[PayoutReceipt] = Field(description="the month's approved receipts")
    unpayable: list[int] = Field(description="unpaid receipts no transfer can pay yet")
    runs: list[PaymentRunOut]

"""Money out (M4): bank details, personnel numbers, the payroll file and SEPA transfers.

Rules (the pure ones in ``domain/payouts.py``):

* A driver sets their own IBAN (checked, sealed at rest with the deployment's
  bank key, ``sealed.py``); only they get it back in full, everyone else sees
  it masked. No IBAN, sealed or masked, goes into an audit event or a log.
* A fleet manager sets the personnel number of a driver of their organisation
  (another organisation's driver answers 404 ``unknown_driver``).
* The payroll file lists every approved receipt of the month, paid or not,
  in the German payroll format (``portal/export.py``: ``;``, decimal comma,
  UTF-8, formula cells neutralised).
* A payment run pays every approved receipt of the month that is not paid
  and whose driver has an IBAN. It claims them with one conditional
  ``UPDATE receipts ... WHERE paid_at IS NULL RETURNING id``: of two runs at
  once on two processes, a receipt goes to exactly one (the other's UPDATE
  waits for the first to commit, then no longer matches it). The file is
  built from what the UPDATE returned, validated against the pain.001 XSD,
  kept (sealed) with the run, and every receipt it pays is audited
  ``receipt.paid``. The run and the marks are one transaction: a file that
  fails to build marks nothing. A file that was built but never arrived is
  fetched again from the run, byte for byte (same message id, so a bank that
  already took it refuses the copy as a duplicate).
* Unpaid receipts whose driver has no IBAN are listed (``unpayable``), never
  dropped in silence.

Writes are ``@transactional`` units: in a request they join its unit of work (``cloud/deps.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sepaxml import SepaTransfer
from sepaxml.validation import ValidationError as SepaValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cablepin.cloud.billing_schemas import (
    BankOut,
    BankRequest,
    MonthPayouts,
    PaymentRunOut,
    PayoutReceipt,
    PayrollOut,
    PayrollRequest,
)
from cablepin.cloud.db import transactional
from cablepin.cloud.domain import billing as billing_rules
from cablepin.cloud.domain import payouts as rules
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import (
    CloudError,
    InvalidRequest,
    NoDebtorAccount,
    NotFound,
    NothingToPay,
    UnknownDriver,
    UnknownPaymentRun,
)
from cablepin.cloud.models import DriverAccount, PaymentRun, ReceiptRow, User
from cablepin.cloud.portal.export import csv_stream, decimal_text
from cablepin.cloud.sealed import seal, unseal
from cablepin.cloud.services import audit
from cablepin.cloud.services.accounts import normalise_email
from cablepin.cloud.services.billing import invalid_account, policy_for
from cablepin.evidence.money import money_text

__all__ = [
    "PAYROLL_HEADER",
    "PaymentFile",
    "get_bank",
    "month_payouts",
    "pay_month",
    "payroll_csv",
    "run_document",
    "set_bank",
    "set_personnel_number",
]

#: The payroll file's columns, in German as the payroll programs that import it expect.
PAYROLL_HEADER = ("Personalnummer", "Name", "Jahr", "Monat", "Lohnart", "Betrag")


def _org_id(actor: Actor) -> int:
    if actor.org_id is None:
        raise NotFound("support has no organisation of its own; act as a fleet manager")
    return actor.org_id


def _month(text: str) -> str:
    try:
        billing_rules.parse_month(text)
    except ValueError as e:
        raise InvalidRequest(str(e)) from e
    return text


def _iban_context(user_id: int) -> str:
    return f"iban:{user_id}"


# ------------------------------------------------------------------ the driver's IBAN


def _bank_out(row: DriverAccount | None, iban: str | None) -> BankOut:
    return BankOut(
        iban=iban,
        iban_masked=row.iban_masked if row else None,
        holder=row.holder if row else None,
        updated_at=row.bank_updated_at if row else None,
    )


@transactional
def set_bank(
    db: Session, actor: Actor, request: BankRequest, *, key: bytes, now: dt.datetime
) -> BankOut:
    """The signed-in driver's own IBAN (and holder, if not the driver)."""
    _org_id(actor)
    try:
        iban = rules.parse_iban(request.iban)
    except rules.BadAccount as e:
        raise invalid_account(e) from None
    row = db.get(DriverAccount, actor.id)
    if row is None:
        row = DriverAccount(user_id=actor.id)
        db.add(row)
    row.iban_sealed = seal(key, iban.encode(), context=_iban_context(actor.id))
    row.iban_masked = rules.mask_iban(iban)
    row.holder = request.holder
    row.bank_updated_at = now
    db.flush()
    audit.append(
        db,
        now=now,
        action="bank.set",
        actor=actor,
        org_id=actor.org_id,
        target=actor.email,
        details={"holder_given": request.holder is not None},
    )
    return _bank_out(row, iban)


def get_bank(db: Session, actor: Actor, *, key: bytes) -> BankOut:
    """The signed-in driver's own bank details, the IBAN in full (they are its owner)."""
    row = db.get(DriverAccount, actor.id)
    iban = None
    if row is not None and row.iban_sealed is not None:
        iban = unseal(key, row.iban_sealed, context=_iban_context(actor.id)).decode()
    return _bank_out(row, iban)


def account_of(db: Session, user_id: int) -> DriverAccount | None:
    """A driver's payroll and bank row (the portal shows its masked IBAN)."""
    return db.get(DriverAccount, user_id)


# ------------------------------------------------------------------ personnel numbers


@transactional
def set_personnel_number(
    db: Session, actor: Actor, email: str, request: PayrollRequest, *, now: dt.datetime
) -> PayrollOut:
    org_id = _org_id(actor)
    driver = db.scalar(
        select(User).where(
            User.email == normalise_email(email),
            User.org_id == org_id,
            User.role == Role.DRIVER.value,
        )
    )
    if driver is None:
        raise UnknownDriver(
            f"{email} is not a driver of your organisation; check the address on the drivers page"
        )
    row = db.get(DriverAccount, driver.id)
    if row is None:
        row = DriverAccount(user_id=driver.id)
        db.add(row)
    before = row.personnel_number
    row.personnel_number = request.personnel_number
    row.payroll_updated_at = now
    db.flush()
    audit.append(
        db,
        now=now,
        action="payroll.personnel_number_set",
        actor=actor,
        org_id=org_id,
        target=driver.email,
        # Not the numbers themselves: the hashed audit chain holds nothing personal (D2),
        # the driver's page shows the current one.
        details={"replaced": before is not None and before != request.personnel_number},
    )
    return PayrollOut(
        driver_email=driver.email,
        personnel_number=row.personnel_number,
        iban_masked=row.iban_masked,
    )


# ------------------------------------------------------------------ the month's receipts


def _approved(db: Session, org_id: int, month: str) -> list[Any]:
    """(receipt, driver, account or None) for every approved receipt of the month."""
    return list(
        db.execute(
            select(ReceiptRow, User, DriverAccount)
            .join(User, User.id == ReceiptRow.driver_id)
            .outerjoin(DriverAccount, DriverAccount.user_id == ReceiptRow.driver_id)
            .where(
                ReceiptRow.org_id == org_id,
                ReceiptRow.month == month,
                ReceiptRow.state == "approved",
            )
            .order_by(ReceiptRow.id)
        ).all()
    )


def _payable(account: DriverAccount | None) -> bool:
    return account is not None and account.iban_sealed is not None


def _run_out(run: PaymentRun) -> PaymentRunOut:
    return PaymentRunOut(
        id=run.id,
        month=run.month,
        created_at=run.created_at,
        count=run.count,
        amount=money_text(run.amount),
        download=f"/api/v1/billing/payment-runs/{run.id}/sepa.xml",
    )


def month_payouts(db: Session, actor: Actor, month: str) -> MonthPayouts:
    """The month's approved receipts, which are paid by which run, and which cannot be."""
    org_id = _org_id(actor)
    month = _month(month)
    rows = _approved(db, org_id, month)
    receipts = [
        PayoutReceipt(
            receipt_id=receipt.id,
            driver_email=driver.email,
            driver_name=driver.name,
            personnel_number=account.personnel_number if account else None,
            amount=money_text(receipt.amount),
            iban_masked=account.iban_masked if account else None,
            paid_at=receipt.paid_at,
            payment_run_id=receipt.payment_run_id,
            problem=None if receipt.paid_at is not None or _payable(account) else "no_iban",
        )
        for receipt, driver, account in rows
    ]
    runs = db.scalars(
        select(PaymentRun)
        .where(PaymentRun.org_id == org_id, PaymentRun.month == month)
        .order_by(PaymentRun.id)
    ).all()
    return MonthPayouts(
        month=month,
        approved_amount=money_text(sum((r.amount for r, _d, _a in rows), Decimal(0))),
        unpaid_amount=money_text(
            sum((r.amount for r, _d, _a in rows if r.paid_at is None), Decimal(0))
        ),
        receipts=receipts,
        unpayable=[r.receipt_id for r in receipts if r.problem is not None],
        runs=[_run_out(run) for run in runs],
    )


# ------------------------------------------------------------------ payroll (CSV)


def payroll_csv(db: Session, actor: Actor, month: str) -> tuple[str, str]:
    """(the file, its name): one row per approved receipt, as German payroll imports it."""
    org_id = _org_id(actor)
    month = _month(month)
    year, number = billing_rules.parse_month(month)
    policy = policy_for(db, org_id, year)
    wage_type = policy.wage_type if policy is not None else None
    rows = (
        [
            account.personnel_number if account else None,
            driver.name,
            year,
            number,
            wage_type,
            decimal_text(money_text(receipt.amount), "de"),
        ]
        for receipt, driver, account in _approved(db, org_id, month)
    )
    return "".join(csv_stream(PAYROLL_HEADER, rows, locale="de")), f"payroll-{month}.csv"


# ------------------------------------------------------------------ SEPA transfer (pain.001)


class _Transfer(SepaTransfer):  # type: ignore[misc]  # sepaxml has no type hints
    """sepaxml's transfer with the message id and creation time given, not read from the clock."""

    def __init__(self, config: dict[str, Any], *, msg_id: str, created: dt.datetime) -> None:
        self._given = (msg_id, created)
        super().__init__(config, schema=rules.SEPA_SCHEMA, clean=True)

    def _create_header(self) -> None:
        msg_id, created = self._given
        self.msg_id = msg_id
        super()._create_header()
        stamp = created.astimezone(billing_rules.BILLING_ZONE).strftime("%Y-%m-%dT%H:%M:%S")
        self._xml.find("CstmrCdtTrfInitn/GrpHdr/CreDtTm").text = stamp


@dataclass(frozen=True)
class PaymentFile:
    run_id: int
    document: bytes
    name: str
    unpayable: list[int]


def _run_name(run: PaymentRun) -> str:
    return f"sepa-{run.month}-run-{run.id}.xml"


@transactional
def pay_month(
    db: Session, actor: Actor, month: str, *, key: bytes, now: dt.datetime
) -> PaymentFile:
    """Make the month's transfer file and mark what it pays as paid (one transaction)."""
    org_id = _org_id(actor)
    month = _month(month)
    year = billing_rules.parse_month(month)[0]
    policy = policy_for(db, org_id, year)
    if policy is None or not policy.debtor_iban or not policy.debtor_name:
        raise NoDebtorAccount(
            f"the billing policy for {year} names no account to pay from; set the debtor "
            f"name, IBAN and BIC with PUT /api/v1/billing/policy/{year}, then download again",
            year=year,
        )
    unpaid = [row for row in _approved(db, org_id, month) if row[0].paid_at is None]
    unpayable = [receipt.id for receipt, _driver, account in unpaid if not _payable(account)]
    payable = [row for row in unpaid if _payable(row[2])]
    if not payable:
        raise NothingToPay(
            f"no approved receipt of {month} is left to pay"
            + (
                f"; {len(unpayable)} wait for their driver's IBAN (receipts "
                f"{', '.join(map(str, unpayable))})"
                if unpayable
                else ""
            )
            + f"; earlier files are under GET /api/v1/billing/{month}/payouts",
            month=month,
            unpayable=unpayable,
        )
    run = PaymentRun(
        org_id=org_id,
        month=month,
        created_at=now,
        created_by=actor.id,
        count=0,
        amount=Decimal(0),
        msg_id="",
        document_sealed=b"",
    )
    db.add(run)
    db.flush()
    won = set(
        db.scalars(
            update(ReceiptRow)
            .where(
                ReceiptRow.id.in_([receipt.id for receipt, _d, _a in payable]),
                ReceiptRow.state == "approved",
                ReceiptRow.paid_at.is_(None),
            )
            .values(paid_at=now, payment_run_id=run.id)
            .returning(ReceiptRow.id)
            .execution_options(synchronize_session=False)
        ).all()
    )
    paid = [row for row in payable if row[0].id in won]
    if not paid:
        raise NothingToPay(
            f"another download paid the receipts of {month} a moment ago; fetch that file "
            f"again from GET /api/v1/billing/{month}/payouts",
            month=month,
            unpayable=unpayable,
        )
    run.msg_id = f"CABLEPIN-RUN-{run.id}"
    config: dict[str, Any] = {
        "name": policy.debtor_name,
        "IBAN": policy.debtor_iban,
        "batch": True,
        "currency": "EUR",
    }
    if policy.debtor_bic:
        config["BIC"] = policy.debtor_bic
    transfer = _Transfer(config, msg_id=run.msg_id, created=now)
    execution = now.astimezone(billing_rules.BILLING_ZONE).date()
    for receipt, driver, account in paid:
        iban = unseal(key, account.iban_sealed, context=_iban_context(driver.id)).decode()
        transfer.add_payment(
            {
                "name": account.holder or driver.name,
                "IBAN": iban,
                "amount": rules.cents(receipt.amount),
                "execution_date": execution,
                "description": rules.remittance(receipt.id, month),
                "endtoend_id": rules.end_to_end_id(receipt.id),
            }
        )
    try:
        document: bytes = transfer.export(validate=True)
    except SepaValidationError as e:
        raise CloudError(
            f"the transfer file for {month} did not pass the {rules.SEPA_SCHEMA} schema; "
            "nothing was marked paid; tell support"
        ) from e
    run.count = len(paid)
    run.amount = sum((receipt.amount for receipt, _d, _a in paid), Decimal(0))
    run.document_sealed = seal(key, document, context=f"payment_run:{run.id}")
    db.flush()
    for receipt, driver, _account in paid:
        audit.append(
            db,
            now=now,
            action="receipt.paid",
            actor=actor,
            org_id=org_id,
            target=driver.email,
            details={
                "receipt_id": receipt.id,
                "month": month,
                "amount": money_text(receipt.amount),
                "payment_run_id": run.id,
            },
        )
    return PaymentFile(run.id, document, _run_name(run), unpayable)


@transactional
def run_document(
    db: Session, actor: Actor, run_id: int, *, key: bytes, now: dt.datetime
) -> tuple[bytes, str]:
    """A payment run's file again, byte for byte (audited: it pays real money)."""
    run = db.get(PaymentRun, run_id)
    if run is None or run.org_id != actor.org_id:
        raise UnknownPaymentRun(f"there is no payment run {run_id} you can see; check the id")
    document = unseal(key, run.document_sealed, context=f"payment_run:{run.id}")
    audit.append(
        db,
        now=now,
        action="payment_run.downloaded",
        actor=actor,
        org_id=run.org_id,
        target=run.month,
        details={"payment_run_id": run.id},
    )
    return document, _run_name(run)

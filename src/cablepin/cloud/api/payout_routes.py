"""Money out (M4) under ``/api/v1``: bank details, personnel numbers, payroll file, SEPA.

DESIGN.md "Reimbursement (M1-M8): the contract" names ``PUT /me/bank``,
``PUT /drivers/{email}/payroll``, ``GET /billing/{month}/payroll.csv`` and
``GET /billing/{month}/sepa.xml``; ``GET /me/bank``, ``GET
/billing/{month}/payouts`` and ``GET /billing/payment-runs/{id}/sepa.xml``
are ours (what a client needs to see what is paid and to fetch a file again).
Rules and scoping are in ``services/payouts.py``; who may call is
``domain/policy.py``.

``sepa.xml`` answers the file with ``X-Payment-Run`` (the run's id, to fetch
it again) and, when some unpaid receipts wait for their driver's IBAN,
``X-Unpayable-Receipts`` (their ids, comma-separated); when nothing is left to
pay it answers 409 ``nothing_to_pay`` with ``unpayable`` in the body.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from cablepin.cloud.api.deps import CurrentActor, Db, Keys, Now, authorize
from cablepin.cloud.api.routes import ERRORS
from cablepin.cloud.billing_schemas import (
    MONTH,
    BankOut,
    BankRequest,
    MonthPayouts,
    PayrollOut,
    PayrollRequest,
)
from cablepin.cloud.services import payouts

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", dependencies=[Depends(authorize)], responses=ERRORS)

Month = Annotated[str, Path(pattern=MONTH, min_length=7, max_length=7, description="YYYY-MM")]
Email = Annotated[str, Path(min_length=3, max_length=320, description="the driver's e-mail")]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]

DOWNLOAD = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}


@router.put("/me/bank", tags=["payouts"])
def put_bank(body: BankRequest, db: Db, now: Now, keys: Keys, actor: CurrentActor) -> BankOut:
    """The driver's own IBAN (checked; 409 ``invalid_account`` says which check failed)."""
    out = payouts.set_bank(db, actor, body, key=keys.bank_key, now=now)
    return out


@router.get("/me/bank", tags=["payouts"])
def get_bank(db: Db, keys: Keys, actor: CurrentActor) -> BankOut:
    """The driver's own bank details, the IBAN in full (nobody else gets it)."""
    return payouts.get_bank(db, actor, key=keys.bank_key)


@router.put("/drivers/{email}/payroll", tags=["payouts"])
def put_payroll(
    email: Email, body: PayrollRequest, db: Db, now: Now, actor: CurrentActor
) -> PayrollOut:
    """Set a driver's personnel number (the payroll file's first column)."""
    out = payouts.set_personnel_number(db, actor, email, body, now=now)
    return out


@router.get("/billing/{month}/payouts", tags=["payouts"])
def month_payouts(month: Month, db: Db, actor: CurrentActor) -> MonthPayouts:
    """The month's approved receipts: paid by which run, or why no transfer can pay them."""
    return payouts.month_payouts(db, actor, month)


@router.get(
    "/billing/{month}/payroll.csv",
    tags=["payouts"],
    response_class=Response,
    responses={200: {"description": "one row per approved receipt", "content": {"text/csv": {}}}},
)
def payroll_csv(month: Month, db: Db, actor: CurrentActor) -> Response:
    """Approved receipts for payroll: ``;``, decimal comma, UTF-8 (German payroll import)."""
    body, name = payouts.payroll_csv(db, actor, month)
    return Response(
        body.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', **DOWNLOAD},
    )


@router.get(
    "/billing/{month}/sepa.xml",
    tags=["payouts"],
    response_class=Response,
    responses={
        200: {
            "description": "pain.001.001.09 paying every approved receipt not yet paid; "
            "they are marked paid. X-Payment-Run: the run's id; X-Unpayable-Receipts: "
            "unpaid receipts whose driver has no IBAN",
            "content": {"application/xml": {}},
        }
    },
)
def sepa_xml(month: Month, db: Db, now: Now, keys: Keys, actor: CurrentActor) -> Response:
    """A SEPA credit transfer for the month's unpaid approved receipts; marks them paid."""
    paid = payouts.pay_month(db, actor, month, key=keys.bank_key, now=now)
    headers = {
        "Content-Disposition": f'attachment; filename="{paid.name}"',
        "X-Payment-Run": str(paid.run_id),
        **DOWNLOAD,
    }
    if paid.unpayable:
        headers["X-Unpayable-Receipts"] = ",".join(map(str, paid.unpayable))
    return Response(paid.document, media_type="application/xml", headers=headers)


@router.get(
    "/billing/payment-runs/{id}/sepa.xml",
    tags=["payouts"],
    response_class=Response,
    responses={
        200: {"description": "the run's file, unchanged", "content": {"application/xml": {}}}
    },
)
def run_sepa_xml(id: Id, db: Db, now: Now, keys: Keys, actor: CurrentActor) -> Response:
    """An earlier transfer file again, byte for byte (it pays nothing new)."""
    document, name = payouts.run_document(db, actor, id, key=keys.bank_key, now=now)
    return Response(
        document,
        media_type="application/xml",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Payment-Run": str(id),
            **DOWNLOAD,
        },
    )

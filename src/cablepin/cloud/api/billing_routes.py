"""The reimbursement routes (M1-M6) under ``/api/v1``: parse, call a service, commit.

DESIGN.md "Reimbursement (M1-M8): the contract" is the contract; who may call
each route is ``domain/policy.py``; organisation and driver scoping is in
``services/billing.py`` and ``services/receipts.py``. Each route is one unit
of work: the service changes rows and appends audit events, the route commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import Response

from cablepin.cloud.api.deps import CurrentActor, Db, Now, authorize
from cablepin.cloud.api.routes import ERRORS, Reason
from cablepin.cloud.billing_schemas import (
    MONTH,
    PRICE,
    DecisionRequest,
    EvidenceBundle,
    FlatPriceOut,
    FlatPriceRequest,
    MonthView,
    PolicyOut,
    PolicyRequest,
    ReceiptList,
    ReceiptOut,
    ReceiptSubmit,
    TariffList,
    TariffOut,
)
from cablepin.cloud.domain.billing import MAX_DOCUMENT, MAX_UPLOAD
from cablepin.cloud.headers import download_headers
from cablepin.cloud.services import billing, receipts

__all__ = ["TARIFF_UPLOAD_LIMIT", "TARIFF_UPLOAD_PATH", "router"]

TARIFF_UPLOAD_PATH = "/api/v1/me/tariffs"
#: The proof document (5 MB) and the form around it.
TARIFF_UPLOAD_LIMIT = MAX_UPLOAD

router = APIRouter(prefix="/api/v1", dependencies=[Depends(authorize)], responses=ERRORS)

Year = Annotated[int, Path(ge=2000, le=2100, description="calendar year, e.g. 2026")]
Month = Annotated[str, Path(pattern=MONTH, min_length=7, max_length=7, description="YYYY-MM")]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


# ------------------------------------------------------------------ policy (M1)


@router.put("/billing/policy/{year}", tags=["billing"])
def put_policy(year: Year, body: PolicyRequest, db: Db, now: Now, actor: CurrentActor) -> PolicyOut:
    """Set the organisation's pricing method and deadline for one calendar year."""
    out = billing.put_policy(db, actor, year, body, now=now)
    return out


@router.get("/billing/policy/{year}", tags=["billing"])
def get_policy(year: Year, db: Db, actor: CurrentActor) -> PolicyOut:
    """The year's policy and, for the flat method, the flat price and its source."""
    return billing.get_policy(db, actor, year)


@router.put("/billing/flat-prices/{year}", tags=["billing"])
def put_flat_price(
    year: Year, body: FlatPriceRequest, db: Db, now: Now, actor: CurrentActor
) -> FlatPriceOut:
    """Support: set the statistical flat price of a year (reference data; audited)."""
    out = billing.put_flat_price(db, actor, year, body, now=now)
    return out


# ------------------------------------------------------------------ tariffs (M2)


@router.post(
    "/me/tariffs",
    tags=["billing"],
    status_code=201,
    responses={
        413: {"model": ERRORS[422]["model"], "description": "the proof is over 5 MB"},
    },
)
def add_tariff(
    db: Db,
    now: Now,
    actor: CurrentActor,
    valid_from: Annotated[dt.date, Form(description="first day, YYYY-MM-DD")],
    valid_to: Annotated[dt.date, Form(description="last day, YYYY-MM-DD")],
    document: Annotated[UploadFile, File(description="the proof: PDF, PNG or JPEG, <= 5 MB")],
    # Optional form fields default to "" rather than None: a multipart form has no null.
    price: Annotated[
        str,
        Form(
            pattern=PRICE,
            max_length=10,
            description="EUR/kWh gross, e.g. 0.3275 (a fixed tariff)",
        ),
    ] = "",
    monthly_prices: Annotated[
        str,
        Form(
            min_length=2,
            max_length=4000,
            description='a dynamic tariff: JSON {"YYYY-MM": "0.31", ...} for every month of it',
        ),
    ] = "",
) -> TariffOut:
    """Store a tariff with its proof document; it waits for the fleet manager's check."""
    content = document.file.read(MAX_DOCUMENT + 1)
    out = billing.add_tariff(
        db,
        actor,
        price=price or None,
        monthly_prices=monthly_prices or None,
        valid_from=valid_from,
        valid_to=valid_to,
        document=content,
        now=now,
    )
    return out


@router.get("/me/tariffs", tags=["billing"])
def my_tariffs(db: Db, actor: CurrentActor) -> TariffList:
    return billing.list_tariffs(db, actor)


@router.get("/tariffs", tags=["billing"])
def list_tariffs(
    db: Db,
    actor: CurrentActor,
    state: Annotated[Literal["pending", "verified", "rejected"] | None, Query()] = None,
) -> TariffList:
    """The organisation's tariffs (to verify the pending ones)."""
    return billing.list_tariffs(db, actor, state=state)


@router.get(
    "/tariffs/{id}/document",
    tags=["billing"],
    response_class=Response,
    responses={
        200: {
            "description": "the proof document as uploaded",
            "content": {"application/pdf": {}, "image/png": {}, "image/jpeg": {}},
        }
    },
)
def tariff_document(id: Id, db: Db, actor: CurrentActor) -> Response:
    content, media_type, name = billing.tariff_document(db, actor, id)
    return Response(
        content,
        media_type=media_type,
        headers=download_headers(name),
    )


@router.post("/tariffs/{id}/verify", tags=["billing"])
def verify_tariff(id: Id, db: Db, now: Now, actor: CurrentActor) -> TariffOut:
    out = billing.decide_tariff(db, actor, id, verify=True, reason=None, now=now)
    return out


@router.post("/tariffs/{id}/reject", tags=["billing"])
def reject_tariff(
    id: Id, body: DecisionRequest, db: Db, now: Now, actor: CurrentActor
) -> TariffOut:
    out = billing.decide_tariff(db, actor, id, verify=False, reason=body.reason, now=now)
    return out


# ------------------------------------------------------------------ receipts (M3, M4)


@router.get("/me/months/{month}", tags=["billing"])
def month_view(month: Month, db: Db, now: Now, actor: CurrentActor) -> MonthView:
    """The month's sessions with the price each gets and the receipt it is on."""
    return receipts.month_view(db, actor, month, now=now)


@router.post("/me/receipts", tags=["billing"], status_code=201)
def submit_receipt(body: ReceiptSubmit, db: Db, now: Now, actor: CurrentActor) -> ReceiptOut:
    """Submit the month's receipt (every session not on a receipt, minus ``exclude``)."""
    out = receipts.submit(db, actor, body, now=now)
    return out


@router.get("/me/receipts", tags=["billing"])
def my_receipts(
    db: Db,
    actor: CurrentActor,
    month: Annotated[str | None, Query(pattern=MONTH, max_length=7)] = None,
) -> ReceiptList:
    return receipts.my_receipts(db, actor, month=month)


@router.get("/receipts", tags=["billing"])
def list_receipts(
    db: Db,
    now: Now,
    actor: CurrentActor,
    month: Annotated[str, Query(pattern=MONTH, max_length=7, description="YYYY-MM")],
    reason: Reason = None,
) -> ReceiptList:
    out = receipts.list_receipts(db, actor, month=month, reason=reason, now=now)
    return out


@router.post("/receipts/{id}/approve", tags=["billing"])
def approve_receipt(id: Id, db: Db, now: Now, actor: CurrentActor) -> ReceiptOut:
    out = receipts.decide(db, actor, id, approve=True, reason=None, now=now)
    return out


@router.post("/receipts/{id}/reject", tags=["billing"])
def reject_receipt(
    id: Id, body: DecisionRequest, db: Db, now: Now, actor: CurrentActor
) -> ReceiptOut:
    out = receipts.decide(db, actor, id, approve=False, reason=body.reason, now=now)
    return out


# ------------------------------------------------------------------ evidence (M6)


@router.get("/receipts/{id}/evidence", tags=["billing"])
def receipt_evidence(
    id: Id, db: Db, now: Now, actor: CurrentActor, reason: Reason = None
) -> EvidenceBundle:
    """Everything an auditor needs to check the receipt offline with the factory CA."""
    out = receipts.evidence(db, actor, id, reason=reason, now=now)
    return out


# ------------------------------------------------------------------ the PDF (M5)


@router.get(
    "/receipts/{id}/pdf",
    tags=["billing"],
    response_class=Response,
    responses={
        200: {
            "description": "the receipt in its driver's language",
            "content": {"application/pdf": {}},
        }
    },
)
def receipt_pdf(id: Id, db: Db, now: Now, actor: CurrentActor) -> Response:
    """The receipt as a PDF (M5): sessions, prices, total and the cable's evidence."""
    content, name = receipts.pdf(db, actor, id, now=now)
    return Response(
        content,
        media_type="application/pdf",
        headers=download_headers(name),
    )

"""Billing policy, flat prices and tariffs (M1, M2).

Rules (the pure ones are in ``domain/billing.py``):

* A fleet manager sets their organisation's policy per calendar year; every
  change is audited (the debtor IBAN never goes into the audit details).
* The flat price per year lives only in ``flat_prices`` (seeded by migration
  0003); only support changes it, with a reason, audited.
* A driver's tariff proof is stored in the database (every process sees it,
  no public path); it is told by its content, at most 5 MB. Overlapping
  tariffs that are not rejected are refused, and so is a driver's
  ``MAX_PENDING_TARIFFS`` + 1st pending tariff. A fleet manager verifies or
  rejects a pending tariff once (conditional UPDATE), audited.
* Another organisation's tariff answers 404 ``unknown_tariff``; a driver sees
  only their own.

Writes are ``@transactional`` units: in a request they join its unit of work (``cloud/deps.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cablepin.cloud.billing_schemas import (
    FlatPriceOut,
    FlatPriceRequest,
    PolicyOut,
    PolicyRequest,
    TariffList,
    TariffOut,
)
from cablepin.cloud.db import transactional
from cablepin.cloud.domain import billing as rules
from cablepin.cloud.domain import payouts
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import (
    AlreadyDecided,
    BadDocument,
    InvalidAccount,
    InvalidRequest,
    InvalidTariff,
    NotFound,
    TariffOverlap,
    TooLarge,
    TooManyPendingTariffs,
    UnknownTariff,
)
from cablepin.cloud.models import BillingPolicy, FlatPrice, Tariff, User
from cablepin.cloud.services import audit
from cablepin.evidence.money import parse_price, price_text

__all__ = [
    "add_tariff",
    "decide_tariff",
    "flat_price",
    "get_policy",
    "invalid_account",
    "list_tariffs",
    "policy_for",
    "put_flat_price",
    "put_policy",
    "tariff_document",
]

MAX_YEAR = 2100


def _check_year(year: int) -> None:
    if not 2000 <= year <= MAX_YEAR:
        raise InvalidRequest(f"{year} is not a billing year; use a year such as 2026")


def _org_id(actor: Actor) -> int:
    if actor.org_id is None:
        raise NotFound("support has no organisation of its own; act as a fleet manager")
    return actor.org_id


def policy_for(db: Session, org_id: int, year: int) -> BillingPolicy | None:
    return db.scalar(
        select(BillingPolicy).where(BillingPolicy.org_id == org_id, BillingPolicy.year == year)
    )


def flat_price(db: Session, year: int) -> FlatPrice | None:
    return db.get(FlatPrice, year)


def _policy_out(db: Session, row: BillingPolicy) -> PolicyOut:
    flat = flat_price(db, row.year) if row.method == rules.Method.FLAT else None
    return PolicyOut(
        year=row.year,
        method=rules.Method(row.method).value,
        deadline_day=row.deadline_day,
        recipient_email=row.recipient_email,
        wage_type=row.wage_type,
        debtor_name=row.debtor_name,
        debtor_iban=row.debtor_iban,
        debtor_bic=row.debtor_bic,
        flat_price=price_text(flat.price) if flat else None,
        flat_price_source=flat.source if flat else None,
    )


def get_policy(db: Session, actor: Actor, year: int) -> PolicyOut:
    _check_year(year)
    row = policy_for(db, _org_id(actor), year)
    if row is None:
        raise NotFound(
            f"there is no billing policy for {year} yet; a fleet manager sets it with "
            f"PUT /api/v1/billing/policy/{year}"
        )
    return _policy_out(db, row)


def invalid_account(e: payouts.BadAccount) -> InvalidAccount:
    """The refusal of an IBAN or BIC: which check failed, never the value (it may be logged)."""
    what = {
        payouts.AccountProblem.CHECKSUM: "its check digits do not match (a typo?)",
        payouts.AccountProblem.LENGTH: "it has the wrong length for its country",
        payouts.AccountProblem.COUNTRY: "it does not start with a known country code",
        payouts.AccountProblem.FORMAT: "it has characters or a structure that are not allowed",
        payouts.AccountProblem.NOT_SEPA: "its country is outside the SEPA area",
    }[e.problem]
    return InvalidAccount(
        f"the {e.what} is not valid: {what}; copy it from a bank statement and send it again",
        problem=e.problem.value,
        field=e.what.lower(),
    )


def _bank(request: PolicyRequest) -> tuple[str | None, str | None]:
    try:
        iban = payouts.parse_iban(request.debtor_iban) if request.debtor_iban else None
        bic = payouts.parse_bic(request.debtor_bic) if request.debtor_bic else None
    except payouts.BadAccount as e:
        raise invalid_account(e) from None
    return iban, bic


@transactional
def put_policy(
    db: Session, actor: Actor, year: int, request: PolicyRequest, *, now: dt.datetime
) -> PolicyOut:
    _check_year(year)
    org_id = _org_id(actor)
    iban, bic = _bank(request)
    row = policy_for(db, org_id, year)
    if row is None:
        row = BillingPolicy(org_id=org_id, year=year)
        db.add(row)
    row.method = request.method
    row.deadline_day = request.deadline_day
    row.recipient_email = request.recipient_email
    row.wage_type = request.wage_type
    row.debtor_name = request.debtor_name
    row.debtor_iban = iban
    row.debtor_bic = bic
    row.updated_at = now
    row.updated_by = actor.id
    db.flush()
    audit.append(
        db,
        now=now,
        action="billing.policy_set",
        actor=actor,
        org_id=org_id,
        target=str(year),
        details={
            "method": request.method,
            "deadline_day": request.deadline_day,
            "recipient_email": request.recipient_email,
            "wage_type": request.wage_type,
            "debtor_account_set": iban is not None,
        },
    )
    return _policy_out(db, row)


@transactional
def put_flat_price(
    db: Session, actor: Actor, year: int, request: FlatPriceRequest, *, now: dt.datetime
) -> FlatPriceOut:
    _check_year(year)
    try:
        price = parse_price(request.price)
    except ValueError as e:
        raise InvalidRequest(str(e)) from e
    row = flat_price(db, year)
    before = price_text(row.price) if row else None
    if row is None:
        row = FlatPrice(year=year)
        db.add(row)
    row.price, row.source, row.updated_at = price, request.source, now
    db.flush()
    audit.append(
        db,
        now=now,
        action="billing.flat_price_set",
        actor=actor,
        org_id=None,
        target=str(year),
        reason=request.reason,
        details={"price": price_text(price), "before": before, "source": request.source},
    )
    return FlatPriceOut(year=year, price=price_text(price), source=request.source)


# ------------------------------------------------------------------ tariffs


def _tariff_out(row: Tariff, driver_email: str, document_size: int) -> TariffOut:
    monthly = json.loads(row.monthly_prices) if row.monthly_prices else None
    return TariffOut(
        id=row.id,
        driver_email=driver_email,
        kind="dynamic" if monthly is not None else "fixed",
        price=price_text(row.price) if row.price is not None else None,
        monthly_prices=monthly,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        state=row.state,
        reason=row.reason,
        document_type=row.document_type,
        document_size=document_size,
        document_sha256=row.document_sha256,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


@transactional
def add_tariff(
    db: Session,
    actor: Actor,
    *,
    price: str | None,
    monthly_prices: str | None,
    valid_from: dt.date,
    valid_to: dt.date,
    document: bytes,
    now: dt.datetime,
) -> TariffOut:
    org_id = _org_id(actor)
    if valid_to < valid_from:
        raise InvalidTariff("valid_to is before valid_from; give the tariff's first and last day")
    if len(document) > rules.MAX_DOCUMENT:
        raise TooLarge(
            f"the proof document is larger than {rules.MAX_DOCUMENT // (1024 * 1024)} MB; "
            "send a smaller scan or PDF"
        )
    media_type = rules.detect_document(document)
    if media_type is None:
        raise BadDocument(
            "the proof document is not a PDF, PNG or JPEG (judged by its content, not its "
            "name); upload the contract or bill as one of these"
        )
    if (price is None) == (monthly_prices is None):
        raise InvalidTariff(
            "give either price (a fixed tariff) or monthly_prices (a dynamic tariff), not both"
        )
    fixed: Decimal | None = None
    monthly_json: str | None = None
    try:
        if price is not None:
            fixed = parse_price(price)
        else:
            assert monthly_prices is not None
            monthly = rules.parse_monthly_prices(monthly_prices, valid_from, valid_to)
            monthly_json = rules.monthly_prices_json(monthly)
    except ValueError as e:
        raise InvalidTariff(str(e)) from e
    # One driver's uploads queue on their user row (PostgreSQL), so two at once
    # cannot both pass the overlap check; SQLite transactions are serial anyway.
    db.execute(select(User.id).where(User.id == actor.id).with_for_update())
    pending = db.scalar(
        select(func.count())
        .select_from(Tariff)
        .where(Tariff.driver_id == actor.id, Tariff.state == "pending")
    )
    if (pending or 0) >= rules.MAX_PENDING_TARIFFS:
        raise TooManyPendingTariffs(
            f"you already have {pending} tariffs waiting for your fleet manager's decision "
            f"(at most {rules.MAX_PENDING_TARIFFS}); ask them to verify or reject those first, "
            "then upload this one again"
        )
    clash = db.scalar(
        select(Tariff)
        .where(
            Tariff.driver_id == actor.id,
            Tariff.state != "rejected",
            Tariff.valid_from <= valid_to,
            Tariff.valid_to >= valid_from,
        )
        .order_by(Tariff.valid_from)
        .limit(1)
    )
    if clash is not None:
        raise TariffOverlap(
            f"this tariff ({valid_from} to {valid_to}) overlaps tariff {clash.id} "
            f"({clash.valid_from} to {clash.valid_to}); choose dates after or before it",
            tariff_id=clash.id,
        )
    row = Tariff(
        org_id=org_id,
        driver_id=actor.id,
        price=fixed,
        monthly_prices=monthly_json,
        valid_from=valid_from,
        valid_to=valid_to,
        state="pending",
        document=document,
        document_type=media_type,
        document_sha256=hashlib.sha256(document).hexdigest(),
        created_at=now,
    )
    db.add(row)
    db.flush()
    audit.append(
        db,
        now=now,
        action="tariff.added",
        actor=actor,
        org_id=org_id,
        target=actor.email,
        details={
            "tariff_id": row.id,
            "valid_from": valid_from.isoformat(),
            "valid_to": valid_to.isoformat(),
            "document_sha256": row.document_sha256,
        },
    )
    return _tariff_out(row, actor.email, len(document))


def list_tariffs(db: Session, actor: Actor, *, state: str | None = None) -> TariffList:
    """A driver's own tariffs, or (fleet manager) the organisation's."""
    query = (
        select(Tariff, User.email, func.length(Tariff.document))
        .join(User, User.id == Tariff.driver_id)
        .order_by(Tariff.valid_from.desc(), Tariff.id.desc())
    )
    if actor.role is Role.DRIVER:
        query = query.where(Tariff.driver_id == actor.id)
    else:
        query = query.where(Tariff.org_id == _org_id(actor))
    if state is not None:
        query = query.where(Tariff.state == state)
    rows = db.execute(query).all()
    return TariffList(items=[_tariff_out(row, email, size) for row, email, size in rows])


def _visible_tariff(db: Session, actor: Actor, tariff_id: int) -> Tariff:
    row = db.get(Tariff, tariff_id)
    visible = row is not None and (
        row.driver_id == actor.id
        if actor.role is Role.DRIVER
        else actor.org_id is not None and row.org_id == actor.org_id
    )
    if row is None or not visible:
        raise UnknownTariff(f"there is no tariff {tariff_id} you can see; check the id")
    return row


def tariff_document(db: Session, actor: Actor, tariff_id: int) -> tuple[bytes, str, str]:
    """(content, media type, download name) of a tariff's proof."""
    row = _visible_tariff(db, actor, tariff_id)
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}
    return row.document, row.document_type, f"tariff-{row.id}.{extension[row.document_type]}"


@transactional
def decide_tariff(
    db: Session,
    actor: Actor,
    tariff_id: int,
    *,
    verify: bool,
    reason: str | None,
    now: dt.datetime,
) -> TariffOut:
    row = _visible_tariff(db, actor, tariff_id)
    state = "verified" if verify else "rejected"
    done = db.execute(
        update(Tariff)
        .where(Tariff.id == row.id, Tariff.state == "pending")
        .values(state=state, reason=reason, decided_at=now, decided_by=actor.id)
    )
    if not getattr(done, "rowcount", 0):
        db.refresh(row)
        raise AlreadyDecided(
            f"tariff {row.id} is already {row.state}; the driver uploads a new one to change it"
        )
    db.refresh(row)
    driver = db.get(User, row.driver_id)
    assert driver is not None
    audit.append(
        db,
        now=now,
        action=f"tariff.{state}",
        actor=actor,
        org_id=row.org_id,
        target=driver.email,
        reason=reason,
        details={"tariff_id": row.id},
    )
    size = db.scalar(select(func.length(Tariff.document)).where(Tariff.id == row.id))
    return _tariff_out(row, driver.email, int(size or 0))

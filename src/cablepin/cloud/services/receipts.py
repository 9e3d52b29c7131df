"""Monthly receipts: the month view, submission, approval, evidence (M3, M4, M6).

Rules (pure ones in ``domain/billing.py``, money in ``evidence/money.py``):

* Only a month that is over can be submitted (409 ``month_open``); the year's
  policy must exist (409 ``no_policy``); every chosen session needs a price
  (409 ``no_tariff`` with the dates).
* A receipt takes the driver's sessions of the month that are on no live
  receipt, minus ``exclude``; if a live one exists for the month it is
  ``supplementary``. Its lines and prices are written once and never change.
* A session is on at most one receipt that is not rejected: the partial unique
  index ``uq_receipt_lines_live_session`` decides, so of two submits racing on
  two processes one gets 409 ``already_on_receipt``. Rejecting a receipt marks
  its lines rejected in the same transaction, which frees its sessions.
* A fleet manager approves or rejects a submitted receipt once (conditional
  UPDATE), audited; support reads receipts only with a reason, audited.
* A submitted receipt's PDF is e-mailed to its driver and to the policy's
  billing address, a decision to the driver (``services/notify.py``): the
  messages go to the outbox in the transaction of the change.
* Evidence: per cable and epoch, the records from the receipt's first session
  to the first cable-signed head at or after its last (``chain_heads``).

Writes are ``@transactional`` units: in a request they join its unit of work (``cloud/deps.py``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import Counter, defaultdict
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cablepin.cloud import mail
from cablepin.cloud.billing_schemas import (
    EvidenceBundle,
    MonthSessionOut,
    MonthView,
    ReceiptLineOut,
    ReceiptList,
    ReceiptOut,
    ReceiptSubmit,
)
from cablepin.cloud.db import transactional
from cablepin.cloud.domain import billing as rules
from cablepin.cloud.domain import permissions
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import (
    AlreadyDecided,
    AlreadyOnReceipt,
    CloudError,
    InvalidRequest,
    MonthOpen,
    NoPolicy,
    NoSessions,
    NoSignedHead,
    NoTariff,
    NotFound,
    UnknownReceipt,
)
from cablepin.cloud.models import (
    Cable,
    ChainHead,
    ChargingSession,
    Organisation,
    ReceiptLine,
    ReceiptRow,
    Tariff,
    User,
)
from cablepin.cloud.portal.i18n import PORTAL
from cablepin.cloud.receipt_pdf import ReceiptPdf, render
from cablepin.cloud.services import audit, notify
from cablepin.cloud.services.billing import flat_price, policy_for
from cablepin.evidence.bundle import BUNDLE_FORMAT
from cablepin.evidence.money import amount_for, money_text, parse_price, price_text
from cablepin.protocol import pki
from cablepin.protocol.chain import Record, genesis

__all__ = ["decide", "evidence", "list_receipts", "month_view", "my_receipts", "pdf", "submit"]


def _month(text: str) -> str:
    try:
        rules.parse_month(text)
    except ValueError as e:
        raise InvalidRequest(str(e)) from e
    return text


def _month_sessions(db: Session, driver_id: int, month: str) -> list[Any]:
    """The driver's sessions that start in ``month``, with serial and live receipt id."""
    start, end = rules.month_bounds(month)
    live = (
        select(ReceiptLine.session_id, ReceiptLine.receipt_id)
        .where(ReceiptLine.rejected.is_(False))
        .subquery()
    )
    return list(
        db.execute(
            select(ChargingSession, Cable.serial, live.c.receipt_id)
            .join(Cable, Cable.id == ChargingSession.cable_id)
            .outerjoin(live, live.c.session_id == ChargingSession.id)
            .where(
                ChargingSession.driver_id == driver_id,
                ChargingSession.start_s >= start,
                ChargingSession.start_s < end,
            )
            .order_by(ChargingSession.start_s, ChargingSession.id)
        ).all()
    )


class _Pricing:
    """How the sessions of one month are priced, with each price's source text."""

    def __init__(self, db: Session, actor: Actor, month: str) -> None:
        self.year = rules.parse_month(month)[0]
        assert actor.org_id is not None
        self.policy = policy_for(db, actor.org_id, self.year)
        self.sources: dict[str, str] = {}
        self.tariffs: list[rules.TariffFacts] = []
        self.flat = None
        if self.policy is None:
            return
        if self.policy.method == rules.Method.FLAT:
            self.flat = flat_price(db, self.year)
            if self.flat is not None:
                self.sources[f"flat-{self.year}"] = (
                    f"flat price {self.year} for private households: {self.flat.source}"
                )
            return
        rows = db.execute(
            select(Tariff, User.email)
            .outerjoin(User, User.id == Tariff.decided_by)
            .where(Tariff.driver_id == actor.id, Tariff.state == "verified")
        ).all()
        for row, verifier in rows:
            monthly = json.loads(row.monthly_prices) if row.monthly_prices else None
            self.tariffs.append(
                rules.TariffFacts(
                    id=row.id,
                    valid_from=row.valid_from,
                    valid_to=row.valid_to,
                    price=row.price,
                    monthly={m: parse_price(p) for m, p in monthly.items()}
                    if monthly is not None
                    else None,
                )
            )
            decided = row.decided_at.date().isoformat() if row.decided_at else "?"
            self.sources[f"tariff-{row.id}"] = (
                f"contract tariff {row.id} of {actor.email}, proof document sha256 "
                f"{row.document_sha256}, verified by {verifier} on {decided}"
            )

    @property
    def method(self) -> rules.Method | None:
        return rules.Method(self.policy.method) if self.policy is not None else None

    def price(self, start_s: int) -> rules.PriceRef | None:
        method = self.method
        if method is None:
            return None
        return rules.price_for(
            start_s,
            method=method,
            tariffs=self.tariffs,
            flat_price=self.flat.price if self.flat is not None else None,
            year=self.year,
        )

    def source(self, ref: str) -> str:
        if ref.startswith("tariff-"):
            tariff_id = ref.split("-")[1]
            return self.sources[f"tariff-{tariff_id}"]
        return self.sources[ref]


def month_view(db: Session, actor: Actor, month: str, *, now: dt.datetime) -> MonthView:
    month = _month(month)
    pricing = _Pricing(db, actor, month)
    sessions: list[MonthSessionOut] = []
    missing: set[dt.date] = set()
    for row, serial, receipt_id in _month_sessions(db, actor.id, month):
        ref = pricing.price(row.start_s)
        if ref is None and receipt_id is None:
            missing.add(rules.day_of(row.start_s))
        sessions.append(
            MonthSessionOut(
                id=row.id,
                serial=serial,
                start=row.start_s,
                end=row.end_s,
                wh=row.wh,
                receipt_id=receipt_id,
                price=price_text(ref.price) if ref is not None else None,
            )
        )
    method = pricing.method
    return MonthView(
        month=month,
        over=rules.month_is_over(month, now),
        method=method.value if method is not None else None,
        sessions=sessions,
        missing_price_dates=sorted(missing),
    )


def _receipt_out(db: Session, row: ReceiptRow, driver: User | None = None) -> ReceiptOut:
    driver = driver or db.get(User, row.driver_id)
    assert driver is not None
    lines = db.execute(
        select(ReceiptLine, ChargingSession, Cable.serial)
        .join(ChargingSession, ChargingSession.id == ReceiptLine.session_id)
        .join(Cable, Cable.id == ChargingSession.cable_id)
        .where(ReceiptLine.receipt_id == row.id)
        .order_by(ChargingSession.start_s, ChargingSession.id)
    ).all()
    return ReceiptOut(
        id=row.id,
        state=row.state,
        month=row.month,
        driver_email=driver.email,
        driver_name=driver.name,
        total_wh=row.total_wh,
        amount=money_text(row.amount),
        price_source=row.method,
        late=row.late,
        supplementary=row.supplementary,
        submitted_at=row.submitted_at,
        decided_at=row.decided_at,
        reason=row.reason,
        lines=[
            ReceiptLineOut(
                session_id=session.id,
                serial=serial,
                start=session.start_s,
                end=session.end_s,
                wh=line.wh,
                price=price_text(line.price),
                price_ref=line.price_ref,
            )
            for line, session, serial in lines
        ],
    )


@transactional
def submit(db: Session, actor: Actor, request: ReceiptSubmit, *, now: dt.datetime) -> ReceiptOut:
    month = _month(request.month)
    if not rules.month_is_over(month, now):
        first_day = dt.datetime.fromtimestamp(rules.month_bounds(month)[1], tz=rules.BILLING_ZONE)
        raise MonthOpen(
            f"{month} has not ended yet; submit its receipt from {first_day.date()} on",
            month=month,
        )
    pricing = _Pricing(db, actor, month)
    if pricing.policy is None:
        raise NoPolicy(
            f"your organisation has no billing policy for {pricing.year}; ask your fleet "
            "manager to set it, then submit again",
            year=pricing.year,
        )
    sessions = _month_sessions(db, actor.id, month)
    if not sessions:
        raise NoSessions(
            f"you have no synced sessions in {month}; connect your cable with the app to sync "
            "them first",
            month=month,
        )
    in_month = {row.id for row, _serial, _receipt in sessions}
    excluded = set(request.exclude)
    unknown = sorted(excluded - in_month)
    if unknown:
        raise NotFound(
            f"exclude names sessions that are not yours in {month}: "
            f"{', '.join(map(str, unknown[:10]))}; take the ids from GET /api/v1/me/months/{month}"
        )
    open_rows = [(row, serial) for row, serial, receipt in sessions if receipt is None]
    if not open_rows:
        on = sorted({receipt for _row, _serial, receipt in sessions})
        raise AlreadyOnReceipt(
            f"every session of {month} is on a receipt already ({', '.join(map(str, on))}); "
            "sessions synced later go on a supplementary receipt",
            receipt_ids=on,
        )
    chosen = [(row, serial) for row, serial in open_rows if row.id not in excluded]
    if not chosen:
        raise NoSessions(
            f"you excluded every session of {month} that is not on a receipt; leave at least "
            "one in, or submit nothing"
        )
    priced: list[tuple[ChargingSession, rules.PriceRef]] = []
    missing: set[dt.date] = set()
    for row, _serial in chosen:
        ref = pricing.price(row.start_s)
        if ref is None:
            missing.add(rules.day_of(row.start_s))
        else:
            priced.append((row, ref))
    if missing:
        dates = [d.isoformat() for d in sorted(missing)]
        what = (
            "a verified tariff"
            if pricing.method is rules.Method.CONTRACT
            else f"a flat price for {pricing.year} (support sets it)"
        )
        raise NoTariff(
            f"these days of {month} have sessions but no {what}: {', '.join(dates)}; "
            "upload a tariff for them and have it verified, or exclude those sessions",
            dates=dates,
        )
    assert pricing.policy is not None
    supplementary = (
        db.scalar(
            select(ReceiptRow.id)
            .where(
                ReceiptRow.driver_id == actor.id,
                ReceiptRow.month == month,
                ReceiptRow.state != "rejected",
            )
            .limit(1)
        )
        is not None
    )
    refs = {ref.ref: ref for _row, ref in priced}
    prices = [
        {
            "ref": ref.ref,
            "price": price_text(ref.price),
            "valid_from": ref.valid_from.isoformat(),
            "valid_to": ref.valid_to.isoformat(),
            "source": pricing.source(ref.ref),
        }
        for ref in sorted(refs.values(), key=lambda r: r.ref)
    ]
    assert actor.org_id is not None
    receipt = ReceiptRow(
        org_id=actor.org_id,
        driver_id=actor.id,
        month=month,
        state="submitted",
        method=pricing.policy.method,
        total_wh=sum(row.wh for row, _ref in priced),
        amount=amount_for((row.wh, ref.price) for row, ref in priced),
        late=rules.is_late(month, pricing.policy.deadline_day, now),
        supplementary=supplementary,
        prices=json.dumps(prices, sort_keys=True, separators=(",", ":")),
        submitted_at=now,
    )
    try:
        db.add(receipt)
        db.flush()
        db.add_all(
            ReceiptLine(
                receipt_id=receipt.id,
                session_id=row.id,
                wh=row.wh,
                price=ref.price,
                price_ref=ref.ref,
                rejected=False,
            )
            for row, ref in priced
        )
        db.flush()
    except IntegrityError as e:
        db.rollback()
        raise AlreadyOnReceipt(
            f"some of these sessions of {month} went on another receipt a moment ago; "
            f"open GET /api/v1/me/months/{month} to see which, and submit again",
        ) from e
    audit.append(
        db,
        now=now,
        action="receipt.submitted",
        actor=actor,
        org_id=actor.org_id,
        target=actor.email,
        details={
            "receipt_id": receipt.id,
            "month": month,
            "sessions": len(priced),
            "total_wh": receipt.total_wh,
            "amount": money_text(receipt.amount),
            "late": receipt.late,
            "supplementary": supplementary,
        },
    )
    content, filename = pdf(db, actor, receipt.id, now=now)
    driver = db.get(User, actor.id)
    assert driver is not None
    notify.receipt_submitted(
        db,
        receipt,
        driver,
        pdf=mail.Attachment(filename, content),
        billing_recipient=pricing.policy.recipient_email,
        now=now,
    )
    return _receipt_out(db, receipt)


def my_receipts(db: Session, actor: Actor, *, month: str | None = None) -> ReceiptList:
    query = select(ReceiptRow).where(ReceiptRow.driver_id == actor.id)
    if month is not None:
        query = query.where(ReceiptRow.month == _month(month))
    rows = db.scalars(query.order_by(ReceiptRow.month.desc(), ReceiptRow.id.desc())).all()
    return ReceiptList(items=[_receipt_out(db, row) for row in rows])


def list_receipts(
    db: Session, actor: Actor, *, month: str, reason: str | None, now: dt.datetime
) -> ReceiptList:
    """A month's receipts: the fleet manager's organisation; support all, with a reason."""
    reason = permissions.require_reason(actor, reason)
    month = _month(month)
    query = select(ReceiptRow).where(ReceiptRow.month == month)
    if not actor.is_support:
        query = query.where(ReceiptRow.org_id == actor.org_id)
    rows = db.scalars(query.order_by(ReceiptRow.org_id, ReceiptRow.id)).all()
    if actor.is_support:
        counts: Counter[int | None] = Counter(row.org_id for row in rows)
        for org_id in sorted(counts, key=lambda o: o or 0) or [None]:
            audit.append(
                db,
                now=now,
                action="support.receipts_read",
                actor=actor,
                org_id=org_id,
                target=month,
                reason=reason,
                details={"month": month, "receipts": counts.get(org_id, 0)},
            )
    return ReceiptList(items=[_receipt_out(db, row) for row in rows])


def _visible_receipt(db: Session, actor: Actor, receipt_id: int) -> ReceiptRow:
    row = db.get(ReceiptRow, receipt_id)
    if row is not None:
        if actor.role is Role.DRIVER:
            visible = row.driver_id == actor.id
        else:
            visible = actor.sees_org(row.org_id)
        if visible:
            return row
    raise UnknownReceipt(f"there is no receipt {receipt_id} you can see; check the id")


@transactional
def decide(
    db: Session,
    actor: Actor,
    receipt_id: int,
    *,
    approve: bool,
    reason: str | None,
    now: dt.datetime,
) -> ReceiptOut:
    row = _visible_receipt(db, actor, receipt_id)
    state = "approved" if approve else "rejected"
    done = db.execute(
        update(ReceiptRow)
        .where(ReceiptRow.id == row.id, ReceiptRow.state == "submitted")
        .values(state=state, decided_at=now, decided_by=actor.id, reason=reason)
    )
    if not getattr(done, "rowcount", 0):
        db.refresh(row)
        raise AlreadyDecided(f"receipt {row.id} is already {row.state}; it cannot change")
    if not approve:
        # Frees its sessions for a new receipt (the driver corrects and submits again).
        db.execute(
            update(ReceiptLine).where(ReceiptLine.receipt_id == row.id).values(rejected=True)
        )
    db.refresh(row)
    driver = db.get(User, row.driver_id)
    assert driver is not None
    audit.append(
        db,
        now=now,
        action=f"receipt.{state}",
        actor=actor,
        org_id=row.org_id,
        target=driver.email,
        reason=reason,
        details={"receipt_id": row.id, "month": row.month, "amount": money_text(row.amount)},
    )
    notify.receipt_decided(db, row, driver, now=now)
    return _receipt_out(db, row, driver)


# ------------------------------------------------------------------ evidence (M6)


def _fingerprint(cert_pem: str) -> str:
    """SHA-256 of the certificate's DER, as printed on the receipt (M5)."""
    return pki.load_certificate(cert_pem.encode()).fingerprint(hashes.SHA256()).hex()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _chain(db: Session, cable: Cable, epoch: int, first: int, last: int) -> dict[str, Any]:
    head = db.scalar(
        select(ChainHead)
        .where(ChainHead.cable_id == cable.id, ChainHead.epoch == epoch, ChainHead.seq >= last)
        .order_by(ChainHead.seq)
        .limit(1)
    )
    if head is None:
        raise NoSignedHead(
            f"no head signed by {cable.serial} covers session {last} (epoch {epoch}) yet; "
            "the cable's next sync brings one, then ask again",
            serial=cable.serial,
        )
    rows = db.scalars(
        select(ChargingSession)
        .where(
            ChargingSession.cable_id == cable.id,
            ChargingSession.epoch == epoch,
            ChargingSession.seq.between(first - 1, head.seq),
        )
        .order_by(ChargingSession.seq)
    ).all()
    by_seq = {row.seq: row for row in rows}
    if any(seq not in by_seq for seq in range(first, head.seq + 1)):
        raise CloudError(f"the stored chain of {cable.serial} has a gap; tell support")
    previous = genesis(cable.serial, epoch) if first == 1 else by_seq[first - 1].chain_hash
    records = [
        Record(
            row.seq, row.start_s, row.end_s, row.wh, row.meter_start_wh, row.meter_end_wh, row.max_w
        ).to_wire()
        for row in (by_seq[seq] for seq in range(first, head.seq + 1))
    ]
    return {
        "epoch": epoch,
        "previous": {"seq": first - 1, "hash": _b64(previous)},
        "records": records,
        "head": {"seq": head.seq, "hash": _b64(head.hash)},
        "head_sig": _b64(head.sig),
    }


def evidence(
    db: Session, actor: Actor, receipt_id: int, *, reason: str | None, now: dt.datetime
) -> EvidenceBundle:
    reason = permissions.require_reason(actor, reason)
    row = _visible_receipt(db, actor, receipt_id)
    driver = db.get(User, row.driver_id)
    org = db.get(Organisation, row.org_id)
    assert driver is not None
    assert org is not None
    found = db.execute(
        select(ReceiptLine, ChargingSession, Cable)
        .join(ChargingSession, ChargingSession.id == ReceiptLine.session_id)
        .join(Cable, Cable.id == ChargingSession.cable_id)
        .where(ReceiptLine.receipt_id == row.id)
        .order_by(Cable.serial, ChargingSession.epoch, ChargingSession.seq)
    ).all()
    spans: dict[tuple[int, int], list[int]] = defaultdict(list)
    cables: dict[int, Cable] = {}
    for _line, session, cable in found:
        spans[(cable.id, session.epoch)].append(session.seq)
        cables[cable.id] = cable
    chains: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for (cable_id, epoch), seqs in sorted(spans.items()):
        chains[cable_id].append(_chain(db, cables[cable_id], epoch, min(seqs), max(seqs)))
    if actor.is_support:
        audit.append(
            db,
            now=now,
            action="support.evidence_read",
            actor=actor,
            org_id=row.org_id,
            target=driver.email,
            reason=reason,
            details={"receipt_id": row.id},
        )
    return EvidenceBundle.model_validate(
        {
            "format": BUNDLE_FORMAT,
            "zone": rules.BILLING_ZONE.key,
            "receipt": {
                "id": row.id,
                "month": row.month,
                "organisation": org.name,
                "driver": driver.email,
                "state": row.state,
                "submitted_at": row.submitted_at,
                "total_wh": row.total_wh,
                "amount": money_text(row.amount),
                "price_source": row.method,
            },
            "lines": [
                {
                    "serial": cable.serial,
                    "epoch": session.epoch,
                    "seq": session.seq,
                    "start": session.start_s,
                    "end": session.end_s,
                    "wh": line.wh,
                    "price": price_text(line.price),
                    "price_ref": line.price_ref,
                }
                for line, session, cable in found
            ],
            "prices": json.loads(row.prices),
            "cables": [
                {
                    "serial": cables[cable_id].serial,
                    "certificate": cables[cable_id].cert_pem,
                    "certificate_sha256": _fingerprint(cables[cable_id].cert_pem),
                    "chains": chains[cable_id],
                }
                for cable_id in sorted(cables, key=lambda c: cables[c].serial)
            ],
        }
    )


# ------------------------------------------------------------------ the PDF (M5)


def pdf(db: Session, actor: Actor, receipt_id: int, *, now: dt.datetime) -> tuple[bytes, str]:
    """The receipt as a PDF in its driver's language, and a file name for it."""
    row = _visible_receipt(db, actor, receipt_id)
    bundle = evidence(db, actor, receipt_id, reason=None, now=now)
    driver = db.get(User, row.driver_id)
    assert driver is not None
    content = render(
        ReceiptPdf(
            bundle=bundle,
            driver_name=driver.name,
            locale=PORTAL.normalise(driver.locale) or PORTAL.default,
            decided_at=row.decided_at,
            reason=row.reason,
            late=row.late,
            supplementary=row.supplementary,
        )
    )
    return content, f"receipt-{row.month}-{row.id}.pdf"

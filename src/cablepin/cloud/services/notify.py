"""Who is told what by e-mail (M7): one function per occasion, called by the service that
causes it, inside its transaction (the message goes to the outbox with the change).

Rules kept here:

* Each message goes to one recipient in their language (``users.locale``; an
  address that is nobody's account, such as an organisation's billing
  address, gets the portal's default, German).
* What a message says is in its templates (``templates/mail/``); what goes
  in is chosen here, and never a PIN (P7). The invitation carries its
  one-time link; the outbox drops it once the server took the message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cablepin.cloud import mail
from cablepin.cloud.domain.outbox import MailKind
from cablepin.cloud.models import ReceiptRow, User
from cablepin.cloud.services import outbox
from cablepin.evidence.money import money_text

__all__ = [
    "handover_started",
    "invitation",
    "pin_reset_allowed",
    "receipt_decided",
    "receipt_submitted",
]


def _send(
    db: Session,
    kind: MailKind,
    *,
    to: str,
    locale: str | None,
    org_id: int | None,
    values: dict[str, Any],
    subject_values: dict[str, str],
    now: dt.datetime,
    attachments: tuple[mail.Attachment, ...] = (),
) -> None:
    composed = mail.compose(
        kind,
        to=to,
        locale=mail.language_of(locale),
        values=values,
        subject_values=subject_values,
        now=now,
        attachments=attachments,
    )
    outbox.enqueue(db, composed, kind=kind, to=to, org_id=org_id, now=now)


def _send_to(
    db: Session,
    kind: MailKind,
    user: User,
    *,
    values: dict[str, Any],
    subject_values: dict[str, str],
    now: dt.datetime,
) -> None:
    """A message to a person with an account: their address, language and organisation."""
    _send(
        db,
        kind,
        to=user.email,
        locale=user.locale,
        org_id=user.org_id,
        values=values,
        subject_values=subject_values,
        now=now,
    )


def invitation(
    db: Session, user: User, *, token: str, expires_at: dt.datetime, org_name: str, now: dt.datetime
) -> None:
    link = mail.invitation_link(mail.public_url(), token)
    _send_to(
        db,
        MailKind.INVITATION,
        user,
        values={"name": user.name, "org": org_name, "link": link, "expires_at": expires_at},
        subject_values={"org": org_name},
        now=now,
    )


def pin_reset_allowed(
    db: Session, driver: User, *, serial: str, expires_at: dt.datetime, now: dt.datetime
) -> None:
    _send_to(
        db,
        MailKind.PIN_RESET_ALLOWED,
        driver,
        values={"name": driver.name, "serial": serial, "expires_at": expires_at},
        subject_values={"serial": serial},
        now=now,
    )


def handover_started(
    db: Session,
    *,
    serial: str,
    losing: User | None,
    getting: User | None,
    last_sync_at: dt.datetime | None,
    now: dt.datetime,
) -> None:
    """To the driver losing the cable (sync now: its sessions will be deleted) and to the
    driver getting it."""
    if losing is not None:
        _send_to(
            db,
            MailKind.HANDOVER_LOSING,
            losing,
            values={"name": losing.name, "serial": serial, "last_sync_at": last_sync_at},
            subject_values={"serial": serial},
            now=now,
        )
    if getting is not None:
        _send_to(
            db,
            MailKind.HANDOVER_GETTING,
            getting,
            values={"name": getting.name, "serial": serial},
            subject_values={"serial": serial},
            now=now,
        )


def _receipt_values(receipt: ReceiptRow, driver: User) -> dict[str, Any]:
    return {
        "driver": driver.name,
        "number": receipt.id,
        "month": receipt.month,
        "amount": money_text(receipt.amount),
        "total_wh": receipt.total_wh,
        "late": receipt.late,
        "supplementary": receipt.supplementary,
        "reason": receipt.reason or "",
    }


def receipt_submitted(
    db: Session,
    receipt: ReceiptRow,
    driver: User,
    *,
    pdf: mail.Attachment,
    billing_recipient: str | None,
    now: dt.datetime,
) -> None:
    """The receipt PDF to its driver and to the organisation's billing address."""
    values = _receipt_values(receipt, driver)
    subject = {"number": str(receipt.id), "month": receipt.month}
    _send(
        db,
        MailKind.RECEIPT_SUBMITTED,
        to=driver.email,
        locale=driver.locale,
        org_id=receipt.org_id,
        values={**values, "to_driver": True},
        subject_values=subject,
        now=now,
        attachments=(pdf,),
    )
    if billing_recipient and billing_recipient.lower() != driver.email.lower():
        account = db.scalar(
            select(User).where(func.lower(User.email) == billing_recipient.lower()).limit(1)
        )
        _send(
            db,
            MailKind.RECEIPT_SUBMITTED,
            to=billing_recipient,
            locale=account.locale if account is not None else None,
            org_id=receipt.org_id,
            values={**values, "to_driver": False},
            subject_values=subject,
            now=now,
            attachments=(pdf,),
        )


def receipt_decided(db: Session, receipt: ReceiptRow, driver: User, *, now: dt.datetime) -> None:
    kind = MailKind.RECEIPT_APPROVED if receipt.state == "approved" else MailKind.RECEIPT_REJECTED
    _send(
        db,
        kind,
        to=driver.email,
        locale=driver.locale,
        org_id=receipt.org_id,
        values=_receipt_values(receipt, driver),
        subject_values={"number": str(receipt.id), "month": receipt.month},
        now=now,
    )

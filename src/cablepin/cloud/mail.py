"""E-mail messages from templates, in the recipient's language (M7).

Rules kept here:

* Each kind of message is two Jinja2 templates, ``templates/mail/<kind>.txt``
  (plain text) and ``<kind>.html``, sent together as ``multipart/alternative``;
  every sentence in them is a gettext message of the portal's catalog
  (``{% trans %}`` / ``_()``), so ``make messages`` finds it and German is
  filled like the portal's. The subject is a message of ``SUBJECTS``.
* The language is the recipient's saved ``locale`` (``users.locale``), else
  the portal's default (German); dates in Europe/Berlin, money by Babel.
* A message gets its ``Message-ID`` here, once, and keeps it through every
  attempt to send it (the outbox stores the composed bytes). ``From`` is not
  part of it: the sender adds its own (``CABLEPIN_MAIL_FROM``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from threading import Lock
from typing import Any, Final
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from cablepin.cloud.domain.outbox import MailKind
from cablepin.cloud.portal.i18n import (
    N_,
    PORTAL,
    format_eur,
    format_kwh,
    format_month,
    format_time,
)

__all__ = [
    "SUBJECTS",
    "Attachment",
    "Composed",
    "compose",
    "configure",
    "invitation_link",
    "language_of",
    "public_url",
]

TEMPLATES: Final = Path(__file__).resolve().parent / "templates" / "mail"

SUBJECTS: Final[dict[MailKind, str]] = {
    MailKind.INVITATION: N_("Your invitation to %(org)s's charging cables"),
    MailKind.PIN_RESET_ALLOWED: N_("You may set a new PIN for cable %(serial)s"),
    MailKind.HANDOVER_LOSING: N_("Cable %(serial)s is no longer assigned to you"),
    MailKind.HANDOVER_GETTING: N_("Cable %(serial)s is being handed over to you"),
    MailKind.RECEIPT_SUBMITTED: N_("Receipt %(number)s for %(month)s submitted"),
    MailKind.RECEIPT_APPROVED: N_("Receipt %(number)s for %(month)s approved"),
    MailKind.RECEIPT_REJECTED: N_("Receipt %(number)s for %(month)s rejected"),
}


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


@dataclass(frozen=True)
class Composed:
    message_id: str
    subject: str
    locale: str
    content: bytes


_public_url = "http://127.0.0.1:8000"


def configure(*, public_url: str) -> None:
    """The base of every link in a message (``CABLEPIN_PUBLIC_URL``); ``create_app`` sets it."""
    global _public_url
    _public_url = public_url.rstrip("/")


def public_url() -> str:
    return _public_url


def invitation_link(base: str, token: str) -> str:
    """The one-time link an invited driver opens: the public URL only, never a Host header."""
    return f"{base.rstrip('/')}/invite/{token}"


def language_of(saved: str | None) -> str:
    """The language a message to someone with this saved locale is written in."""
    return PORTAL.normalise(saved) or PORTAL.default


_envs: dict[str, Environment] = {}
_envs_lock = Lock()


def _env(locale: str) -> Environment:
    with _envs_lock:
        env = _envs.get(locale)
        if env is None:
            env = Environment(
                loader=FileSystemLoader(str(TEMPLATES)),
                autoescape=select_autoescape(["html"]),
                extensions=["jinja2.ext.i18n"],
                undefined=StrictUndefined,
                keep_trailing_newline=True,
            )
            env.install_gettext_translations(  # type: ignore[attr-defined]
                PORTAL.translations(locale), newstyle=True
            )
            env.filters["time"] = lambda value: format_time(value, locale)
            env.filters["eur"] = lambda value: format_eur(value, locale)
            env.filters["kwh"] = lambda wh: format_kwh(wh / 1000, locale)
            env.filters["month"] = lambda month: format_month(month, locale)
            _envs[locale] = env
        return env


def _domain(public_url: str) -> str:
    return urlsplit(public_url).hostname or "localhost"


def compose(
    kind: MailKind,
    *,
    to: str,
    locale: str,
    values: dict[str, Any],
    subject_values: dict[str, str],
    now: dt.datetime,
    attachments: tuple[Attachment, ...] = (),
) -> Composed:
    """The whole message of ``kind`` for ``to``, written in ``locale``."""
    env = _env(locale)
    if "month" in subject_values:  # "YYYY-MM" -> "Oktober 2026"
        subject_values = {**subject_values, "month": format_month(subject_values["month"], locale)}
    subject = PORTAL.translations(locale).gettext(SUBJECTS[kind]) % subject_values
    context = {**values, "public_url": _public_url, "lang": locale}
    text = env.get_template(f"{kind.value}.txt").render(context)
    html = env.get_template(f"{kind.value}.html").render(context)
    message_id = f"<{uuid.uuid4().hex}@{_domain(_public_url)}>"
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if attachments:
        message.make_mixed()
        for a in attachments:
            message.add_attachment(
                a.content, maintype=a.maintype, subtype=a.subtype, filename=a.filename
            )
    # Last: set_content and make_mixed move or drop the Content-* headers already there.
    message["Content-Language"] = locale
    return Composed(
        message_id=message_id, subject=subject, locale=locale, content=message.as_bytes()
    )

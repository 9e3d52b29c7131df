"""The outbox's sender: delivers due messages to the SMTP server of the settings (M7).

Rules kept here:

* One message at a time: claim it (its own short transaction), hand it to the
  server, record the outcome (another). No transaction is open while the
  server is talked to, so a slow server never holds a database lock.
* The server's answer decides (``domain/outbox.py``): accepted -> sent; a
  4xx reply or no reply (refused, timed out, cut off) -> tried again after a
  growing wait; a 5xx reply -> failed, shown to support. When the connection
  itself fails (refused, TLS, login), the message is deferred and the rest of
  the batch waits for the next round: the server is away, not the message.
* Once the server said "250", a database connection that breaks before "sent"
  is written costs a fresh connection, not a second copy: the outcome is
  written again (``RECORD_TRIES``), guarded by the sender's claim.
* TLS as the settings say: ``starttls`` (STARTTLS is required, never silently
  skipped), ``tls`` (implicit TLS, port 465) or ``none``; certificates are
  checked against the system's CAs. The password is read from
  ``CABLEPIN_SMTP_PASSWORD_FILE`` when a connection logs in, and kept nowhere
  else: not in the database, not in a log line, not in an error text.
* Log lines and metrics carry the outbox id, the kind of outcome and the SMTP
  code, never an address or a subject.
* Where it runs: a thread of ``cablepin serve`` (``CABLEPIN_MAIL_SENDER=serve``,
  the default) or ``cablepin worker`` processes; any number at once, because
  every message is claimed by exactly one (``services/outbox.py``).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cablepin.cloud.domain.outbox import MailState, is_permanent
from cablepin.cloud.errors import CloudError
from cablepin.cloud.metrics import MAIL_DELIVERIES
from cablepin.cloud.services import outbox
from cablepin.cloud.settings import Settings

__all__ = [
    "Delivered",
    "MailNotConfigured",
    "SendFailed",
    "Sender",
    "SmtpTransport",
    "start_in_thread",
]

log = logging.getLogger("cablepin.cloud.sender")

#: How often a sender writes "sent" when the database connection breaks under it.
RECORD_TRIES = 3


class MailNotConfigured(CloudError):
    code = "mail_not_configured"
    status = 503


class SendFailed(Exception):
    """The server (or the way to it) refused; ``code`` is its reply code, None for no reply.

    ``connection`` says the connection failed, not this message.
    """

    def __init__(self, code: int | None, text: str, *, connection: bool = False) -> None:
        super().__init__(f"{code} {text}" if code is not None else text)
        self.code = code
        self.text = text
        self.connection = connection


def _reply(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return " ".join(text.split())


class SmtpTransport:
    """One connection to the configured server, opened when first needed."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise MailNotConfigured("no mail server is set; set CABLEPIN_SMTP_HOST to send mail")
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _password(self) -> str | None:
        path = self.settings.smtp_password_file
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise SendFailed(
                None,
                f"cannot read CABLEPIN_SMTP_PASSWORD_FILE ({type(e).__name__}); check the file",
                connection=True,
            ) from e

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        assert s.smtp_host is not None
        port = s.smtp_port_or_default()
        context = ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if s.smtp_tls == "tls":
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host, port, timeout=s.smtp_timeout_s, context=context
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, port, timeout=s.smtp_timeout_s)
            try:
                smtp.ehlo()
                if s.smtp_tls == "starttls":
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if s.smtp_user:
                    smtp.login(s.smtp_user, self._password() or "")
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPResponseException as e:
            raise SendFailed(e.smtp_code, _reply(e.smtp_error), connection=True) from None
        except (smtplib.SMTPException, OSError) as e:
            raise SendFailed(None, f"{type(e).__name__}: {e}", connection=True) from None
        return smtp

    def send(self, recipient: str, content: bytes) -> None:
        """Hand one message to the server; raise ``SendFailed`` if it does not take it."""
        if self._smtp is None:
            self._smtp = self._connect()
        message = email.message_from_bytes(content, policy=email.policy.SMTP)
        del message["From"]
        message["From"] = self.settings.mail_from
        envelope_from = parseaddr(self.settings.mail_from)[1] or self.settings.mail_from
        try:
            self._smtp.send_message(message, from_addr=envelope_from, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            raise SendFailed(code, _reply(text)) from None
        except smtplib.SMTPResponseException as e:
            raise SendFailed(e.smtp_code, _reply(e.smtp_error)) from None
        except (smtplib.SMTPException, OSError) as e:
            self.close()
            raise SendFailed(None, f"{type(e).__name__}: {e}", connection=True) from None

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


@dataclass
class Delivered:
    sent: int = 0
    deferred: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "deferred": self.deferred, "failed": self.failed}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Sender:
    """Delivers the outbox: ``deliver_due`` once, or ``run`` until stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
        transport: Callable[[Settings], SmtpTransport] = SmtpTransport,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.transport = transport

    def deliver_due(self) -> Delivered:
        """Send every message that is due now; return what happened."""
        done = Delivered()
        lease = dt.timedelta(seconds=self.settings.outbox_lease_s)
        transport = self.transport(self.settings)
        try:
            with self.sessions() as db:
                while (claimed := outbox.claim_next(db, now=self.clock(), lease=lease)) is not None:
                    try:
                        transport.send(claimed.recipient, claimed.content)
                    except SendFailed as e:
                        self._refused(db, claimed, e, done)
                        if e.connection:
                            break
                    else:
                        self._record_sent(db, claimed)
                        done.sent += 1
                        MAIL_DELIVERIES.labels("sent").inc()
                        log.info("mail %s sent (attempt %s)", claimed.id, claimed.attempts)
        finally:
            transport.close()
        return done

    def _record_sent(self, db: Session, claimed: outbox.Claimed) -> None:
        """The server has the message; a database connection lost now would send it twice
        (its lease ends, the next sender takes it), so the outcome is written again on a
        fresh connection. The claim makes that safe: a sender that lost its claim changes
        nothing. (The soak test cuts the connections while mail goes out.)"""
        for attempt in range(1, RECORD_TRIES + 1):
            try:
                outbox.mark_sent(db, claimed, now=self.clock())
                return
            except DBAPIError as e:
                if not e.connection_invalidated or attempt == RECORD_TRIES:
                    raise
                log.warning(
                    "mail %s sent; its database connection broke, recording it again", claimed.id
                )
                db.rollback()

    def _refused(
        self, db: Session, claimed: outbox.Claimed, e: SendFailed, done: Delivered
    ) -> None:
        if is_permanent(e.code) and not e.connection:
            outbox.give_up(db, claimed, str(e))
            state = MailState.FAILED
        else:
            state = outbox.defer(db, claimed, str(e), now=self.clock())
        if state is MailState.FAILED:
            done.failed += 1
            MAIL_DELIVERIES.labels("failed").inc()
            log.warning("mail %s failed (SMTP %s); support can retry it", claimed.id, e.code)
        else:
            done.deferred += 1
            MAIL_DELIVERIES.labels("deferred").inc()
            log.info("mail %s deferred (SMTP %s); trying again later", claimed.id, e.code)

    def run(self, stop: threading.Event) -> None:
        """Deliver due messages every ``outbox_poll_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # the loop outlives a database hiccup; the next round retries
                log.exception("outbox sender: a round failed; trying again")
            stop.wait(self.settings.outbox_poll_s)


def start_in_thread(sessions: sessionmaker[Session], settings: Settings) -> threading.Event:
    """Run a ``Sender`` in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=Sender(sessions, settings).run, args=(stop,), name="outbox-sender", daemon=True
    )
    thread.start()
    return stop

"""`cablepin worker`: deliver the outbox's e-mail apart from `cablepin serve` (M7).

By default `cablepin serve` sends mail itself (``CABLEPIN_MAIL_SENDER=serve``);
a deployment that sets ``CABLEPIN_MAIL_SENDER=worker`` runs this instead, as
many as it likes: each message is claimed by exactly one sender. ``--once``
delivers what is due now and exits (cron, tests); otherwise it runs until
SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import logging.config
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from cablepin.cli.output import emit, reporting


def worker(
    db: Annotated[str | None, typer.Option("--db", help="database URL (CABLEPIN_DB)")] = None,
    once: Annotated[
        bool, typer.Option("--once", help="deliver what is due now, then exit")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Send the outbox's e-mail to CABLEPIN_SMTP_HOST (retries, back-off; see ARCHITECTURE.md)."""
    # Imported here so that other `cablepin` commands start without loading the cloud.
    from cablepin.cloud.db import make_engine, make_sessionmaker, migrate
    from cablepin.cloud.observability import LOG_CONFIG
    from cablepin.cloud.sender import MailNotConfigured, Sender
    from cablepin.cloud.settings import Settings

    with reporting(as_json=as_json):
        settings = Settings() if db is None else Settings(db=db)
        if not settings.smtp_host:
            raise MailNotConfigured(
                "no mail server is set; set CABLEPIN_SMTP_HOST (and CABLEPIN_SMTP_PORT, "
                "CABLEPIN_SMTP_TLS, ...) to send the outbox's mail"
            )
        logging.config.dictConfig(LOG_CONFIG)
        migrate(settings.db_url())
        engine = make_engine(settings.db_url())
        sender = Sender(make_sessionmaker(engine), settings)
        try:
            if once:
                done = sender.deliver_due()
                emit(
                    done.as_dict(),
                    as_json=as_json,
                    text=f"{done.sent} sent, {done.deferred} deferred, {done.failed} failed",
                )
                return
            stop = threading.Event()

            def _stop(_signum: int, _frame: FrameType | None) -> None:
                stop.set()

            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)
            emit({"worker": "running"}, as_json=as_json, text="cablepin worker: sending mail")
            sender.run(stop)
        finally:
            engine.dispose()

"""The retention job inside ``cablepin serve`` (D2): ``services.privacy.purge_expired``
once at start (before ``serve`` says it is up) and then every
``CABLEPIN_RETENTION_INTERVAL_S`` seconds, on a daemon thread of the serving process
(one per deployment host; the job is idempotent, so two hosts running it do no
harm). ``cablepin admin retention`` runs it by hand. A failed run is logged and
tried again at the next interval; serving goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from cablepin.cloud.settings import Settings

__all__ = ["start"]

log = logging.getLogger("cablepin.cloud.retention")


def start(settings: Settings) -> threading.Event | None:
    """Start the periodic job; set the returned event to stop it (None: switched off)."""
    interval = settings.retention_interval_s
    if interval <= 0:
        return None
    from cablepin.cloud.db import make_engine, make_sessionmaker
    from cablepin.cloud.services import privacy

    stop = threading.Event()
    engine = make_engine(settings.db_url())

    def once() -> None:
        try:
            with make_sessionmaker(engine)() as db:
                done = privacy.purge_expired(
                    db, now=dt.datetime.now(dt.UTC), years=settings.retention_years
                )
            if any(done.values()):
                log.info("retention job deleted expired records", extra=done)
        except Exception:  # the next run tries again; serving goes on
            log.exception("the retention job failed; it runs again in %s s", interval)

    def loop() -> None:
        try:
            while not stop.wait(interval):
                once()
        finally:
            engine.dispose()

    once()
    threading.Thread(target=loop, name="cablepin-retention", daemon=True).start()
    return stop

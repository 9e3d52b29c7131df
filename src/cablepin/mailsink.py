"""A local SMTP server for the demo that keeps every message as an ``.eml`` file (M7).

``make run`` points the cloud's sender at it (``CABLEPIN_SMTP_HOST`` and
friends), so what the cloud e-mails lands in ``demo-state/mail/`` where any
mail program opens it. It accepts everything, relays nothing, and listens on
127.0.0.1 only. Files are named by arrival (``0001-20261130T101500Z.eml``)
and written atomically (a temporary name, then a rename), so a reader never
sees half a message. aiosmtpd is imported when the sink starts: only the
demo needs it.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["MailSink", "mail_sink"]


class MailSink:
    """The aiosmtpd handler: one ``.eml`` file per message, numbered in arrival order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        self._count = len(list(directory.glob("*.eml")))

    def keep(self, content: bytes) -> Path:
        with self._lock:
            self._count += 1
            number = self._count
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = self.directory / f"{number:04d}-{stamp}.eml"
        partial = path.with_suffix(".part")
        partial.write_bytes(content)
        os.replace(partial, path)
        return path

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        self.keep(content if isinstance(content, bytes) else str(content).encode())
        return "250 OK: kept"


@contextmanager
def mail_sink(directory: Path, port: int) -> Iterator[int]:
    """Listen on 127.0.0.1:``port`` while the block runs; yields the port."""
    from aiosmtpd.controller import Controller

    controller = Controller(MailSink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()

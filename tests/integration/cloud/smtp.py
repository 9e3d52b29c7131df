"""A real SMTP server in the test process (aiosmtpd) that records what arrives.

``replies`` scripts the answers to DATA, one per message (``None``: accept),
so a test can make the server say ``451`` twice and then take the message;
``refuse`` maps recipients to an RCPT reply; ``on_accept`` runs after a
message was recorded and before the server says ``250``.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    rcpt: list[str]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    def attachments(self) -> list[tuple[str, bytes]]:
        return [
            (str(p.get_filename()), bytes(p.get_content()))  # type: ignore[attr-defined]
            for p in self.message.iter_attachments()
        ]


@dataclass
class Recorder:
    received: list[Received] = field(default_factory=list)
    replies: list[str | None] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    on_accept: Callable[[Received], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            reply = self.replies.pop(0) if self.replies else None
        if reply is not None:
            return reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        got = Received(list(envelope.rcpt_tos), message)
        with self.lock:
            self.received.append(got)
        if self.on_accept is not None:
            self.on_accept(got)
        return "250 OK"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()

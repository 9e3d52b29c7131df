"""The app<->cable connection as a sans-I/O state machine (after h11).

Rules kept here:

* States: HANDSHAKING -> OPEN -> CLOSED, and ERROR from anywhere on bad
  input. Which role may do what in which state is the ``_ALLOWED`` table.
* The cable is the TLS server and only answers; the app is the client and
  only asks. A request the cable cannot read is answered with ``bad_message``
  when its id is readable; a malformed frame ends the connection. The app
  checks every response against the op it asked (ids are tracked), so an
  unsolicited or mistyped response is a ``MessageError``.
* The owner moves bytes: ``receive_data`` (b"" means the peer closed) and
  ``data_to_send``; ``next_event`` hands out what arrived. No sockets, no
  clock: the owner decides when to give up.
"""

from __future__ import annotations

import ssl
from collections import deque
from enum import Enum, auto
from typing import Any, Final

from cryptography import x509

from cablepin.errors import CablepinError
from cablepin.protocol.codec import FrameDecoder, encode_frame
from cablepin.protocol.errors import CertificateError, MessageError, ProtocolError
from cablepin.protocol.events import (
    ConnectionClosed,
    Event,
    HandshakeComplete,
    RequestReceived,
    ResponseReceived,
)
from cablepin.protocol.messages import (
    MAX_ID,
    Request,
    parse_request,
    parse_response,
    request_to_wire,
)
from cablepin.protocol.pki import certificate_serial
from cablepin.protocol.tls import TLSChannel

__all__ = ["AppConnection", "CableConnection", "Role", "State"]

MAX_IN_FLIGHT: Final = 16


class Role(Enum):
    CABLE = auto()
    APP = auto()


class State(Enum):
    HANDSHAKING = auto()
    OPEN = auto()
    CLOSED = auto()
    ERROR = auto()


_ALLOWED: Final[dict[tuple[Role, str], frozenset[State]]] = {
    (Role.APP, "initiate"): frozenset({State.HANDSHAKING}),
    (Role.APP, "send_request"): frozenset({State.OPEN}),
    (Role.CABLE, "send_response"): frozenset({State.OPEN}),
    (Role.APP, "receive_data"): frozenset({State.HANDSHAKING, State.OPEN}),
    (Role.CABLE, "receive_data"): frozenset({State.HANDSHAKING, State.OPEN}),
}


class _Connection:
    role: Role

    def __init__(self, tls: TLSChannel) -> None:
        self._tls = tls
        self._frames = FrameDecoder()
        self._events: deque[Event] = deque()
        self.state = State.HANDSHAKING

    def _require(self, action: str) -> None:
        allowed = _ALLOWED.get((self.role, action), frozenset())
        if self.state not in allowed:
            raise ProtocolError(
                f"cannot {action.replace('_', ' ')} while the connection is "
                f"{self.state.name.lower()}; open a new connection"
            )

    def receive_data(self, data: bytes) -> None:
        self._require("receive_data")
        try:
            self._tls.receive_data(data)
            if self.state is State.HANDSHAKING:
                if not self._tls.do_handshake():
                    if not data:
                        self._close()
                    return
                self.state = State.OPEN
                self._events.append(HandshakeComplete(self._handshake_serial()))
            self._frames.feed(self._tls.receive())
            for message in self._frames.frames():
                event = self._parse(message)
                if event is not None:
                    self._events.append(event)
        except ProtocolError:
            self.state = State.ERROR
            raise
        if self._tls.peer_closed or not data:
            self._close()

    def _close(self) -> None:
        if self.state is not State.CLOSED:
            self.state = State.CLOSED
            self._events.append(ConnectionClosed())

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        return self._tls.data_to_send()

    def close(self) -> None:
        """Say goodbye (TLS close_notify); send ``data_to_send()`` afterwards."""
        if self.state is State.OPEN:
            self._tls.close()
        self.state = State.CLOSED

    def _send_frame(self, message: dict[str, Any]) -> None:
        self._tls.send(encode_frame(message))

    def _handshake_serial(self) -> str | None:
        return None

    def _parse(self, message: dict[str, Any]) -> Event | None:
        raise NotImplementedError


class CableConnection(_Connection):
    """The cable's end: TLS server, answers requests."""

    role = Role.CABLE

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(TLSChannel(context, server_side=True))

    def _parse(self, message: dict[str, Any]) -> Event | None:
        try:
            return RequestReceived(parse_request(message))
        except MessageError as error:
            # A well-framed request we cannot read (a newer app, a typo) is answered,
            # not fatal, when its id is readable; a broken frame still ends the link.
            request_id = message.get("id")
            if not isinstance(request_id, int) or isinstance(request_id, bool):
                raise
            if not 0 <= request_id <= MAX_ID:
                raise
            self.send_error(request_id, error)
            return None

    def send_response(self, request_id: int, **fields: Any) -> None:
        self._require("send_response")
        self._send_frame({"id": request_id, "ok": True, **fields})

    def send_error(self, request_id: int, error: CablepinError) -> None:
        self._require("send_response")
        details = {k: v for k, v in error.details.items() if v is not None}
        message = {"id": request_id, "ok": False, "error": error.code, "message": error.message}
        self._send_frame({**message, **details})


class AppConnection(_Connection):
    """The app's end: TLS client that trusts the factory CA and expects one serial."""

    role = Role.APP

    def __init__(self, context: ssl.SSLContext, serial: str) -> None:
        super().__init__(TLSChannel(context, server_side=False, server_hostname=serial))
        self.serial = serial
        self._next_id = 1
        self._pending: dict[int, str] = {}

    def initiate(self) -> None:
        """Start the handshake; the ClientHello is then in ``data_to_send()``."""
        self._require("initiate")
        self._tls.do_handshake()

    def _handshake_serial(self) -> str:
        cert = x509.load_der_x509_certificate(self._tls.peer_certificate_der())
        proven = certificate_serial(cert)
        if proven != self.serial:  # the hostname check already ensures it; say it twice
            raise CertificateError(f"expected cable {self.serial}, but this is {proven}")
        return proven

    def send_request(self, op: str, **fields: Any) -> int:
        self._require("send_request")
        if len(self._pending) >= MAX_IN_FLIGHT:
            raise ProtocolError("too many requests in flight; wait for the answers first")
        request_id = self._next_id
        self._next_id = self._next_id % MAX_ID + 1
        self._send_frame(request_to_wire(Request(op, request_id, fields)))
        self._pending[request_id] = op
        return request_id

    def _parse(self, message: dict[str, Any]) -> Event:
        request_id = message.get("id")
        op = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if op is None:
            raise MessageError(f"the cable answered a request never sent (id {request_id!r})")
        return ResponseReceived(op, parse_response(message, op))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

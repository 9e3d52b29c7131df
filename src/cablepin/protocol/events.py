"""Events a connection hands to its owner (``Connection.next_event``)."""

from __future__ import annotations

from dataclasses import dataclass

from cablepin.protocol.messages import Request, Response

__all__ = ["ConnectionClosed", "Event", "HandshakeComplete", "RequestReceived", "ResponseReceived"]


@dataclass(frozen=True)
class HandshakeComplete:
    """TLS is up. On the app side ``serial`` is the cable's proven serial."""

    serial: str | None


@dataclass(frozen=True)
class RequestReceived:
    request: Request


@dataclass(frozen=True)
class ResponseReceived:
    op: str
    response: Response


@dataclass(frozen=True)
class ConnectionClosed:
    pass


Event = HandshakeComplete | RequestReceived | ResponseReceived | ConnectionClosed

"""The app's end of the link to a cable: a socket around ``AppConnection``.

``CableLink`` opens a TCP connection (the simulator's stand-in for
Bluetooth LE), runs the TLS handshake that proves the cable's serial
against the factory CA, then turns ``request(op, **fields)`` into one
request and its answer. It is blocking and single-threaded on purpose: a
phone shell would wrap the same ``AppConnection`` in its own BLE driver.

* An error response raises ``CableRefused`` with the cable's code and details.
* No answer within ``timeout`` seconds, or a link that breaks, raises ``LinkError``;
  one that never got as far as the handshake's end says so
  (``reason="unreachable"``, ``address``): nothing was lost, the address or
  the range is wrong.
* A cable that is not genuine raises ``protocol.CertificateError`` during
  ``open()``: never send it a PIN.
* ``pipeline`` sends several requests in one flight and waits once for all
  their answers (the connect flow's first exchange: hello, auth, read).
* ``bytes_sent`` / ``bytes_received`` count everything on the wire (TLS included).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from cablepin.app.errors import CableRefused, LinkError
from cablepin.protocol.connection import AppConnection, State
from cablepin.protocol.events import ConnectionClosed, HandshakeComplete, ResponseReceived
from cablepin.protocol.tls import app_tls_context

__all__ = ["DEFAULT_TIMEOUT_S", "CableLink", "parse_address"]

DEFAULT_TIMEOUT_S = 10.0
RECV_SIZE = 64 * 1024


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LinkError(f"{address!r} is not a link address; write it as HOST:PORT")
    return host.strip("[]"), int(port)


class CableLink:
    """A connection to one cable. Use as a context manager, or ``open()``/``close()``."""

    def __init__(
        self,
        address: str,
        serial: str,
        factory_ca_pem: bytes,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.address = address
        self.serial = serial
        self.timeout = timeout
        self.bytes_sent = 0
        self.bytes_received = 0
        self._context = app_tls_context(factory_ca_pem)
        self._conn: AppConnection | None = None
        self._sock: socket.socket | None = None

    # -- lifecycle --------------------------------------------------------------

    def open(self) -> CableLink:
        host, port = parse_address(self.address)
        try:
            self._sock = socket.create_connection((host, port), timeout=self.timeout)
        except OSError as e:
            raise self._unreachable(str(e.strerror or e)) from e
        self._conn = AppConnection(self._context, self.serial)
        try:
            self._conn.initiate()
            self._flush()
            while True:
                event = self._next_event()
                if isinstance(event, HandshakeComplete):
                    return self
        except LinkError as e:
            self.close()
            raise self._unreachable(e.message) from e
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, sock = self._conn, self._sock
        self._conn = self._sock = None
        if sock is None:
            return
        try:
            if conn is not None and conn.state is State.OPEN:
                conn.close()
                out = conn.data_to_send()
                if out:
                    sock.sendall(out)
                    self.bytes_sent += len(out)
        except OSError:
            pass  # the cable is gone already; nothing to say goodbye to
        finally:
            sock.close()

    def __enter__(self) -> CableLink:
        return self.open() if self._conn is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its answer; return the ok fields."""
        [answer] = self.pipeline([(op, fields)])
        if isinstance(answer, CableRefused):
            raise answer
        return answer

    def pipeline(
        self, requests: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[dict[str, Any] | CableRefused]:
        """Send every request in one flight, then wait for all answers: one round trip.

        The cable answers in order. Each answer is its ok fields, or the refusal
        (returned, not raised: the caller decides what a refusal means for the rest).
        At most ``MAX_IN_FLIGHT`` requests at once.
        """
        conn = self._open_connection()
        ids = [conn.send_request(op, **fields) for op, fields in requests]
        self._flush()
        answers: dict[int, dict[str, Any] | CableRefused] = {}
        while len(answers) < len(ids):
            event = self._next_event()
            if isinstance(event, ResponseReceived):
                response = event.response
                ok = response.ok
                answers[response.id] = (
                    response.fields if ok else CableRefused.from_response(response.fields)
                )
        return [answers[request_id] for request_id in ids]

    def _open_connection(self) -> AppConnection:
        if self._conn is None:
            raise LinkError(f"the link to cable {self.serial} is not open; connect first")
        return self._conn

    def _flush(self) -> None:
        conn = self._open_connection()
        out = conn.data_to_send()
        if not out:
            return
        assert self._sock is not None
        try:
            self._sock.sendall(out)
        except OSError as e:
            raise self._broken(e) from e
        self.bytes_sent += len(out)

    def _next_event(self) -> HandshakeComplete | ResponseReceived:
        conn = self._open_connection()
        assert self._sock is not None
        while True:
            event = conn.next_event()
            if isinstance(event, HandshakeComplete | ResponseReceived):
                return event
            if isinstance(event, ConnectionClosed):
                raise LinkError(
                    f"cable {self.serial} closed the link; connect again (move closer if it "
                    "keeps happening)"
                )
            try:
                data = self._sock.recv(RECV_SIZE)
            except TimeoutError as e:
                raise LinkError(
                    f"cable {self.serial} did not answer within {self.timeout:g} s; "
                    "move closer and try again"
                ) from e
            except OSError as e:
                raise self._broken(e) from e
            self.bytes_received += len(data)
            conn.receive_data(data)
            self._flush()  # the handshake answers on its own

    def _unreachable(self, why: str) -> LinkError:
        return LinkError(
            f"could not reach cable {self.serial} at {self.address} ({why}); "
            "check that it is running, in range, and that the address is right",
            reason="unreachable",
            address=self.address,
        )

    def _broken(self, error: OSError) -> LinkError:
        return LinkError(
            f"the link to cable {self.serial} broke ({error.strerror or error}); connect again"
        )

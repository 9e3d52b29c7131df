"""The simulated cable on a local link: TCP in place of Bluetooth LE.

This is the I/O edge around the sans-I/O parts: it moves bytes between a
socket and ``protocol.connection.CableConnection``, hands requests to a
``CableSession`` (one per connection, thread per connection), and reads the
clock. While it runs it advertises itself by putting
``default_radio_dir()/<serial>.advert`` in place and removes it on close.

``link_rate`` (bytes per second, both directions together) slows the link
down to what Bluetooth LE moves in practice (about 20 KB/s), for benchmarks.

Limits (``Limits``; issue 11, finding 3), so a flood or a slow client cannot
take the cable down or hold it:

* at most ``max_connections`` at once (a real cable over BLE serves one or
  two); one more is accepted and closed at once, so it holds no descriptor;
* the handshake has a total deadline, and so has each request from its
  first byte to its last: a client that sends one byte a second is dropped
  when the deadline passes, not when it pauses; between requests an idle
  connection is closed after ``idle_s``;
* ``accept()`` running out of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM)
  or a thread that cannot be started costs that one connection, never the
  server: it waits a moment and serves on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cablepin.cable.errors import InvalidAddress
from cablepin.cable.firmware import Cable
from cablepin.cable.session import CableSession
from cablepin.cable.store import write_file_atomically
from cablepin.errors import CablepinError
from cablepin.protocol.advert import Advert, default_radio_dir, encode_advert
from cablepin.protocol.connection import CableConnection, State
from cablepin.protocol.errors import ProtocolError
from cablepin.protocol.events import RequestReceived
from cablepin.protocol.messages import NONCE_SIZE

__all__ = ["CLOCK_OFFSET_ENV", "CableServer", "Limits", "LinkPacer", "simulated_clock"]

#: names a file holding seconds to add to the cable's clock, re-read at every request, so
#: end-to-end tests can let a lockout wait pass without sleeping (missing or garbled = 0).
CLOCK_OFFSET_ENV = "CABLEPIN_CLOCK_OFFSET_FILE"

IDLE_TIMEOUT_S = 120.0
RECV_SIZE = 64 * 1024
ACCEPT_POLL_S = 0.2
#: accept() errors that mean "out of resources for now", not "the listener is gone".
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_EXHAUSTED_PAUSE_S = 0.1


@dataclass(frozen=True)
class Limits:
    """How much of the cable one client may take (seconds and connections)."""

    max_connections: int = 2
    handshake_s: float = 10.0  # the whole TLS handshake
    request_s: float = 30.0  # one request, from its first byte until it is answered
    idle_s: float = IDLE_TIMEOUT_S  # between requests


def simulated_clock(environ: Mapping[str, str] = os.environ) -> Callable[[], float]:
    """The simulated cable's clock: the host's, plus the offset of ``CLOCK_OFFSET_ENV``."""
    configured = environ.get(CLOCK_OFFSET_ENV)
    if not configured:
        return time.time
    path = Path(configured)

    def clock() -> float:
        try:
            offset = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            offset = 0
        return time.time() + offset

    return clock


class LinkPacer:
    """Holds a link to ``rate`` bytes per second on average (None: as fast as TCP goes)."""

    def __init__(self, rate: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._started = clock()
        self._moved = 0

    def pace(self, n: int) -> None:
        if not self.rate or n <= 0:
            return
        self._moved += n
        due = self._started + self._moved / self.rate
        delay = due - self._clock()
        if delay > 0:
            time.sleep(delay)


class CableServer:
    """Serve one cable over TCP until ``close()``."""

    def __init__(
        self,
        cable: Cable,
        tls: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        link_rate: int | None = None,
        clock: Callable[[], float] = time.time,
        random: Callable[[int], bytes] = os.urandom,
        radio_dir: Path | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.cable = cable
        self.tls = tls
        self.limits = limits or Limits()
        self._slots = threading.BoundedSemaphore(self.limits.max_connections)
        self._link_rate = link_rate
        self._clock = clock
        self._random = random
        self._stop = threading.Event()
        try:
            self._listener = socket.create_server((host, port))
        except OSError as e:
            raise InvalidAddress(
                f"cannot listen on {host}:{port} ({e.strerror or e}); choose another address, "
                "or port 0 for any free port"
            ) from e
        self._listener.settimeout(ACCEPT_POLL_S)
        bound_host, bound_port = self._listener.getsockname()[:2]
        self.address = f"{bound_host}:{bound_port}"
        self._advert = (radio_dir or default_radio_dir()) / f"{cable.serial}.advert"
        self._advertise()

    def _advertise(self) -> None:
        self._advert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        advert = Advert(self.cable.serial, self.address, os.getpid())
        write_file_atomically(self._advert, encode_advert(advert))

    def serve_forever(self) -> None:
        """Accept connections until ``close()`` (from a signal handler or another thread)."""
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError as e:
                if self._stop.is_set():
                    return
                if e.errno in _EXHAUSTED:
                    # Out of descriptors or memory: the connections that hold them end by
                    # their deadlines; meanwhile, serve on.
                    self._stop.wait(_EXHAUSTED_PAUSE_S)
                    continue
                raise
            self._start(sock)

    def _start(self, sock: socket.socket) -> None:
        if not self._slots.acquire(blocking=False):
            sock.close()  # busy: as a BLE cable that is already connected
            return
        try:
            threading.Thread(target=self._serve_in_slot, args=(sock,), daemon=True).start()
        except RuntimeError:  # "can't start new thread": this connection only
            self._slots.release()
            sock.close()

    def _serve_in_slot(self, sock: socket.socket) -> None:
        try:
            self._serve(sock)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self._advert.unlink()

    def __enter__(self) -> CableServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self, sock: socket.socket) -> None:
        conn = CableConnection(self.tls)
        session = CableSession(self.cable, self._random(NONCE_SIZE))
        pacer = LinkPacer(self._link_rate)
        limits = self.limits
        deadline = time.monotonic() + limits.handshake_s
        request_started = False
        try:
            with sock:
                while conn.state in (State.HANDSHAKING, State.OPEN):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return  # handshake or request took too long: drop the client
                    sock.settimeout(remaining)
                    data = sock.recv(RECV_SIZE)
                    if not data:
                        return
                    if conn.state is State.OPEN and not request_started:
                        # The first byte of a request: its own total deadline starts now.
                        request_started = True
                        deadline = time.monotonic() + limits.request_s
                    pacer.pace(len(data))
                    was_handshaking = conn.state is State.HANDSHAKING

                    def send() -> None:
                        out = conn.data_to_send()
                        if out:
                            pacer.pace(len(out))
                            sock.sendall(out)

                    try:
                        answered = self._answer(conn, session, data, send)
                    finally:
                        send()  # even a refused connection gets its TLS alert
                    if (was_handshaking and conn.state is State.OPEN) or answered:
                        # Between requests: idle until the next one's first byte.
                        request_started = False
                        deadline = time.monotonic() + limits.idle_s
        except (OSError, ProtocolError):
            # The app went away or spoke garbage: this connection ends, the cable serves on.
            return

    def _answer(
        self, conn: CableConnection, session: CableSession, data: bytes, send: Callable[[], None]
    ) -> bool:
        """Feed ``data``; answer every complete request, each sent as soon as it is ready
        (pipelined requests keep the radio busy while the next answer is made). True if one
        was answered."""
        conn.receive_data(data)
        answered = False
        while (event := conn.next_event()) is not None:
            if not isinstance(event, RequestReceived):
                continue
            request = event.request
            try:
                fields = session.handle(request, int(self._clock()))
            except CablepinError as error:
                conn.send_error(request.id, error)
            else:
                conn.send_response(request.id, **fields)
            send()
            answered = True
        return answered

"""Issue 11, finding 3: a real `cablepin cable run` under a connection flood and against
slow clients. Deadlines are options, so the tests use small ones (no 120 s waits)."""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cablepin.app.link import CableLink, parse_address

from .conftest import Deployment, RunningCable

pytestmark = pytest.mark.slow

FAST = ("--handshake-timeout", "1", "--request-timeout", "1", "--idle-timeout", "5")
FD_LIMIT = 64  # the cable process's descriptors: a flood of a few hundred exhausts them


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@contextmanager
def cable(deployment: Deployment, serial: str, *extra: str) -> Iterator[RunningCable]:
    state = deployment.provision(serial)
    running = RunningCable(state, deployment.env, *FAST, *extra, preexec_fn=_low_fd_limit)
    try:
        yield running
    finally:
        running.stop()


def flood(address: str, count: int) -> list[socket.socket]:
    host, port = parse_address(address)
    held = []
    for _ in range(count):
        try:
            held.append(socket.create_connection((host, port), timeout=5))
        except OSError:
            break  # our own side ran out: enough
    return held


def hello_eventually(running: RunningCable, ca_pem: bytes, attempts: int = 40) -> dict:  # type: ignore[type-arg]
    """The genuine app gets through once the flood is gone (a few tries while slots free)."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            with CableLink(running.address, running.serial, ca_pem, timeout=5) as link:
                return link.request("hello")
        except Exception as e:
            last = e
            time.sleep(0.25)
    raise AssertionError(f"the cable never answered after the flood: {last}")


@pytest.mark.parametrize("max_connections", ["2", "1000"])
def test_a_connection_flood_does_not_kill_the_cable(
    deployment: Deployment, max_connections: str
) -> None:
    """300 idle connections against a cable with 64 descriptors. With the cap (2) the extra
    ones are closed at once; with no real cap (1000) accept() hits EMFILE, and the cable
    must survive that too. Either way the genuine app is served afterwards."""
    serial = f"CBL-0000{71 if max_connections == '2' else 72}00"
    with cable(deployment, serial, "--max-connections", max_connections) as running:
        held = flood(running.address, 300)
        time.sleep(1.5)  # past the handshake deadline: the held ones are being dropped
        assert running.process.poll() is None, running.process.stderr.read()  # type: ignore[union-attr]
        for s in held:
            s.close()
        assert hello_eventually(running, deployment.ca_pem)["serial"] == serial
        assert running.process.poll() is None


def _dripped_until_closed(sock: socket.socket, data: bytes, limit: int) -> int:
    """Send ``data`` one byte at a time (0.2 s apart); return how many went out before
    the cable closed the connection, or ``limit`` if it never did."""
    sock.settimeout(0.2)
    for i, byte in enumerate(data[:limit]):
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(4096) == b"":
                return i
        except TimeoutError:
            continue
        except OSError:
            return i
    return limit


def test_a_client_that_drips_its_handshake_is_dropped(deployment: Deployment) -> None:
    """One byte each 0.2 s used to keep a connection forever (the idle timeout restarted
    with each byte). The handshake has its own total deadline now (1 s here)."""
    with cable(deployment, "CBL-00007301") as running:
        host, port = parse_address(running.address)
        with socket.create_connection((host, port)) as sock:
            hello = b"\x16\x03\x01\x02\x00" + bytes(range(256)) * 2  # a slow ClientHello
            sent = _dripped_until_closed(sock, hello, limit=60)
        assert sent < 60, "the cable kept a client that never finished its handshake"


def test_a_client_that_drips_a_request_is_dropped(deployment: Deployment) -> None:
    """After an honest handshake, a request sent one byte each 0.2 s is cut off by the
    request deadline (1 s here) instead of holding one of the cable's two connections."""
    with cable(deployment, "CBL-00007302") as running:
        link = CableLink(running.address, running.serial, deployment.ca_pem, timeout=5).open()
        try:
            conn, sock = link._conn, link._sock
            assert conn is not None
            assert sock is not None
            conn.send_request("hello")
            sent = _dripped_until_closed(sock, conn.data_to_send(), limit=60)
        finally:
            link.close()
        assert sent < 60, "the cable kept a client that never finished its request"
        assert hello_eventually(running, deployment.ca_pem)["serial"] == running.serial

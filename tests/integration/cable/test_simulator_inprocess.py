"""The simulator in this process (real sockets, no child process): robustness and pacing."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cablepin.app.link import CableLink
from cablepin.cable.provision import DEVICE_CERT, DEVICE_KEY, init_keys, open_cable, provision
from cablepin.cable.simulator import CableServer
from cablepin.protocol.batch import unpack_records
from cablepin.protocol.tls import cable_tls_context

SERIAL = "CBL-00000099"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[CableServer, bytes]]:
    keys, state = tmp_path / "keys", tmp_path / "cable"
    now = dt.datetime.now(dt.UTC)
    init_keys(keys, now)
    provision(SERIAL, keys, state, now)
    cable = open_cable(state)
    for i in range(40):
        cable.record_session(1_750_000_000 + i * 10, 1_750_000_005 + i * 10, 100, 2000)
    server = CableServer(
        cable,
        cable_tls_context(state / DEVICE_CERT, state / DEVICE_KEY),
        radio_dir=tmp_path / "radio",
        link_rate=None,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, (keys / "factory-ca.pem").read_bytes()
    server.close()
    thread.join(timeout=5)


def test_garbage_on_one_connection_does_not_stop_the_cable(
    served: tuple[CableServer, bytes],
) -> None:
    server, ca = served
    host, port = server.address.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as rogue:
        rogue.sendall(b"\x16\x03\x01\xff\xff" + b"\x00" * 100)
        rogue.settimeout(5)
        with contextlib.suppress(OSError):
            rogue.recv(100)  # a TLS alert or a close
    with CableLink(server.address, SERIAL, ca) as link:
        assert link.request("hello")["serial"] == SERIAL


def test_two_apps_at_once_each_get_their_own_nonce(served: tuple[CableServer, bytes]) -> None:
    server, ca = served
    with CableLink(server.address, SERIAL, ca) as a, CableLink(server.address, SERIAL, ca) as b:
        assert a.request("hello")["nonce"] != b.request("hello")["nonce"]
        a.request("auth", pin="0000")
        assert len(unpack_records(a.request("read", after_seq=0, limit=500)["batch"])) == 40


def test_link_rate_slows_the_link_like_ble(
    tmp_path: Path, served: tuple[CableServer, bytes]
) -> None:
    server, ca = served
    slow = CableServer(
        server.cable,
        server.tls,
        radio_dir=tmp_path / "radio-slow",
        link_rate=20_000,
    )
    thread = threading.Thread(target=slow.serve_forever, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with CableLink(slow.address, SERIAL, ca) as link:
            link.request("auth", pin="0000")
            link.request("read", after_seq=0, limit=500)
            moved = link.bytes_sent + link.bytes_received
        elapsed = time.monotonic() - started
        assert elapsed >= moved / 20_000 * 0.9
    finally:
        slow.close()
        thread.join(timeout=5)

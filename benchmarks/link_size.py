"""Bytes on the app<->cable link per synced session (issue 2: at most 64).

A real simulated cable (``CableServer``, TLS 1.3 over TCP on loopback) holds
1,000 sessions; a real ``CableLink`` connects, says hello, authenticates with
the default PIN and reads until the cable says there is no more. Every byte
that crosses the socket in either direction counts: TLS handshake and record
overhead, length prefixes, requests and responses. TCP/IP headers do not
(Bluetooth LE has its own framing below ours).

A second run paces the cable's sending at 20,000 bytes/s, what Bluetooth LE
moves in practice, and times the whole sync from connect to the last record.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import Figure, Section
from cablepin.app.link import CableLink
from cablepin.cable.firmware import Charge
from cablepin.cable.provision import init_keys, open_cable, provision
from cablepin.cable.simulator import CableServer
from cablepin.protocol import MAX_READ_LIMIT, unpack_records
from cablepin.protocol.tls import cable_tls_context

SESSIONS = 1_000
SERIAL = "CBL-00000001"
TARGET_BYTES = 64
BLE_RATE = 20_000


def _sync(address: str, ca_pem: bytes) -> tuple[int, int, float]:
    started = time.perf_counter()
    with CableLink(address, SERIAL, ca_pem, timeout=120) as link:
        link.request("hello", challenge=os.urandom(16))  # as the app does: the cloud's challenge
        link.request("auth", pin="0000")
        after, got = 0, 0
        while True:
            answer = link.request("read", after_seq=after, limit=MAX_READ_LIMIT)
            records = unpack_records(answer["batch"])
            got += len(records)
            if records:
                after = records[-1].seq
            if not answer["more"]:
                break
        total = link.bytes_sent + link.bytes_received
    return got, total, time.perf_counter() - started


def _measure(state: Path, keys: Path, link_rate: int | None) -> tuple[int, int, float]:
    cable = open_cable(state)
    tls = cable_tls_context(state / "device.pem", state / "device.key")
    with tempfile.TemporaryDirectory() as radio:
        server = CableServer(cable, tls, link_rate=link_rate, radio_dir=Path(radio))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            return _sync(server.address, (keys / "factory-ca.pem").read_bytes())
        finally:
            server.close()


def run() -> Section:
    with tempfile.TemporaryDirectory() as tmp:
        keys, state = Path(tmp) / "keys", Path(tmp) / "cable"
        now = dt.datetime.now(dt.UTC)
        init_keys(keys, now)
        provision(SERIAL, keys, state, now)
        t0 = int(now.timestamp()) - SESSIONS * 7200
        charges = [
            Charge(t0 + i * 7200, t0 + i * 7200 + 5400, 7_400 + i % 300, 11_000)
            for i in range(SESSIONS)
        ]
        open_cable(state).record_sessions(charges)
        got, total, _ = _measure(state, keys, None)
        got_ble, total_ble, seconds_ble = _measure(state, keys, BLE_RATE)
    assert got == got_ble == SESSIONS, (got, got_ble)
    per_session = total / SESSIONS
    return Section(
        title="Link bytes per synced session",
        command="make bench  (benchmarks/link_size.py)",
        method=(
            f"A simulated cable with {SESSIONS:,} sessions, a real TLS 1.3 link over loopback, "
            f"hello + PIN auth + reads of {MAX_READ_LIMIT} records until done; every byte on "
            "the socket counted both ways (handshake, TLS records, frames, messages). The "
            f"second run paces the cable at {BLE_RATE:,} bytes/s like Bluetooth LE."
        ),
        figures=[
            Figure(
                f"bytes per session, amortised over {SESSIONS:,}",
                f"{per_session:.1f}",
                f"<= {TARGET_BYTES}",
                per_session <= TARGET_BYTES,
            ),
            Figure("bytes for the whole sync", f"{total:,}"),
            Figure(
                f"sync of {SESSIONS:,} sessions at {BLE_RATE // 1000} KB/s",
                f"{seconds_ble:.2f} s ({total_ble:,} bytes)",
            ),
        ],
    )

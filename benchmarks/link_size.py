"""B1: bytes and round trips on the app<->cable link (issue 12: <= 16 bytes a session, 2 trips).

Everything is real and in one process: the cloud (FastAPI in-process through
httpx's transport, SQLite in a temporary folder), a simulated cable
(``CableServer``: TLS 1.3 over TCP on loopback, the directory flash) and the
driver's app core (``AppCore.connect`` with ``CloudClient`` and ``CableLink``,
what ``cablepin app connect`` runs). Between app and cable sits ``Proxy``
(below), which forwards every byte and counts them both ways: TLS handshake,
record overhead, length prefixes, requests, answers, close_notify. TCP/IP
headers do not count (Bluetooth LE has its own framing below ours).

The proxy counts round trips as a radio would feel them: one trip is a flight
of the app's bytes answered by the cable's (the cable speaks after the app
spoke). The TLS 1.3 handshake is one; every answer the app waits for before
it can send on is one more.

* Bytes per session: a bonded app syncs 1,000 new sessions in one connect;
  all bytes of that connect over 1,000.
* Round trips of a typical connect: a bonded app, 5 new sessions, nothing
  waiting at the cloud. Side by side, the same connect made step by step
  (hello; ask the cloud; auth; read), which is what the app does when the
  cloud has a command for the cable, and what every connect did before
  issue 12.
* A 1,000-session sync with the cable held to 20,000 bytes/s, like BLE.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import select
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Final

from benchmarks.common import Figure, Section
from cablepin.app.cloud import BeforeLink, CloudClient
from cablepin.app.flow import AppCore, ConnectResult
from cablepin.app.home import Home
from cablepin.app.link import CableLink
from cablepin.cable.firmware import Charge
from cablepin.cable.provision import init_keys, open_cable, provision
from cablepin.cable.simulator import CableServer
from cablepin.cloud import Settings, create_app, migrate
from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.keys import load_factory_ca
from cablepin.cloud.services import accounts, cables
from cablepin.protocol import MAX_READ_LIMIT, pack_records, unpack_records
from cablepin.protocol.codec import cbor_dumps
from cablepin.protocol.tls import cable_tls_context

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette nudges towards httpx2; the lock has httpx
    from fastapi.testclient import TestClient

SESSIONS: Final = 1_000
TYPICAL: Final = 5
SERIAL: Final = "CBL-00000001"
PASSWORD: Final = "benchmark password"
TARGET_BYTES: Final = 16
TARGET_TRIPS: Final = 2
BLE_RATE: Final = 20_000
BEFORE_BYTES: Final = "31.6 (docs/benchmarks.md of 2026-11-24; issue 12 measured 33.1)"


class Proxy:
    """Forwards TCP between app and cable, one connection at a time, and counts.

    One thread and ``select`` over both ends, so the order in which bytes are
    seen is the order in which they arrived.
    """

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.reset()
        threading.Thread(target=self._serve, daemon=True).start()

    def reset(self) -> None:
        self.app_bytes = self.cable_bytes = self.round_trips = self.connections = 0

    @property
    def total(self) -> int:
        return self.app_bytes + self.cable_bytes

    def _serve(self) -> None:
        while True:
            try:
                app, _ = self._listener.accept()
            except OSError:
                return
            with app, socket.create_connection(self._target) as cable:
                self.connections += 1
                self._relay(app, cable)

    def _relay(self, app: socket.socket, cable: socket.socket) -> None:
        other = {app: cable, cable: app}
        open_ends = [app, cable]
        app_spoke = False
        while open_ends:
            readable, _, _ = select.select(open_ends, [], [], 60)
            if not readable:
                return
            for end in readable:
                try:
                    data = end.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    open_ends.remove(end)
                    with contextlib.suppress(OSError):
                        other[end].shutdown(socket.SHUT_WR)
                    continue
                if end is app:
                    self.app_bytes += len(data)
                    app_spoke = True
                else:
                    self.cable_bytes += len(data)
                    if app_spoke:
                        self.round_trips += 1
                    app_spoke = False
                with contextlib.suppress(OSError):
                    other[end].sendall(data)

    def close(self) -> None:
        self._listener.close()


class StepByStep(CloudClient):
    """The cloud as the app sees it when a command waits: the visit goes step by step."""

    def before_link(self, serial: str) -> BeforeLink:
        ahead = super().before_link(serial)
        return BeforeLink(ahead.challenge, False, ahead.synced)


def _seed(url: str, keys: Path, state: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    migrate(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        accounts.create_org(db, "Bench GmbH", now=now)
        users = {
            role: accounts.create_user(
                db,
                email=f"{role}@bench.example",
                name=role,
                role=role,
                org_name="Bench GmbH",
                password=PASSWORD,
                now=now,
            )
            for role in ("fleet_manager", "driver")
        }
        cables.register_cable(
            db,
            cert_pem=(state / "device.pem").read_bytes(),
            org_name="Bench GmbH",
            factory_ca=load_factory_ca(keys),
            now=now,
        )
        fm = accounts.actor_for_user(db, users["fleet_manager"])
        cables.assign(db, fm, SERIAL, "driver@bench.example", now=now)
        db.commit()
    engine.dispose()


class _Bench:
    """One cloud, one cable, one driver's app; connects through the counting proxy."""

    def __init__(self, tmp: Path, client: TestClient) -> None:
        self.tmp = tmp
        self.client = client
        self.cable = open_cable(tmp / "cable")
        self.ca_pem = (tmp / "keys" / "factory-ca.pem").read_bytes()
        self.clock = int(time.time()) - 3 * 365 * 86400
        self.token = self._cloud(CloudClient).login("driver@bench.example", PASSWORD).token

    def _cloud(self, kind: type[CloudClient], token: str | None = None) -> CloudClient:
        return kind("http://testserver", token, transport=self.client._transport)

    def charge(self, count: int) -> None:
        """``count`` sessions like a car at home: every two hours, 1.5 h at 11 kW."""
        charges = []
        for i in range(count):
            start = self.clock + i * 7200
            charges.append(Charge(start, start + 5400, 7_400 + i % 300, 11_000))
        self.clock += count * 7200
        self.cable.record_sessions(charges)

    def connect(
        self, proxy: Proxy, *, step_by_step: bool = False
    ) -> tuple[ConnectResult, int, int, float]:
        cloud = self._cloud(StepByStep if step_by_step else CloudClient, self.token)

        def open_link(serial: str, address: str | None) -> CableLink:
            return CableLink(proxy.address, serial, self.ca_pem, timeout=120).open()

        core = AppCore(Home(self.tmp / "app"), cloud, open_link)
        proxy.reset()
        started = time.perf_counter()
        result = core.connect(SERIAL)
        return result, proxy.total, proxy.round_trips, time.perf_counter() - started

    def codings(self) -> tuple[float, float]:
        """CBOR bytes a session of the cable's first 1,000 takes: (delta-coded, as arrays of 7)."""
        _, grant = self.cable.auth_pin("0000", int(time.time()))
        records = []
        for after in range(0, SESSIONS, MAX_READ_LIMIT):
            records += unpack_records(self.cable.read(grant, after, MAX_READ_LIMIT)["batch"])
        packed = sum(
            len(cbor_dumps(pack_records(records[i : i + MAX_READ_LIMIT])))
            for i in range(0, SESSIONS, MAX_READ_LIMIT)
        )
        arrays = len(cbor_dumps([r.to_wire() for r in records]))
        return packed / SESSIONS, arrays / SESSIONS

    def serve(self, link_rate: int | None = None) -> tuple[CableServer, Proxy]:
        state = self.tmp / "cable"
        tls = cable_tls_context(state / "device.pem", state / "device.key")
        server = CableServer(
            self.cable, tls, link_rate=link_rate, radio_dir=self.tmp / f"radio-{link_rate}"
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, Proxy(server.address)


def run() -> Section:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        now = dt.datetime.now(dt.UTC)
        init_keys(tmp / "keys", now)
        provision(SERIAL, tmp / "keys", tmp / "cable", now)
        url = f"sqlite:///{tmp / 'cloud.db'}"
        _seed(url, tmp / "keys", tmp / "cable")
        settings = Settings(db=url, keys=tmp / "keys", argon2_time_cost=1, argon2_memory_kib=8192)
        with TestClient(create_app(settings)) as client:
            bench = _Bench(tmp, client)
            server, proxy = bench.serve()
            try:
                first, _, _, _ = bench.connect(proxy)  # PIN 0000: the app is bonded from now on
                assert first.auth == "default", first
                bench.charge(SESSIONS)
                big, big_bytes, big_trips, _ = bench.connect(proxy)
                bench.charge(TYPICAL)
                quick, quick_bytes, quick_trips, _ = bench.connect(proxy)
                quick_links = proxy.connections
                bench.charge(TYPICAL)
                steps, steps_bytes, steps_trips, _ = bench.connect(proxy, step_by_step=True)
            finally:
                proxy.close()
                server.close()
            packed, arrays = bench.codings()
            bench.charge(SESSIONS)
            server, proxy = bench.serve(BLE_RATE)
            try:
                paced, paced_bytes, _, paced_s = bench.connect(proxy)
            finally:
                proxy.close()
                server.close()
    assert big.synced == paced.synced == SESSIONS, (big, paced)
    assert quick.synced == steps.synced == TYPICAL, (quick, steps)
    assert quick.auth == steps.auth == "bond", (quick, steps)
    per_session = big_bytes / SESSIONS
    return Section(
        title="B1: the app<->cable link, bytes and round trips",
        command="make bench  (benchmarks/link_size.py; alone: python -m benchmarks link_size)",
        method=(
            "The real app core (`AppCore.connect`, what `cablepin app connect` runs) against "
            "the real cloud in-process (SQLite) and a simulated cable (TLS 1.3 over TCP on "
            "loopback); between app and cable a proxy that forwards and counts every byte on "
            "the socket both ways (handshake, TLS records, frames, messages, close_notify) and "
            "every round trip (a flight of the app answered by the cable: the TLS handshake is "
            "one). The app is bonded (it connected once with PIN 0000) and nothing waits at "
            "the cloud. Step by step: the same connect when the cloud has a command for the "
            "cable (hello; the cloud; auth; read), as every connect went before issue 12. The "
            f"paced run holds the cable to {BLE_RATE:,} bytes/s like Bluetooth LE."
        ),
        figures=[
            Figure(
                f"bytes per session, amortised over a {SESSIONS:,}-session sync",
                f"{per_session:.1f} ({big_bytes:,} bytes, {big_trips} round trips)",
                f"<= {TARGET_BYTES}",
                per_session <= TARGET_BYTES,
            ),
            Figure("  the same before issue 12", BEFORE_BYTES),
            Figure(
                "  of which the records: delta-coded batch / as arrays of 7 integers (before)",
                f"{packed:.1f} / {arrays:.1f}",
            ),
            Figure(
                f"round trips of a typical connect (bonded, {TYPICAL} new sessions)",
                f"{quick_trips} ({quick_bytes:,} bytes, {quick_links} link)",
                f"{TARGET_TRIPS}",
                quick_trips <= TARGET_TRIPS,
            ),
            Figure(
                "  the same connect step by step (a command waiting; before issue 12: always)",
                f"{steps_trips} ({steps_bytes:,} bytes)",
            ),
            Figure(
                f"sync of {SESSIONS:,} sessions at {BLE_RATE // 1000} KB/s, connect to done",
                f"{paced_s:.2f} s ({paced_bytes:,} bytes)",
            ),
        ],
        notes=(
            f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
            f"{os.cpu_count()} cores shared with other work (load average "
            f"{os.getloadavg()[0]:.1f}), Python {platform.python_version()}. Bytes and round "
            "trips do not depend on the machine; the paced time does, and includes the "
            "cloud's work (challenge, connect, uploads into SQLite). "
            "How the bytes of a session went from about 30 to about 12: a read's records "
            "travel as one flat CBOR array, delta-coded (`protocol/batch.py`): the sequence "
            "number is implied, start and end become the gap since the previous session and "
            "the duration, the meter's start and end and the charger's power repeat (0, one "
            "byte each). The rest of the figure is the TLS handshake (certificate included) "
            "and one signed head per read, spread over the sessions. The round trips: the "
            "app asks the cloud before it opens the link (challenge, and whether anything "
            "waits), sends hello, auth and the first read in its second flight, and reports "
            "to the cloud after the link is closed (`app/flow.py`, the quick visit)."
        ),
    )

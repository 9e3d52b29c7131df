"""The soak test's world: a PostgreSQL database, two `cablepin serve` processes, simulated
cables served in-process over real sockets, and the drivers' app installations.

Rules kept here:

* Everything a driver or a fleet manager does goes through the real
  interfaces: the app core (``cablepin.app.AppCore``, the library the CLI
  wraps) or the CLI process, over TCP to a cable and HTTP to a `cablepin
  serve`; the fleet manager uses the JSON API. Only the set-up (users and
  cable registrations, which `cablepin admin` would do one process at a
  time) calls the cloud's services directly.
* A cable is the real firmware (``cable.Cable``) over a ``SimulatedFlash``
  (the unit tests' flash, which can lose power after any write), behind the
  real ``CableServer``. A power cut ends the connection that caused it; the
  cable is "rebooted" by closing its server, taking what the flash kept
  (``SimulatedFlash.reboot``) and serving again on a new port.
* The harness keeps its own ledger: for every cable and epoch, the records
  the cable holds (read back from its flash after every change), which
  driver the epoch belongs to, and which records the cable acknowledged.
  The checks compare the cloud's database against it.
* Nothing waits by sleeping for a race to pass: every wait is on a condition
  (a server answering ``/readyz``, an event set by a cable) with a bound.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller
from tests.integration.cloud.smtp import Recorder

from cablepin.app import AppCore, AppState, CableLink, CloudClient, Home
from cablepin.app.flow import PinAsk
from cablepin.cable.firmware import Cable, Charge, Grant, factory_state
from cablepin.cable.provision import (
    DEVICE_CERT,
    DEVICE_KEY,
    init_keys,
    load_identity,
    provision,
)
from cablepin.cable.simulator import CableServer, Limits
from cablepin.cable.state import load_state, read_sessions, save_state
from cablepin.cable.store import PowerLost, SimulatedFlash
from cablepin.protocol.chain import genesis
from cablepin.protocol.tls import cable_tls_context

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname={name} connect_timeout=3"
READY_BOUND_S = 60.0
# A load test, not a flood test: hundreds of cables and their apps share one process (and
# its GIL) on a busy machine, so the link's deadlines are generous; what is checked is
# that nothing is lost, not how fast.
LIMITS = Limits(handshake_s=60.0, request_s=120.0, idle_s=120.0)
LINK_TIMEOUT_S = 60.0
ORG = "Soak Fleet GmbH"


class SoakError(AssertionError):
    """The harness could not do what it must (a bound passed, a fault did not happen)."""


def pg_problem() -> str | None:
    """Why PostgreSQL at 127.0.0.1:5432 cannot be used, or None."""
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True):
            return None
    except psycopg.Error as e:
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def cablepin_command() -> list[str]:
    script = Path(sys.executable).with_name("cablepin")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cablepin.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the database -----------------------------------------------------------------------


@dataclass
class Database:
    name: str = field(default_factory=lambda: f"cablepin_soak_{secrets.token_hex(5)}")

    @property
    def url(self) -> str:
        return PG_URL.format(name=self.name)

    def create(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def cut_connections(self) -> int:
        """Terminate every backend of this database (the servers' pooled connections)."""
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            ).fetchone()
        return int(row[0]) if row else 0

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(PG_DSN.format(name=self.name)) as conn:
            return list(conn.execute(sql, args).fetchall())


# -- the cloud: two `cablepin serve` processes ------------------------------------------


@dataclass
class Server:
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    up: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Cloud:
    """N `cablepin serve` processes on one database; one can be killed and restarted."""

    def __init__(self, root: Path, db_url: str, keys: Path, count: int, env: dict[str, str]):
        self.db_url, self.keys, self.env = db_url, keys, env
        self.servers = [Server(free_port(), root / f"serve-{i}.log") for i in range(count)]

    def start_all(self) -> None:
        """Start every server at once (the database is migrated already) and wait for them."""
        for index in range(len(self.servers)):
            self._spawn(index)
        for server in self.servers:
            self._wait_ready(server)
            server.up = True

    def start(self, index: int) -> None:
        self._spawn(index)
        self._wait_ready(self.servers[index])
        self.servers[index].up = True

    def restart(self, index: int) -> threading.Thread:
        """Start server ``index`` again; it takes requests once ready (join the thread)."""
        self._spawn(index)
        errors: list[BaseException] = []

        def ready() -> None:
            try:
                self._wait_ready(self.servers[index])
                self.servers[index].up = True
            except BaseException as e:
                errors.append(e)

        thread = threading.Thread(target=ready, daemon=True)
        thread.errors = errors  # type: ignore[attr-defined]
        thread.start()
        return thread

    def _spawn(self, index: int) -> None:
        server = self.servers[index]
        with open(server.log, "ab") as log:
            server.process = subprocess.Popen(
                [
                    *cablepin_command(),
                    "serve",
                    "--db",
                    self.db_url,
                    "--keys",
                    str(self.keys),
                    "--port",
                    str(server.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def _wait_ready(self, server: Server) -> None:
        deadline = time.monotonic() + READY_BOUND_S
        while time.monotonic() < deadline:
            assert server.process is not None
            if server.process.poll() is not None:
                raise SoakError(f"cablepin serve on {server.port} exited; see {server.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)  # polling a condition, with a bound
        raise SoakError(f"cablepin serve on {server.port} not ready in {READY_BOUND_S} s")

    def kill(self, index: int) -> None:
        """SIGKILL: no shutdown, requests in flight are cut."""
        server = self.servers[index]
        server.up = False
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)

    def wait_ready(self) -> None:
        """Wait until every server that should be up answers ``/readyz`` (the database too)."""
        for server in self.servers:
            if server.up:
                self._wait_ready(server)

    def url(self, rnd: Callable[[list[str]], str]) -> str:
        ups = [s.url for s in self.servers if s.up]
        return rnd(ups or [s.url for s in self.servers])

    def stop(self) -> None:
        for server in self.servers:
            if server.process is not None and server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
                try:
                    server.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.process.kill()
                    server.process.wait()
            server.up = False

    def answers(self, status: Callable[[int], bool]) -> list[dict[str, Any]]:
        """Every request the servers answered with a ``status`` that matches (their JSON logs)."""
        found = []
        for server in self.servers:
            for line in server.log.read_text(errors="replace").splitlines():
                if not line.startswith("{"):
                    continue
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if status(int(entry.get("status") or 0)):
                        found.append(entry)
        return found


# -- e-mail ----------------------------------------------------------------------------------


class MailSink:
    """The SMTP server the outbox delivers to (aiosmtpd, the tests' ``Recorder``); it can be
    taken down and brought back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.recorder = Recorder()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def env(self) -> dict[str, str]:
        return {
            "CABLEPIN_SMTP_HOST": "127.0.0.1",
            "CABLEPIN_SMTP_PORT": str(self.port),
            "CABLEPIN_SMTP_TLS": "none",
        }


# -- the cables ---------------------------------------------------------------------------


class SoakFlash:
    """A ``SimulatedFlash`` shared by the cable's threads, whose power can be cut on purpose."""

    def __init__(self, flash: SimulatedFlash) -> None:
        self.inner = flash
        self._lock = threading.RLock()

    def cut_after(self, writes: int) -> None:
        """Let ``writes`` more flash writes happen, then lose power at the next one."""
        self.inner.fail_after = self.inner.writes + writes

    def reboot(self) -> None:
        self.inner = self.inner.reboot()

    def read(self, name: str) -> bytes | None:
        return self.inner.read(name)

    def read_at(self, name: str, offset: int, length: int) -> bytes:
        return self.inner.read_at(name, offset, length)

    def size(self, name: str) -> int:
        return self.inner.size(name)

    def write_new(self, name: str, data: bytes) -> None:
        self.inner.write_new(name, data)

    def write_from(self, name: str, offset: int, data: bytes) -> None:
        self.inner.write_from(name, offset, data)

    def fsync(self, name: str) -> None:
        self.inner.fsync(name)

    def rename(self, src: str, dst: str) -> None:
        self.inner.rename(src, dst)

    def fsync_dir(self) -> None:
        self.inner.fsync_dir()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with self._lock:
            yield


@dataclass
class Gate:
    """Holds the cable's ``at``-th ``read`` until ``release`` (an app can be killed meanwhile)."""

    at: int
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    reads: int = 0


class GatedCable(Cable):
    """The real firmware, with a hook before ``read`` for the app-killed-mid-sync fault."""

    gate: Gate | None = None

    def read(self, grant: Grant, after_seq: int, limit: int) -> dict[str, Any]:
        gate = self.gate
        if gate is not None:
            gate.reads += 1
            if gate.reads == gate.at:
                gate.reached.set()
                gate.release.wait(READY_BOUND_S)
        return super().read(grant, after_seq, limit)


class PoweredServer(CableServer):
    """``CableServer`` whose connection ends quietly when the flash loses power."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.power_lost = threading.Event()

    def _serve_in_slot(self, sock: socket.socket) -> None:
        try:
            super()._serve_in_slot(sock)
        except PowerLost:
            self.power_lost.set()


@dataclass
class SimCable:
    serial: str
    flash: SoakFlash
    cable: GatedCable
    tls: ssl.SSLContext
    radio: Path
    driver: str
    pin: str = "0000"
    server: PoweredServer | None = None
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    ledger: dict[int, list[list[int]]] = field(default_factory=dict)
    epoch_driver: dict[int, str] = field(default_factory=dict)
    acknowledged: set[tuple[int, int]] = field(default_factory=set)
    forgotten: list[str] = field(default_factory=list)  # the cable lost what it had said
    next_start: int = 0

    @property
    def address(self) -> str:
        assert self.server is not None
        return self.server.address

    def serve(self) -> None:
        self.server = PoweredServer(self.cable, self.tls, radio_dir=self.radio, limits=LIMITS)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.thread is not None:
            self.thread.join(READY_BOUND_S)

    def reboot(self) -> None:
        """Power back on: what the flash kept, served on a new port."""
        self.stop()
        self.flash.reboot()
        self.serve()

    def observe(self) -> int:
        """Read what the cable holds into the ledger; return its epoch."""
        with self.flash.lock():
            state = load_state(self.flash)
            held = read_sessions(
                self.flash,
                state,
                0,
                max(state.head_seq, 1),
                genesis(self.serial, state.epoch),
            )
        records = [entry.record.to_wire() for entry in held]
        known = self.ledger.get(state.epoch, [])
        if records[: len(known)] != known:
            self.forgotten.append(f"epoch {state.epoch}: held {len(known)}, now {len(records)}")
        self.ledger[state.epoch] = records
        self.epoch_driver.setdefault(state.epoch, self.driver)
        return state.epoch

    def record(self, count: int, wh: int) -> list[tuple[int, int]]:
        """Charge ``count`` sessions (one atomic append); returns the acknowledged (epoch, seq)."""
        charges = []
        for _ in range(count):
            start = self.next_start
            end = start + 600 + (wh % 2400)
            charges.append(Charge(start, end, wh, -(-wh * 3600 // (end - start))))
            self.next_start = end + 300
        epoch = self.observe()
        records = self.cable.record_sessions(charges)
        acked = [(epoch, r.seq) for r in records]
        self.acknowledged.update(acked)
        self.observe()
        return acked


def make_cable(serial: str, keys: Path, state_dir: Path, radio: Path, driver: str) -> SimCable:
    provision(serial, keys, state_dir, dt.datetime.now(dt.UTC))
    identity = load_identity(state_dir)
    flash = SimulatedFlash()
    save_state(flash, factory_state(identity))
    soak_flash = SoakFlash(flash)
    cable = GatedCable(identity, soak_flash)
    tls = cable_tls_context(state_dir / DEVICE_CERT, state_dir / DEVICE_KEY)
    return SimCable(serial, soak_flash, cable, tls, radio, driver)


# -- the apps -------------------------------------------------------------------------------


class Apps:
    """One app installation (``Home``) per cable and driver.

    Each driver logs in once (``tokens``); an installation gets that login
    when first used, as the CLI's ``app login`` would write it, so hundreds of
    installations do not cost hundreds of password hashes on the servers.
    """

    def __init__(self, root: Path, tokens: dict[str, str], factory_ca_pem: str) -> None:
        self.root = root
        self.tokens = tokens
        self.factory_ca_pem = factory_ca_pem
        self._lock = threading.Lock()
        self._ready: set[Path] = set()

    def home(self, serial: str, driver: str, server: str) -> Home:
        home = Home(self.root / serial / driver.split("@")[0])
        with self._lock:
            if home.path in self._ready:
                return home
            self._ready.add(home.path)
        home.update(
            lambda s: AppState(
                server=server,
                token=self.tokens[driver],
                email=driver,
                role="driver",
                factory_ca_pem=self.factory_ca_pem,
                bonds=s.bonds,
            )
        )
        return home

    @staticmethod
    def core(
        home: Home, server: str, sim: SimCable, new_pin: str | None = None
    ) -> tuple[AppCore, CloudClient]:
        """The app core as the CLI builds it, talking to ``server`` and to the cable."""
        state = home.load()
        assert state.token is not None
        assert state.factory_ca_pem is not None
        cloud = CloudClient(server, state.token)
        ca = state.factory_ca_pem.encode("ascii")

        def open_link(serial: str, _address: str | None) -> CableLink:
            return CableLink(sim.address, serial, ca, timeout=LINK_TIMEOUT_S).open()

        def prompt(ask: PinAsk) -> str | None:
            if ask.purpose == "new":
                return new_pin  # None: keep a permission for later
            return sim.pin

        return AppCore(home, cloud, open_link, pin_prompt=prompt), cloud


def new_keys(directory: Path) -> Path:
    init_keys(directory, dt.datetime.now(dt.UTC))
    return directory

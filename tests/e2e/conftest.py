"""The whole system as real processes: `cablepin serve`, `cablepin cable run`, `cablepin app ...`.

One world per test module: keys, SQLite database, organisation, fleet
manager, two drivers and support, all made with the real CLI
(``cablepin.demo.seed``, the same code as ``cablepin demo``), and a pool of
cables provisioned and registered with the real CLI (``factory provision``,
``admin register-cable``). Seeding costs about 30 CLI processes, so it runs
once per test session into a template deployment (``world_template``); each
module's world is a copy of it in its own folder (own database, keys, cable
states, radio and clock), with its own `cablepin serve`. Each test takes fresh
cables from the pool, so tests do not share a cable's PIN or history; only the
module's database is shared. A pool cable's `cablepin cable run` starts when a
test takes it (``World.cable``), so a module runs only the cables it uses.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cablepin.app.cloud import CloudClient
from cablepin.cable.simulator import CLOCK_OFFSET_ENV
from cablepin.demo import (
    CableSpec,
    DemoSpec,
    Layout,
    Person,
    Running,
    add_cable,
    cablepin_command,
    charge,
    run_cli,
    seed,
    start,
)

pytestmark = pytest.mark.slow

ORG = "E2E Fleet AG"
FLEET = Person("fleet@e2e.test", "Fiona Fleet", "fleet_manager", "fleet pass under the oak")
ANNA = Person("anna@e2e.test", "Anna Driver", "driver", "anna pass by the river")
BEN = Person("ben@e2e.test", "Ben Driver", "driver", "ben pass near the mill")
SUPPORT = Person("support@vendor.test", "Sam Support", "support", "support pass over the hill")
POOL = 11  # cables provisioned in the template; tests take them in order
PINS_USED: set[str] = set()  # every PIN any test typed (P7 searches the cloud for them)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Result:
    rc: int
    out: dict[str, Any]
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass
class World:
    root: Path
    layout: Layout
    running: Running
    env: dict[str, str]
    pool: list[str]
    clients: dict[str, CloudClient] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.running.url

    def home(self, name: str) -> Path:
        return self.root / "apps" / name

    def app(
        self,
        *args: str,
        home: str,
        stdin: str = "",
        json_out: bool = True,
        env: dict[str, str] | None = None,
    ) -> Result:
        """Run `cablepin app ARGS --home ...` as the driver would (stdin is never a terminal)."""
        argv = [*cablepin_command(), "app", *args, "--home", str(self.home(home))]
        if json_out:
            argv.append("--json")
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=60,
            check=False,
        )
        out: dict[str, Any] = {}
        if json_out and done.stdout.strip():
            out = json.loads(done.stdout.strip().splitlines()[-1])
        return Result(done.returncode, out, done.stderr)

    def login(self, home: str, person: Person) -> None:
        result = self.app(
            "login",
            "--server",
            self.url,
            "--email",
            person.email,
            "--password-stdin",
            home=home,
            stdin=person.password + "\n",
        )
        assert result.ok, result

    def cable(self, driver: Person | None, sessions: int = 0) -> str:
        """A fresh running cable from the pool, assigned to ``driver`` (None: the pool)."""
        serial = self.pool.pop(0)
        self.running.start_cables([serial])
        if driver is not None:
            self.as_(FLEET).request(
                "PUT", f"/api/v1/cables/{serial}/assignment", {"driver_email": driver.email}
            )
        if sessions:
            self.charge(serial, sessions)
        return serial

    def charge(self, serial: str, count: int, wh: int = 7400) -> None:
        charge(self.layout.cable(serial), count, wh=wh, env=self.env)

    def as_(self, person: Person) -> CloudClient:
        """The cloud API, logged in as ``person`` (fleet manager, support, or a driver)."""
        if person.email not in self.clients:
            client = CloudClient(self.url)
            client.login(person.email, person.password)
            self.clients[person.email] = client
        return self.clients[person.email]

    def sessions_of(self, driver: Person, serial: str) -> list[tuple[int, int]]:
        items = self.as_(FLEET).request(
            "GET", "/api/v1/sessions", params={"driver_email": driver.email, "serial": serial}
        )["items"]
        return sorted((int(i["epoch"]), int(i["seq"])) for i in items)

    def all_sessions(self, serial: str) -> list[tuple[int, int, str]]:
        items = self.as_(FLEET).request(
            "GET", "/api/v1/sessions", params={"serial": serial, "limit": 500}
        )["items"]
        return sorted((int(i["epoch"]), int(i["seq"]), str(i["driver_email"])) for i in items)

    def stored_sessions(self, serial: str) -> list[tuple[int, int, str]]:
        """Every stored row of the cable, straight from the database (no paging, no filter)."""
        query = (
            "SELECT s.epoch, s.seq, u.email FROM charging_sessions s "
            "JOIN cables c ON s.cable_id = c.id JOIN users u ON s.driver_id = u.id "
            "WHERE c.serial = ? ORDER BY s.epoch, s.seq"
        )
        with sqlite3.connect(self.layout.db_url.removeprefix("sqlite:///")) as db:
            return [(int(e), int(q), str(m)) for e, q, m in db.execute(query, (serial,))]

    def set_cable_clock(self, offset_s: int) -> None:
        """Move every simulated cable's clock ``offset_s`` seconds ahead of the host's."""
        Path(self.env[CLOCK_OFFSET_ENV]).write_text(f"{offset_s}\n")

    def detail(self, serial: str) -> dict[str, Any]:
        return dict(self.as_(FLEET).request("GET", f"/api/v1/cables/{serial}"))

    def verify_receipt(self, bundle: dict[str, Any], path: Path) -> Result:
        """Save ``bundle`` to ``path`` and check it as an auditor would: `cablepin
        verify-receipt PATH --factory-ca PEM --json`, trusting only the factory CA."""
        path.write_text(json.dumps(bundle))
        ca = self.layout.keys / "factory-ca.pem"
        done = subprocess.run(
            [*cablepin_command(), "verify-receipt", str(path), "--factory-ca", str(ca), "--json"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        return Result(done.returncode, json.loads(lines[-1]) if lines else {}, done.stderr)


def world_env(root: Path) -> dict[str, str]:
    """The environment of a world's processes: its own radio and cable clock, cheap hashing."""
    env = {
        **os.environ,
        "CABLEPIN_RADIO": str(root / "radio"),
        # The simulated cables' clock (P9 waits pass without sleeping for hours).
        CLOCK_OFFSET_ENV: str(root / "cable-clock-offset"),
        "CABLEPIN_ARGON2_TIME_COST": "1",
        "CABLEPIN_ARGON2_MEMORY_KIB": "8192",
        "LANG": "C.UTF-8",
        "LC_ALL": "",
        "LC_MESSAGES": "",
    }
    env.pop("CABLEPIN_HOME", None)
    return env


SPEC = DemoSpec(org=ORG, people=(FLEET, ANNA, BEN, SUPPORT), cables=())
SERIALS = tuple(f"CBL-{10_000_000 + n:08d}" for n in range(1, POOL + 1))
_TEMPLATES: dict[str, Path] = {}


def world_template(factory: pytest.TempPathFactory) -> Path:
    """The seeded deployment every world copies, built once per test session with the real
    CLI: keys, migrated database, organisation, people, and ``POOL`` registered cables."""
    if "deploy" not in _TEMPLATES:
        root = factory.mktemp("e2e-template")
        env = world_env(root)
        layout = seed(root / "deploy", SPEC, env)
        with ThreadPoolExecutor(max_workers=2) as workers:
            list(
                workers.map(
                    lambda s: add_cable(layout, ORG, CableSpec(s, None, 0), env=env), SERIALS
                )
            )
        _TEMPLATES["deploy"] = layout.root
    return _TEMPLATES["deploy"]


@contextmanager
def open_world(root: Path, template: Path, *, pool: int = POOL) -> Iterator[World]:
    """Copy the seeded ``template`` into ``root`` and run its cloud; ``pool`` cables wait
    to be taken (each starts running when a test takes it)."""
    if pool > len(SERIALS):
        raise ValueError(f"the template has {len(SERIALS)} cables, not {pool}")
    env = world_env(root)
    shutil.copytree(template, root / "deploy")
    layout = Layout(root / "deploy")
    serials = list(SERIALS[:pool])
    running = start(layout, SPEC, port=free_port(), env=env, cloud_log=root / "cloud.log")
    world = World(root, layout, running, env, serials)
    try:
        yield world
    finally:
        for client in world.clients.values():
            client.close()
        running.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    template = world_template(tmp_path_factory)
    with open_world(tmp_path_factory.mktemp("e2e"), template) as opened:
        yield opened


__all__ = [
    "ANNA",
    "BEN",
    "FLEET",
    "PINS_USED",
    "SUPPORT",
    "Result",
    "World",
    "open_world",
    "run_cli",
    "world_template",
]

"""Fixtures of the cloud integration suite: every test runs on SQLite and PostgreSQL.

PostgreSQL: one fresh database (random name) per test session on
127.0.0.1:5432 (user postgres), migrated once, emptied between tests, dropped
at the end. When no server answers, the PostgreSQL half is skipped with a
warning and a line in the terminal summary.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import secrets
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

with warnings.catch_warnings():
    # starlette 1.x nudges towards httpx2; plain httpx is what the lock file has.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
from sqlalchemy import text

from cablepin.cloud import Settings, create_app, migrate
from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.services import accounts, cables

from .fakes import FakeCable, Keys, make_keys

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
PASSWORD = "correct horse battery"
SKIP_NOTES: list[str] = []


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True):
            return None
    except psycopg.Error as e:
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    problem = _pg_available()
    if problem is not None:
        note = f"PostgreSQL at 127.0.0.1:5432 did not answer ({problem}): PostgreSQL tests SKIPPED"
        SKIP_NOTES.append(note)
        warnings.warn(note, pytest.PytestWarning, stacklevel=1)
        pytest.skip(note)
    name = f"cablepin_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.format(name=name)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


TABLES = (
    "outbox, receipt_lines, receipts, payment_runs, driver_accounts, tariffs, billing_policies, "
    "chain_heads, audit_events, audit_head, audit_people, charging_sessions, commands, "
    "assignments, cables, api_tokens, web_sessions, invitations, login_throttle, users, "
    "organisations"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "cloud.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    empty_pg(url)
    return url


def empty_pg(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        # Reference data seeded by the migrations stays; what tests added goes.
        conn.execute(text("DELETE FROM flat_prices WHERE year <> 2026"))
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
        )
    engine.dispose()


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@dataclass
class World:
    """Two organisations, their people and cables, and a client on the real app."""

    client: TestClient
    url: str
    keys: Keys
    clock: Clock
    cables: dict[str, FakeCable] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def session(self) -> Any:
        return make_sessionmaker(self.client.app.state.engine)()  # type: ignore[attr-defined]

    def token(self, who: str) -> str:
        if who not in self.tokens:
            r = self.client.post("/api/v1/auth/login", json={"email": who, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.tokens[who] = r.json()["token"]
        return self.tokens[who]

    def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(who)}"} if who else {}
        return self.client.request(method, path, headers=headers, **kwargs)

    # app-side helpers ------------------------------------------------------
    def challenge(self, who: str | None, serial: str) -> bytes:
        """What ``who``'s app fetches before it says hello (zeros if it may not fetch one)."""
        if who is None:
            return bytes(16)
        r = self.call("GET", f"/api/v1/app/cables/{serial}/challenge", who)
        return base64.b64decode(r.json()["challenge"]) if r.status_code == 200 else bytes(16)

    def connect(self, who: str, serial: str, **extra: Any) -> Any:
        body = {**self.cables[serial].hello(who), **extra}
        return self.call("POST", f"/api/v1/app/cables/{serial}/connect", who, json=body)

    def relay(self, who: str, serial: str) -> list[str]:
        """Connect, apply every command on the fake cable, post the receipts."""
        r = self.connect(who, serial)
        assert r.status_code == 200, r.text
        kinds = []
        for cmd in r.json()["commands"]:
            receipt = self.cables[serial].apply(cmd["blob"])
            p = self.call(
                "POST", f"/api/v1/app/cables/{serial}/receipts", who, json={"receipt": receipt}
            )
            assert p.status_code == 200, p.text
            kinds.append(cmd["kind"])
        return kinds

    def upload(self, who: str, serial: str, body: dict[str, Any]) -> Any:
        return self.call("POST", f"/api/v1/app/cables/{serial}/sessions", who, json=body)


ORG_A, ORG_B = "Fleet A", "Fleet B"
FM_A, FM_B = "fm@a.example", "fm@b.example"
DRIVER_A1, DRIVER_A2, DRIVER_B1 = "d1@a.example", "d2@a.example", "d1@b.example"
SUPPORT = "support@vendor.example"
CABLE_A, CABLE_A2, CABLE_B = "CBL-00000001", "CBL-00000003", "CBL-00000002"


FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}


def settings_for(url: str, keys: Keys) -> Settings:
    return Settings(db=url, keys=keys.directory, **FAST_HASHING)


def seed(url: str, keys: Keys, clock: Clock) -> dict[str, FakeCable]:
    accounts.configure_password_hashing(time_cost=1, memory_kib=1024)
    engine = make_engine(url)
    made: dict[str, FakeCable] = {}
    with make_sessionmaker(engine)() as db:
        now = clock()
        for org in (ORG_A, ORG_B):
            accounts.create_org(db, org, now=now)
        people = [
            (FM_A, "fleet_manager", ORG_A),
            (DRIVER_A1, "driver", ORG_A),
            (DRIVER_A2, "driver", ORG_A),
            (FM_B, "fleet_manager", ORG_B),
            (DRIVER_B1, "driver", ORG_B),
            (SUPPORT, "support", None),
        ]
        for email, role, org in people:
            accounts.create_user(
                db, email=email, name=email, role=role, org_name=org, password=PASSWORD, now=now
            )
        for serial, org in ((CABLE_A, ORG_A), (CABLE_A2, ORG_A), (CABLE_B, ORG_B)):
            made[serial] = FakeCable.provision(keys, serial)
            cables.register_cable(
                db, cert_pem=made[serial].cert_pem, org_name=org, factory_ca=keys.ca_cert, now=now
            )
    engine.dispose()
    return made


@pytest.fixture
def world(db_url: str, keys: Keys) -> Iterator[World]:
    clock = Clock()
    made = seed(db_url, keys, clock)
    app = create_app(settings_for(db_url, keys), clock=clock)
    with TestClient(app) as client:
        w = World(client, db_url, keys, clock, cables=made)
        for fake in made.values():
            fake.challenge_source = functools.partial(w.challenge, serial=fake.serial)
        yield w


def assigned_world(world: World) -> World:
    """CABLE_A assigned to DRIVER_A1, CABLE_B to DRIVER_B1."""
    for serial, fm, driver in ((CABLE_A, FM_A, DRIVER_A1), (CABLE_B, FM_B, DRIVER_B1)):
        r = world.call(
            "PUT", f"/api/v1/cables/{serial}/assignment", fm, json={"driver_email": driver}
        )
        assert r.status_code == 200, r.text
    return world


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for note in SKIP_NOTES[:1]:
        terminalreporter.write_sep("!", note, red=True, bold=True)

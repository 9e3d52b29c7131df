"""Session ingest in the cloud: sessions per second through the real HTTP API.

A real cable (firmware over a directory "flash") holds 10,000 sessions and
answers reads of 500 records with its signed head; the batches are posted to
``POST /api/v1/app/cables/{serial}/sessions`` of the real FastAPI app
(in-process ASGI: JSON, validation, chain verification, inserts, commit) on
SQLite and on the local PostgreSQL. Only the uploads are timed.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import tempfile
import time
import warnings
from pathlib import Path

import psycopg

from benchmarks.common import Figure, Section
from cablepin.cable.firmware import Charge
from cablepin.cable.provision import init_keys, open_cable, provision
from cablepin.cloud import Settings, create_app, migrate
from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.keys import load_factory_ca
from cablepin.cloud.services import accounts, cables
from cablepin.protocol import MAX_READ_LIMIT

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SESSIONS = 10_000
SERIAL = "CBL-00000007"
PASSWORD = "benchmark password"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


def _seed(url: str, keys: Path, state: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        accounts.create_org(db, "Bench GmbH", now=now)
        users = {}
        for email, role in (("fm@bench.example", "fleet_manager"), ("d@bench.example", "driver")):
            users[role] = accounts.create_user(
                db,
                email=email,
                name=email,
                role=role,
                org_name="Bench GmbH",
                password=PASSWORD,
                now=now,
            )
        cables.register_cable(
            db,
            cert_pem=(state / "device.pem").read_bytes(),
            org_name="Bench GmbH",
            factory_ca=load_factory_ca(keys),
            now=now,
        )
        fm = accounts.actor_for_user(db, users["fleet_manager"])
        cables.assign(db, fm, SERIAL, "d@bench.example", now=now)
    engine.dispose()


def _ingest(url: str, keys: Path, state: Path) -> float:
    migrate(url)
    _seed(url, keys, state)
    cable = open_cable(state)
    now = int(time.time())
    _, grant = cable.auth_pin("0000", now)
    batches = []
    after = 0
    while True:
        answer = cable.read(grant, after, MAX_READ_LIMIT)
        if not answer["records"]:
            break
        batches.append(
            {
                "epoch": 0,
                "records": answer["records"],
                "head_sig": base64.b64encode(answer["head_sig"]).decode(),
            }
        )
        after = answer["records"][-1][0]
    settings = Settings(db=url, keys=keys, argon2_time_cost=1, argon2_memory_kib=8192)
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login", json={"email": "d@bench.example", "password": PASSWORD}
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        started = time.perf_counter()
        for batch in batches:
            r = client.post(f"/api/v1/app/cables/{SERIAL}/sessions", json=batch, headers=headers)
            assert r.status_code == 200, r.text
        elapsed = time.perf_counter() - started
        assert r.json()["synced"]["seq"] == SESSIONS
    return SESSIONS / elapsed


def run() -> Section:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        keys, state = Path(tmp) / "keys", Path(tmp) / "cable"
        now = dt.datetime.now(dt.UTC)
        init_keys(keys, now)
        provision(SERIAL, keys, state, now)
        t0 = int(now.timestamp()) - SESSIONS * 3600
        open_cable(state).record_sessions(
            [Charge(t0 + i * 3600, t0 + i * 3600 + 1800, 5_000, 11_000) for i in range(SESSIONS)]
        )
        rate = _ingest(f"sqlite:///{tmp}/bench.db", keys, state)
        figures.append(Figure("SQLite: sessions ingested per second", f"{rate:,.0f}"))
        name = f"cablepin_bench_{secrets.token_hex(4)}"
        try:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as e:
            figures.append(Figure("PostgreSQL", f"not measured: no server ({e})"))
        else:
            try:
                url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
                rate = _ingest(url, keys, state)
                figures.append(Figure("PostgreSQL: sessions ingested per second", f"{rate:,.0f}"))
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return Section(
        title="Cloud session ingest",
        command="make bench  (benchmarks/ingest.py)",
        method=(
            f"{SESSIONS:,} cable-signed sessions in batches of {MAX_READ_LIMIT} posted to the "
            "real API in-process (JSON, chain and signature check, idempotent insert, commit), "
            "one client, one process."
        ),
        figures=figures,
        notes=(
            "For scale: a fleet of 10,000 cables syncing 2 sessions a day each sends 20,000 "
            "sessions a day, under 10 s of ingest work a day for one process at these rates. "
            "No target was set for this figure in the issues; it is here to watch for regressions."
        ),
    )

"""B2 (issue 12): session ingest through the API, against straight executemany.

A real cable (firmware over a directory "flash") holds 10,000 sessions and
answers reads of 500 records with its signed head; the batches are posted to
``POST /api/v1/app/cables/{serial}/sessions`` of the real FastAPI app
(in-process ASGI: JSON, validation, chain and signature check, duplicate
check, inserts, commit). Only the uploads are timed.

On PostgreSQL the same run also times the floor: the very same rows (read
back after a warm-up upload) inserted into the very same table by psycopg's
``executemany`` in batches of the same size, one commit a batch. Between
rounds the sessions, the signed heads and the cable's head are reset, and
the two are timed alternately (ROUNDS each); the figure is the ratio of the
medians. SQLite is timed once, to watch for regressions.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI

from benchmarks.common import Figure, Section
from cablepin.cable.firmware import Charge
from cablepin.cable.provision import init_keys, open_cable, provision
from cablepin.cloud import Settings, create_app, migrate
from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.keys import load_factory_ca
from cablepin.cloud.services import accounts, cables
from cablepin.protocol import MAX_READ_LIMIT, unpack_records
from cablepin.protocol.chain import genesis

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SESSIONS = 10_000
ROUNDS = 3
TARGET = 0.5
SERIAL = "CBL-00000007"
PASSWORD = "benchmark password"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
COLUMNS = (
    "cable_id, epoch, seq, driver_id, start_s, end_s, wh, meter_start_wh, meter_end_wh, "
    "max_w, chain_hash, received_at"
)


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


def _batches(state: Path) -> list[dict[str, Any]]:
    """What the app posts: the cable's reads of 500 records with their signed heads."""
    cable = open_cable(state)
    _, grant = cable.auth_pin("0000", int(time.time()))
    batches: list[dict[str, Any]] = []
    after = 0
    while True:
        answer = cable.read(grant, after, MAX_READ_LIMIT)
        records = unpack_records(answer["batch"])
        if not records:
            return batches
        batches.append(
            {
                "epoch": 0,
                "records": [r.to_wire() for r in records],
                "head_sig": base64.b64encode(answer["head_sig"]).decode(),
            }
        )
        after = records[-1].seq


def _client(url: str, keys: Path) -> tuple[FastAPI, dict[str, str]]:
    settings = Settings(db=url, keys=keys, argon2_time_cost=1, argon2_memory_kib=8192)
    app = create_app(settings)
    with TestClient(app) as client:
        token = client.post(
            "/api/v1/auth/login", json={"email": "d@bench.example", "password": PASSWORD}
        ).json()["token"]
    return app, {"Authorization": f"Bearer {token}"}


def _upload(client: TestClient, headers: dict[str, str], batches: list[dict[str, Any]]) -> float:
    """Seconds to post every batch (each answered 200, all accepted)."""
    started = time.perf_counter()
    for batch in batches:
        r = client.post(f"/api/v1/app/cables/{SERIAL}/sessions", json=batch, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == len(batch["records"]), r.text
    elapsed = time.perf_counter() - started
    assert r.json()["synced"]["seq"] == SESSIONS
    return elapsed


def _reset(libpq: str) -> None:
    """Back to a cable with nothing synced (no dead rows left behind: TRUNCATE)."""
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("TRUNCATE charging_sessions, chain_heads CASCADE")
        conn.execute(
            "UPDATE cables SET head_seq = 0, head_hash = %s, last_sync_at = NULL WHERE serial = %s",
            (genesis(SERIAL, 0), SERIAL),
        )


def _executemany(libpq: str, rows: list[tuple[Any, ...]]) -> float:
    """Seconds to insert ``rows`` with executemany, 500 a batch, a commit each."""
    placeholders = ", ".join(["%s"] * len(rows[0]))
    sql = f"INSERT INTO charging_sessions ({COLUMNS}) VALUES ({placeholders})"
    with psycopg.connect(libpq) as conn:
        started = time.perf_counter()
        for i in range(0, len(rows), MAX_READ_LIMIT):
            with conn.cursor() as cur:
                cur.executemany(sql, rows[i : i + MAX_READ_LIMIT])
            conn.commit()
        return time.perf_counter() - started


def _postgres(url: str, libpq: str, keys: Path, state: Path) -> tuple[list[float], list[float]]:
    """Seconds per round: (through the API, straight executemany)."""
    migrate(url)
    _seed(url, keys, state)
    batches = _batches(state)
    app, headers = _client(url, keys)
    api, floor = [], []
    with TestClient(app) as client:
        _upload(client, headers, batches)  # warm-up; its rows are the floor's rows
        with psycopg.connect(libpq) as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM charging_sessions ORDER BY seq").fetchall()
        assert len(rows) == SESSIONS
        for _ in range(ROUNDS):
            _reset(libpq)
            floor.append(_executemany(libpq, rows))
            _reset(libpq)
            api.append(_upload(client, headers, batches))
    return api, floor


def _sqlite(url: str, keys: Path, state: Path) -> float:
    migrate(url)
    _seed(url, keys, state)
    app, headers = _client(url, keys)
    with TestClient(app) as client:
        return _upload(client, headers, _batches(state))


def _missed(figures: list[Figure]) -> str:
    """'Missed by ...' for the ratio, when it is missed."""
    for f in figures:
        if f.met is False and f.value[:1].isdigit():
            return f" Missed by {TARGET - float(f.value.split()[0]):.2f}."
    return ""


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
        name = f"cablepin_bench_{secrets.token_hex(4)}"
        try:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as e:
            figures.append(Figure("B2: PostgreSQL", f"not measured: no server ({e})", met=False))
        else:
            try:
                url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
                libpq = f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
                api, floor = _postgres(url, libpq, keys, state)
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            api_rate = SESSIONS / statistics.median(api)
            floor_rate = SESSIONS / statistics.median(floor)
            ratio = api_rate / floor_rate
            figures.append(
                Figure(
                    "B2: sessions/s through the API over straight executemany (PostgreSQL)",
                    f"{ratio:.2f} ({api_rate:,.0f}/s vs {floor_rate:,.0f}/s)",
                    f">= {TARGET}",
                    met=ratio >= TARGET,
                )
            )
            figures.append(
                Figure(
                    "  each round, API / executemany (s)",
                    "; ".join(f"{a:.2f} / {f:.2f}" for a, f in zip(api, floor, strict=True)),
                )
            )
        rate = SESSIONS / _sqlite(f"sqlite:///{tmp}/bench.db", keys, state)
        figures.append(
            Figure("SQLite: sessions ingested per second through the API", f"{rate:,.0f}")
        )
    return Section(
        title="B2: cloud session ingest",
        command="make bench  (benchmarks/ingest.py; alone: python -m benchmarks ingest)",
        method=(
            f"{SESSIONS:,} cable-signed sessions in batches of {MAX_READ_LIMIT} posted to the "
            "real API in-process (JSON, validation, chain and signature check, duplicate check, "
            "insert, commit), one client, one process. The floor: the same rows inserted into the "
            f"same PostgreSQL table by psycopg's executemany, {MAX_READ_LIMIT} a batch and a "
            f"commit each. {ROUNDS} rounds of each, alternately, in one run; medians compared."
        ),
        figures=figures,
        notes=(
            "Before this work (issue 12): 0.058 (2,202/s vs 38,098/s); 77 % of the time was "
            "SQLAlchemy compiling a fresh 6,000-parameter multi-row INSERT for every batch. Now "
            "the new sessions, the head the cable signed and the cable's new head are one "
            "statement on PostgreSQL (INSERT ... SELECT FROM unnest of eight arrays, with the "
            "chain_heads INSERT and the cables UPDATE as CTEs; the cable's row lock serialises "
            "its uploads and the stored ones are found first), the cable, its certificate, "
            "assignment and open commands are one query, a batch past the head skips the "
            "duplicate lookup, and the pool no longer pre-pings: five round trips a batch "
            "(BEGIN, token, cable, the statement, COMMIT) where there were nine (pre-ping, "
            "BEGIN, token, cable, COPY's two, the head's INSERT, the flushed UPDATE, COMMIT; "
            "psycopg's trace). Beside the insert itself: HTTP and JSON, validating 500 records, "
            "hashing the chain, one signature check. The ratio moves with the machine's load "
            "more than with the code: the code before this measured 0.41 at a load average "
            "of 20 and 0.55 to 1.15 at 6 to 10, as each round trip and each of the in-process "
            "client's, event loop's and worker's hand-overs waits for a core, where executemany "
            "sends its 500 rows in one pipelined flight. Side by side at the same load (5 "
            "rounds each): the process's CPU for 10,000 sessions 0.55 s, 0.60 s before. "
            "Load average at the end (1/5/15 min): "
            + "/".join(f"{x:.1f}" for x in os.getloadavg())
            + " on 2 cores."
            + _missed(figures)
        ),
    )

"""The fleet portal with 100,000 cables in one organisation (issue 5).

One organisation gets 100,000 registered cables (bulk-inserted rows; a
tenth on PIN 0000, a third never synced, every fifth assigned). A fleet
manager signs in to the real portal (in-process ASGI, SQLite file) and we
time the pages a fleet manager opens: the overview counts, the first and a
deep page of the cable list, a filter, and a serial search. Each figure is
the median of 5 requests.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from sqlalchemy import insert

from benchmarks.common import Figure, Section
from cablepin.cable.provision import init_keys
from cablepin.cloud import Settings, create_app, migrate
from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.models import Assignment, Cable
from cablepin.cloud.services import accounts
from cablepin.protocol.chain import genesis

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CABLES = 100_000
ORG = "Grossflotte AG"
PASSWORD = "benchmark password"
TARGET_MS = 200.0


def _seed(url: str) -> None:
    now = dt.datetime.now(dt.UTC)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        org = accounts.create_org(db, ORG, now=now)
        accounts.create_user(
            db,
            email="fm@gross.example",
            name="Fiona Flotte",
            role="fleet_manager",
            org_name=ORG,
            password=PASSWORD,
            now=now,
        )
        driver = accounts.create_user(
            db,
            email="d@gross.example",
            name="Dora Driver",
            role="driver",
            org_name=ORG,
            password=PASSWORD,
            now=now,
        )
        rows = []
        for i in range(CABLES):
            serial = f"CBL-{i:08d}"
            rows.append(
                {
                    "serial": serial,
                    "org_id": org.id,
                    "cert_pem": "-",
                    "registered_at": now,
                    "epoch": 0,
                    "head_seq": 0,
                    "head_hash": genesis(serial, 0),
                    "pin_default": i % 10 == 0,
                    "last_sync_at": None if i % 3 == 0 else now - dt.timedelta(days=i % 30),
                }
            )
        db.execute(insert(Cable), rows)
        ids = db.execute(Cable.__table__.select().with_only_columns(Cable.id)).scalars().all()
        db.execute(
            insert(Assignment),
            [
                {"cable_id": cid, "driver_id": driver.id, "epoch": 0, "started_at": now}
                for cid in ids[::5]
            ],
        )
        db.commit()
    engine.dispose()


def _median_ms(client: TestClient, path: str) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return statistics.median(times)


def run() -> Section:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/portal.db"
        keys = Path(tmp) / "keys"
        init_keys(keys, dt.datetime.now(dt.UTC))
        migrate(url)
        _seed(url)
        settings = Settings(db=url, keys=keys, argon2_time_cost=1, argon2_memory_kib=8192)
        with TestClient(create_app(settings)) as client:
            page = client.get("/signin").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            r = client.post(
                "/signin",
                data={"csrf_token": csrf, "email": "fm@gross.example", "password": PASSWORD},
            )
            assert r.status_code in (200, 303), r.status_code
            deep = client.get("/cables").text
            assert "CBL-00000000" in deep
            pages = {
                "overview (six counts)": "/",
                "cable list, first page": "/cables",
                "cable list, page after CBL-00090000": "/cables?after=CBL-00090000",
                "filter: still on PIN 0000": "/cables?filter=default_pin",
                "filter: not synced for 14 days": "/cables?filter=stale",
                "search by serial": "/cables?q=CBL-0009999",
            }
            figures = [
                Figure(
                    name,
                    f"{(ms := _median_ms(client, path)):.0f} ms",
                    f"<= {TARGET_MS:.0f} ms",
                    ms <= TARGET_MS,
                )
                for name, path in pages.items()
            ]
    return Section(
        title=f"Fleet portal with {CABLES:,} cables",
        command="make bench  (benchmarks/portal_list.py)",
        method=(
            f"{CABLES:,} cables in one organisation on SQLite; the real portal in-process "
            "(session cookie, templates, queries); median of 5 requests per page."
        ),
        figures=figures,
        notes=(
            "The issue asks for pagination that stays fast at 100,000 cables; we read that as "
            "every page answering within 200 ms on this 2-core machine, the limit under which "
            "a click still feels immediate."
        ),
    )

"""P8 under concurrency: two real `cablepin serve` processes on one PostgreSQL race
to hand out one PIN-reset permission; exactly one connect may get it."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.services import cables

from .conftest import CABLE_A, DRIVER_A1, FM_A, PASSWORD, Clock, empty_pg, seed
from .fakes import Keys

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CABLEPIN = str(Path(sys.executable).parent / "cablepin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"cablepin serve exited: {out}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} did not become healthy")


@pytest.fixture
def two_servers(pg_database: str, keys: Keys) -> Iterator[list[str]]:
    empty_pg(pg_database)
    env = {
        **os.environ,
        "CABLEPIN_ARGON2_TIME_COST": "1",
        "CABLEPIN_ARGON2_MEMORY_KIB": "1024",
    }
    procs: list[subprocess.Popen[bytes]] = []
    bases = []
    try:
        for _ in range(2):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        CABLEPIN,
                        "serve",
                        "--db",
                        pg_database,
                        "--keys",
                        str(keys.directory),
                        "--port",
                        str(port),
                    ],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base, proc in zip(bases, procs, strict=True):
            wait_healthy(base, proc)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_p8_permission_consumed_once_when_two_processes_race(
    two_servers: list[str], pg_database: str, keys: Keys
) -> None:
    clock = Clock()
    fake = seed(pg_database, keys, clock)[CABLE_A]
    engine = make_engine(pg_database)
    with make_sessionmaker(engine)() as db:
        from sqlalchemy import select

        from cablepin.cloud.models import User
        from cablepin.cloud.services.accounts import actor_for_user

        fm = actor_for_user(db, db.scalars(select(User).where(User.email == FM_A)).one())
        cables.assign(db, fm, CABLE_A, DRIVER_A1, now=clock())
        cables.allow_pin_reset(db, fm, CABLE_A, now=clock())
    engine.dispose()

    token = httpx.post(
        f"{two_servers[0]}/api/v1/auth/login", json={"email": DRIVER_A1, "password": PASSWORD}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    # A challenge from one process is good at the other: nothing is shared but the keys.
    issued = httpx.get(
        f"{two_servers[0]}/api/v1/app/cables/{CABLE_A}/challenge", headers=headers
    ).json()["challenge"]
    fake.challenge_source = lambda _who: base64.b64decode(issued)
    bodies = [fake.hello() for _ in range(16)]

    def connect(i: int) -> list[str]:
        base = two_servers[i % 2]
        r = httpx.post(
            f"{base}/api/v1/app/cables/{CABLE_A}/connect",
            json=bodies[i],
            headers=headers,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return [c["kind"] for c in r.json()["commands"]]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(connect, range(16)))
    assert sum(kinds.count("allow_pin_set") for kinds in results) == 1

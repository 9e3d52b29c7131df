"""Seeing the cloud run (issue 12): request ids, /metrics, liveness and readiness.

In-process on SQLite and PostgreSQL through the real app; the multi-worker and
database-outage cases with a real ``cablepin serve --workers 2`` on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cablepin.cloud import Settings, create_app
from cablepin.cloud.metrics import REGISTRY
from cablepin.cloud.observability import RequestIdFilter

from .conftest import (
    CABLE_A,
    DRIVER_A1,
    FAST_HASHING,
    FM_A,
    PASSWORD,
    PG_ADMIN,
    PG_URL,
    Clock,
    World,
    assigned_world,
    seed,
    settings_for,
)
from .fakes import Keys
from .test_headers import TestClient
from .test_race_pg import free_port

CABLEPIN = str(Path(sys.executable).parent / "cablepin")
METRICS_TOKEN = "metrics-" + "x" * 24


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    page: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def observed(world: World) -> Iterator[tuple[World, TestClient]]:
    """The world, and a second app on the same database that serves /metrics."""
    settings = Settings(
        db=world.url, keys=world.keys.directory, metrics_token=METRICS_TOKEN, **FAST_HASHING
    )
    with TestClient(create_app(settings, clock=world.clock)) as client:
        yield world, client


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    return samples(r.text)


# ------------------------------------------------------------------ request ids


def test_every_answer_carries_a_request_id_and_a_good_incoming_one_is_kept(world: World) -> None:
    kept = world.client.get("/api/v1/factory-ca", headers={"X-Request-ID": "lb-1234abcd"})
    assert kept.headers["X-Request-ID"] == "lb-1234abcd"
    for bad in ("short", "has spaces in it", "x" * 129, "semi;colon-12345"):
        r = world.client.get("/api/v1/factory-ca", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"]), bad
    ids = set()
    for path in ("/healthz", "/api/v1/me", "/no-such-page", "/api/v1/cables/CBL-1/handover"):
        r = world.client.get(path)
        assert r.status_code in (200, 401, 404, 405)
        ids.add(r.headers["X-Request-ID"])
    assert len(ids) == 4  # a fresh one each time


def test_a_500_carries_its_request_id_on_the_answer_the_traceback_and_the_metrics(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings_for(world.url, world.keys), clock=world.clock)

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/boom/{thing}", boom)
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO, logger="cablepin")
    before = samples(generate_latest(REGISTRY).decode())
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/v1/boom/x1", headers={"X-Request-ID": "req-500-abcdef"})
    assert r.status_code == 500
    assert r.headers["X-Request-ID"] == "req-500-abcdef"
    ours = [x for x in caplog.records if x.name.startswith("cablepin")]
    assert any(x.exc_info for x in ours)  # the traceback went to the log
    assert {getattr(x, "request_id", None) for x in ours} == {"req-500-abcdef"}
    after = samples(generate_latest(REGISTRY).decode())
    labels = {"method": "GET", "route": "/api/v1/boom/{thing}", "status": "500"}
    name = "cablepin_http_requests_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


# ------------------------------------------------------------------ /metrics


def test_metrics_are_off_without_a_token_and_need_the_metrics_token(
    observed: tuple[World, TestClient],
) -> None:
    world, client = observed
    off = world.client.get("/metrics")  # the world's app has no metrics token
    assert off.status_code == 404
    assert "CABLEPIN_METRICS_TOKEN" in off.json()["message"]
    assert client.get("/metrics").status_code == 401
    user_token = world.token(FM_A)  # a person's API token is not the metrics token
    r = client.get("/metrics", headers={"Authorization": f"Bearer {user_token}"})
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_metrics_count_requests_by_route_template_logins_sessions_and_commands(
    observed: tuple[World, TestClient],
) -> None:
    world, client = observed
    assigned_world(world)
    before = scrape(client)
    route = "/api/v1/cables/{serial}"
    for _ in range(3):
        assert world.call("GET", f"/api/v1/cables/{CABLE_A}", FM_A).status_code == 200
    assert world.call("GET", "/api/v1/cables/CBL-99999999", FM_A).status_code == 404
    for _ in range(2):
        r = client.post("/api/v1/auth/login", json={"email": FM_A, "password": "wrong one"})
        assert r.status_code == 401
    # Sessions: relay, charge 4, upload them (3 new after an overlap of 1).
    world.relay(DRIVER_A1, CABLE_A)
    cable = world.cables[CABLE_A]
    cable.charge(4)
    assert world.upload(DRIVER_A1, CABLE_A, cable.sign_batch(cable.records[:1])).status_code == 200
    again = world.upload(DRIVER_A1, CABLE_A, cable.sign_batch(cable.records[:4]))
    assert again.json()["accepted"] == 3
    assert world.call("POST", f"/api/v1/cables/{CABLE_A}/pin-reset", FM_A, json={}).status_code in (
        200,
        201,
    )

    text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    for personal in (CABLE_A, "CBL-99999999", FM_A):
        assert personal not in text
    after = samples(text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "cablepin_http_requests_total"
    assert delta(requests, method="GET", route=route, status="200") == 3
    assert delta(requests, method="GET", route=route, status="404") == 1
    assert delta(requests, method="POST", route="/api/v1/auth/login", status="401") == 2
    histogram = "cablepin_http_request_duration_seconds_count"
    assert delta(histogram, method="GET", route=route) == 4
    assert (
        value(
            after,
            "cablepin_http_request_duration_seconds_bucket",
            method="GET",
            route=route,
            le="+Inf",
        )
        >= 4
    )
    assert delta("cablepin_logins_refused_total", reason="wrong_credentials") == 2
    assert delta("cablepin_sessions_ingested_total") == 4
    assert value(after, "cablepin_commands", kind="allow_pin_set", state="pending") == 1
    # M7: the PIN reset's e-mail waits in the outbox (this app has no mail server).
    assert value(after, "cablepin_outbox_messages", state="pending") == 1
    assert value(after, "cablepin_outbox_messages", state="failed") == 0
    assert value(after, "cablepin_db_pool_checked_out") >= 0
    assert ("cablepin_db_pool_connections", ()) in after


# ------------------------------------------------------------------ liveness, readiness


def test_readyz_fails_when_the_database_is_unreachable_and_healthz_does_not(keys: Keys) -> None:
    nowhere = "postgresql://postgres@127.0.0.1:1/cablepin_nowhere"  # nothing listens on port 1
    app = create_app(Settings(db=nowhere, keys=keys.directory, **FAST_HASHING))
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json() == {"status": "unavailable", "database": False}


def test_readyz_answers_ok_with_the_database(world: World) -> None:
    r = world.client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": True}


# ------------------------------------------------------------------ a real serve --workers 2


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    try:
        _admin("SELECT 1")
    except psycopg.Error as e:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 did not answer ({e})")
    name = f"cablepin_obs_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait(base: str, path: str, status: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "cablepin serve exited"
        try:
            if httpx.get(f"{base}{path}", timeout=2).status_code == status:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base}{path} did not answer {status}; log: {log.read_text()[-3000:]}")


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_sum_their_metrics_log_json_with_request_ids_and_readiness_follows_the_db(
    fresh_pg: str, keys: Keys, tmp_path: Path
) -> None:
    url = PG_URL.format(name=fresh_pg)
    stderr_path = tmp_path / "serve.stderr"
    metrics_dir = tmp_path / "metrics"
    env = {
        **os.environ,
        "CABLEPIN_ARGON2_TIME_COST": "1",
        "CABLEPIN_ARGON2_MEMORY_KIB": "1024",
        "CABLEPIN_METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [CABLEPIN, "serve", "--db", url, "--keys", str(keys.directory)]
    command += ["--port", str(port), "--workers", "2"]
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        _wait(base, "/readyz", 200, proc, stderr_path)
        seed(url, keys, Clock())

        # Requests from many connections at once, until both workers have answered some.
        sent: list[str] = []

        def fetch(i: int) -> int:
            request_id = f"test-{i:06d}-{secrets.token_hex(4)}"
            sent.append(request_id)
            r = httpx.get(
                f"{base}/api/v1/factory-ca", headers={"X-Request-ID": request_id}, timeout=60
            )
            assert r.headers["X-Request-ID"] == request_id
            return r.status_code

        def pids() -> set[int]:
            lines = [json.loads(x) for x in stderr_path.read_text().splitlines() if x.strip()]
            return {x["process"] for x in lines if x.get("request_id") in sent}

        # Linux hands most connections to one worker; pausing the one that answered makes
        # the other answer the next ones (both wait on the one listening socket).
        with ThreadPoolExecutor(max_workers=8) as pool:
            deadline = time.monotonic() + 90  # the second worker may still be starting
            while len(pids()) < 2 and time.monotonic() < deadline:
                seen = pids()
                for pid in seen:
                    os.kill(pid, signal.SIGSTOP)
                try:
                    assert set(pool.map(fetch, range(len(sent), len(sent) + 8))) == {200}
                finally:
                    for pid in seen:
                        # uvicorn may have replaced a worker that missed its pings meanwhile:
                        # its counts stay in the directory and still add up.
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGCONT)
                time.sleep(0.5)  # let the log lines reach the file
        assert len(pids()) == 2, "one worker answered every request"

        login = httpx.post(f"{base}/api/v1/auth/login", json={"email": FM_A, "password": PASSWORD})
        token = login.json()["token"]
        assert (
            httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
        wrong = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": FM_A, "password": "Hunter2-wrong"}
        )
        assert wrong.status_code == 401

        # Whichever worker answers the scrape, the counts are every worker's sum.
        for _ in range(6):
            page = samples(
                httpx.get(
                    f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
                ).text
            )
            factory = value(
                page,
                "cablepin_http_requests_total",
                method="GET",
                route="/api/v1/factory-ca",
                status="200",
            )
            assert factory == len(sent)
            assert value(page, "cablepin_logins_refused_total", reason="wrong_credentials") == 1
        assert value(page, "cablepin_db_pool_connections") >= 2  # each worker holds one

        # The database goes away: not ready (503), still alive; it comes back: ready.
        _admin(f'ALTER DATABASE "{fresh_pg}" WITH ALLOW_CONNECTIONS false')
        _admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{fresh_pg}'"
        )
        for _ in range(4):  # both workers, whichever answers
            r = httpx.get(f"{base}/readyz", timeout=10)
            assert r.status_code == 503
            assert r.json() == {"status": "unavailable", "database": False}
            assert httpx.get(f"{base}/healthz").status_code == 200
        outage = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert outage.status_code == 200  # the rest still served; the commands gauge left out
        assert "cablepin_http_requests_total" in outage.text
        assert "cablepin_commands{" not in outage.text
        _admin(f'ALTER DATABASE "{fresh_pg}" WITH ALLOW_CONNECTIONS true')
        _wait(base, "/readyz", 200, proc, stderr_path)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    log = stderr_path.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is JSON
    requests = [x for x in lines if x["logger"] == "cablepin.cloud.request"]
    assert len(requests) >= len(sent) + 10
    assert all(re.fullmatch(r"[A-Za-z0-9._:-]{8,128}", x["request_id"]) for x in requests)
    assert {x["request_id"] for x in requests} >= set(sent)
    assert {"time", "level", "method", "route", "status", "duration_ms"} <= set(requests[0])
    assert {x["route"] for x in requests} >= {
        "/api/v1/factory-ca",
        "/api/v1/auth/login",
        "/metrics",
    }
    # P7 and friends: no password (right or wrong), token or metrics token in any line.
    for secret in (PASSWORD, "Hunter2-wrong", token, METRICS_TOKEN):
        assert secret not in log

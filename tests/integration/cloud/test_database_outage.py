"""A database connection that breaks while a request uses it (found by the soak test).

`pg_terminate_backend` (a database restart or failover does the same) used to
answer 500 ``internal_error`` for every request that held a pooled connection at
that moment. The client can do nothing about a 500; it should send the request
again, so the answer is 503 ``database_unavailable`` with ``Retry-After``, and the
next request works on a fresh connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from cablepin.cloud import create_app

from .conftest import FM_A, PG_ADMIN, Clock, Keys, World, empty_pg, seed, settings_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_world(pg_database: str, keys: Keys) -> Iterator[World]:
    empty_pg(pg_database)
    clock = Clock()
    made = seed(pg_database, keys, clock)
    with TestClient(create_app(settings_for(pg_database, keys), clock=clock)) as client:
        yield World(client, pg_database, keys, clock, cables=made)


def _terminate(pid: int) -> None:
    """End the backend ``pid`` and wait (bounded) until PostgreSQL no longer lists it."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} still there after 10 s"
            time.sleep(0.01)


def test_u2_a_database_connection_cut_mid_request_is_503_and_the_next_request_works(
    pg_world: World,
) -> None:
    pg_world.token(FM_A)  # logged in before the cut
    engine = pg_world.client.app.state.engine  # type: ignore[attr-defined]
    armed = [True]

    def cut(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Mid-request: the token was checked on this connection, the cables query is next.
        if armed[0] and "FROM cables" in statement:
            armed[0] = False
            _terminate(conn.connection.dbapi_connection.info.backend_pid)

    event.listen(engine, "before_cursor_execute", cut)
    try:
        r = pg_world.call("GET", "/api/v1/cables", FM_A)
    finally:
        event.remove(engine, "before_cursor_execute", cut)
    assert not armed[0], "the connection was never cut"
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "database_unavailable"
    assert "again" in r.json()["message"]
    assert r.headers["Retry-After"] == "1"
    again = pg_world.call("GET", "/api/v1/cables", FM_A)
    assert again.status_code == 200, again.text

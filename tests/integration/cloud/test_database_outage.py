"""A database connection that breaks while it is used (found by the soak test).

`pg_terminate_backend` (a database restart or failover does the same) used to
answer 500 ``internal_error`` for every request that held a pooled connection at
that moment. The client can do nothing about a 500; it should send the request
again, so the answer is 503 ``database_unavailable`` with ``Retry-After``, and the
next request works on a fresh connection.

The outbox's sender had the same window between the SMTP server's "250" and the
row update that records it: a cut there left the message ``sending``, and the
lease's end sent it a second time. It records the outcome again on a fresh
connection (its claim makes that safe), so the message goes out once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from cablepin.cloud import create_app
from cablepin.cloud.db import make_sessionmaker
from cablepin.cloud.domain.outbox import MailState
from cablepin.cloud.models import OutboxMessage
from cablepin.cloud.sender import Sender
from cablepin.cloud.settings import Settings

from .conftest import (
    CABLE_A,
    FM_A,
    PG_ADMIN,
    Clock,
    Keys,
    World,
    assigned_world,
    empty_pg,
    seed,
    settings_for,
)
from .smtp import smtp_server

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


@contextmanager
def cut_once(engine: Any, marker: str) -> Iterator[list[bool]]:
    """Terminate the connection that is about to run the first statement holding ``marker``;
    the yielded flag turns False once it did."""
    armed = [True]

    def cut(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if armed[0] and marker in statement:
            armed[0] = False
            _terminate(conn.connection.dbapi_connection.info.backend_pid)

    event.listen(engine, "before_cursor_execute", cut)
    try:
        yield armed
    finally:
        event.remove(engine, "before_cursor_execute", cut)
    assert not armed[0], f"no statement with {marker!r} ran: the connection was never cut"


def test_u2_a_database_connection_cut_mid_request_is_503_and_the_next_request_works(
    pg_world: World,
) -> None:
    pg_world.token(FM_A)  # logged in before the cut
    engine = pg_world.client.app.state.engine  # type: ignore[attr-defined]
    # Mid-request: the token was checked on this connection, the cables query is next.
    with cut_once(engine, "FROM cables"):
        r = pg_world.call("GET", "/api/v1/cables", FM_A)
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "database_unavailable"
    assert "again" in r.json()["message"]
    assert r.headers["Retry-After"] == "1"
    again = pg_world.call("GET", "/api/v1/cables", FM_A)
    assert again.status_code == 200, again.text


def test_u2_pooled_connections_the_database_ended_while_idle_are_not_given_out(
    pg_world: World,
) -> None:
    """No pre-ping round trip (B3), yet a restart or failover between requests costs no
    503: the pool replaces an idle connection whose server ended it before it is used."""
    assert pg_world.call("GET", "/api/v1/cables", FM_A).status_code == 200  # one is pooled now
    engine = pg_world.client.app.state.engine  # type: ignore[attr-defined]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        pids = [
            pid
            for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (engine.url.database,)
            )
        ]
    assert pids
    for pid in pids:
        _terminate(pid)
    r = pg_world.call("GET", "/api/v1/cables", FM_A)
    assert r.status_code == 200, r.text


def test_m7_a_database_cut_after_the_smtp_server_took_a_message_sends_it_once(
    pg_world: World,
) -> None:
    assigned_world(pg_world)
    r = pg_world.call("POST", f"/api/v1/cables/{CABLE_A}/pin-reset", FM_A, json={})
    assert r.is_success, r.text  # one message: the driver may choose a new PIN
    engine = pg_world.client.app.state.engine  # type: ignore[attr-defined]
    with smtp_server() as (server, port):
        settings = Settings(db=pg_world.url, smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none")
        sender = Sender(make_sessionmaker(engine), settings, clock=pg_world.clock)
        # The server says 250, then the update that records it loses its connection.
        with cut_once(engine, "sent_at"):
            assert sender.deliver_due().sent == 1
        pg_world.clock.advance(seconds=settings.outbox_lease_s + 1)  # past any lease
        assert sender.deliver_due().sent == 0
        assert len(server.ids()) == 1
    with pg_world.session() as db:
        (row,) = db.scalars(select(OutboxMessage))
        assert row.state is MailState.SENT

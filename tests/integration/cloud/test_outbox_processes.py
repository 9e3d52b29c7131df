"""M7 with real sender processes (``cablepin worker``) and a real SMTP server in this process.

* A sender killed (SIGKILL) mid-batch and started again loses nothing; the
  only message that arrives twice is the one the server had accepted when the
  sender died, before it could mark it sent (the window ARCHITECTURE.md names),
  and it arrives with the same ``Message-ID``. The kill is deterministic: the
  server kills the sender while it waits for the "250" of the third message.
* Two senders at once against one PostgreSQL: every message exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from cablepin.cloud.domain.outbox import MailState
from cablepin.cloud.models import OutboxMessage, User
from cablepin.cloud.services import accounts, invitations
from cablepin.demo import cablepin_command

from .conftest import FM_A, World
from .smtp import Received, smtp_server

pytestmark = pytest.mark.slow


def invite_many(world: World, count: int) -> list[str]:
    """``count`` invitations (one e-mail each); their Message-IDs in outbox order."""
    with world.session() as db:
        fm = db.scalar(select(User).where(User.email == FM_A))
        assert fm is not None
        actor = accounts.actor_for_user(db, fm)
        for i in range(count):
            invitations.invite_driver(
                db, actor, email=f"driver{i:03}@a.example", name=f"Driver {i}", now=world.clock()
            )
        return list(db.scalars(select(OutboxMessage.message_id).order_by(OutboxMessage.id)))


def worker_env(port: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CABLEPIN_SMTP_HOST": "127.0.0.1",
        "CABLEPIN_SMTP_PORT": str(port),
        "CABLEPIN_SMTP_TLS": "none",
        "CABLEPIN_MAIL_FROM": "cablepin <noreply@fleet.example>",
        **extra,
    }


def start_worker(url: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cablepin_command(), "worker", "--once", "--db", url, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return answer


def states(world: World) -> set[MailState]:
    with world.session() as db:
        return set(db.scalars(select(OutboxMessage.state)))


def test_m7_a_sender_killed_mid_batch_and_restarted_loses_nothing(world: World) -> None:
    ids = invite_many(world, 6)
    with smtp_server() as (server, port):
        # Lease 0: a claimed message is free again as soon as its sender is gone (one sender
        # here), so the restarted sender takes it over at once instead of after 5 minutes.
        env = worker_env(port, CABLEPIN_OUTBOX_LEASE_S="0")
        running: dict[str, subprocess.Popen[str]] = {}

        def kill_at_third(got: Received) -> None:
            if len(server.received) == 3:
                # Accepted and recorded; the sender dies before it reads our "250".
                process = running["first"]
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)

        server.on_accept = kill_at_third
        running["first"] = start_worker(world.url, env)
        running["first"].communicate(timeout=120)
        assert running["first"].returncode == -signal.SIGKILL
        assert server.ids() == ids[:3]
        assert MailState.SENDING in states(world)  # the third: accepted, not marked

        server.on_accept = None
        again = result(start_worker(world.url, env))

    assert again == {"sent": 4, "deferred": 0, "failed": 0}
    received = Counter(server.ids())
    assert set(received) == set(ids)  # nothing lost
    assert {i for i, n in received.items() if n > 1} == {ids[2]}  # only the one in flight
    assert received[ids[2]] == 2
    assert states(world) == {MailState.SENT}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_m7_two_senders_on_one_postgresql_send_each_message_exactly_once(world: World) -> None:
    ids = invite_many(world, 40)
    with smtp_server() as (server, port):
        env = worker_env(port)
        workers = [start_worker(world.url, env) for _ in range(2)]
        results = [result(w) for w in workers]

    assert sum(r["sent"] for r in results) == 40
    assert sorted(server.ids()) == sorted(ids)  # each exactly once
    assert states(world) == {MailState.SENT}

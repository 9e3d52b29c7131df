"""M3 under concurrency on PostgreSQL.

Two submits of one month, each on its own connection, interleaved so that both
pass every check in the code before either commits: only the database's partial
unique index can then decide; one wins, the other answers 409
``already_on_receipt``, and no session is on two receipts. And the same as real
processes: eight submits at once against two `cablepin serve`."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cablepin.cloud.billing_schemas import ReceiptSubmit
from cablepin.cloud.db import make_engine, make_sessionmaker, transaction
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import AlreadyOnReceipt
from cablepin.cloud.models import ReceiptLine, ReceiptRow, User
from cablepin.cloud.services import receipts

from .billing_helpers import at, charge_at, set_policy, sync, verified_tariff
from .conftest import (
    CABLE_A,
    DRIVER_A1,
    FM_A,
    PASSWORD,
    Clock,
    World,
    assigned_world,
    seed,
)
from .fakes import Keys
from .test_race_pg import two_servers as _two_servers

two_servers = _two_servers  # the fixture: two `cablepin serve` on one PostgreSQL

pytestmark = pytest.mark.postgres


def prepared(world: World) -> Actor:
    assigned_world(world)
    set_policy(world, FM_A, 2023)
    verified_tariff(world, DRIVER_A1, FM_A)
    for day in (3, 10, 17, 24):
        charge_at(world.cables[CABLE_A], at(2023, 11, day), wh=5000 + day)
    sync(world, DRIVER_A1, CABLE_A)
    with world.session() as db:
        user = db.scalar(select(User).where(User.email == DRIVER_A1))
        assert user is not None
        return Actor(user.id, user.email, user.name, Role.DRIVER, user.org_id)


def race(world: World, actor: Actor, *, first_commits: bool) -> tuple[Any, Any]:
    engine = make_engine(world.url)
    maker = make_sessionmaker(engine)
    request = ReceiptSubmit(month="2023-11")
    now = world.clock()
    results: dict[str, Any] = {}
    first = maker()
    unit = transaction(first)  # the open unit of work a request holds until it answers
    unit.__enter__()
    results["first"] = receipts.submit(first, actor, request, now=now)  # joins it: not committed

    def second() -> None:
        with maker() as db:
            try:
                results["second"] = receipts.submit(db, actor, request, now=now)  # its own unit
            except AlreadyOnReceipt as e:
                results["second"] = e

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(1.5)
    # The second insert waits on the unique index for the first transaction's outcome.
    assert thread.is_alive(), results
    if first_commits:
        unit.__exit__(None, None, None)  # the request's unit ends: commit
    else:
        first.rollback()
    first.close()
    thread.join(30)
    assert not thread.is_alive()
    engine.dispose()
    return results["first"], results["second"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_m3_two_racing_submits_cannot_both_win(world: World) -> None:
    actor = prepared(world)
    won, lost = race(world, actor, first_commits=True)
    assert isinstance(lost, AlreadyOnReceipt)
    assert lost.status == 409
    assert "a moment ago" in lost.message  # the index decided, not a check in the code
    with world.session() as db:
        assert db.scalar(select(func.count()).select_from(ReceiptRow)) == 1
        live = db.execute(
            select(ReceiptLine.session_id, func.count())
            .where(ReceiptLine.rejected.is_(False))
            .group_by(ReceiptLine.session_id)
        ).all()
    assert len(live) == 4
    assert all(count == 1 for _session, count in live)
    assert won.total_wh == 4 * 5000 + 3 + 10 + 17 + 24
    r = world.call("POST", "/api/v1/me/receipts", DRIVER_A1, json={"month": "2023-11"})
    assert (r.status_code, r.json()["error"]) == (409, "already_on_receipt")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_m3_the_waiting_submit_wins_when_the_first_rolls_back(world: World) -> None:
    actor = prepared(world)
    _gone, second = race(world, actor, first_commits=False)
    assert not isinstance(second, Exception)
    with world.session() as db:
        assert db.scalars(select(ReceiptRow.id)).all() == [second.id]


@pytest.mark.slow
def test_m3_two_processes_racing_submits_cannot_both_win(
    two_servers: list[str], pg_database: str, keys: Keys
) -> None:
    """Eight submits of one month at once, alternating between two `cablepin serve`."""
    clock = Clock()
    fake = seed(pg_database, keys, clock)[CABLE_A]

    def login(email: str) -> dict[str, str]:
        r = httpx.post(
            f"{two_servers[0]}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        return {"Authorization": f"Bearer {r.json()['token']}"}

    fm, driver = login(FM_A), login(DRIVER_A1)
    base = two_servers[0]
    app = f"{base}/api/v1/app/cables/{CABLE_A}"
    steps = [
        httpx.put(
            f"{base}/api/v1/cables/{CABLE_A}/assignment",
            headers=fm,
            json={"driver_email": DRIVER_A1},
        ),
        httpx.put(f"{base}/api/v1/billing/policy/2023", headers=fm, json={"method": "contract"}),
    ]
    tariff = httpx.post(
        f"{base}/api/v1/me/tariffs",
        headers=driver,
        data={"price": "0.3", "valid_from": "2023-01-01", "valid_to": "2023-12-31"},
        files={"document": ("t.pdf", b"%PDF-1.4 proof", "application/pdf")},
    )
    steps += [tariff, httpx.post(f"{base}/api/v1/tariffs/{tariff.json()['id']}/verify", headers=fm)]
    for day in (3, 10, 17):
        charge_at(fake, at(2023, 11, day), wh=4000 + day)
    issued = httpx.get(f"{app}/challenge", headers=driver).json()
    fake.challenge_source = lambda _who: base64.b64decode(issued["challenge"])
    steps += [
        httpx.post(f"{app}/connect", headers=driver, json=fake.hello()),
        httpx.post(f"{app}/sessions", headers=driver, json=fake.batch(0)),
    ]
    assert all(r.status_code in (200, 201) for r in steps), [r.text for r in steps]

    def submit(i: int) -> tuple[int, str | None]:
        r = httpx.post(
            f"{two_servers[i % 2]}/api/v1/me/receipts",
            headers=driver,
            json={"month": "2023-11"},
            timeout=30,
        )
        return r.status_code, r.json().get("error")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(submit, range(8)))
    assert sorted(results, key=str) == sorted(
        [(201, None)] + [(409, "already_on_receipt")] * 7, key=str
    ), results
    engine = make_engine(pg_database)
    with make_sessionmaker(engine)() as db:
        assert db.scalar(select(func.count()).select_from(ReceiptRow)) == 1
        assert db.scalar(select(func.count()).select_from(ReceiptLine)) == 3
    engine.dispose()

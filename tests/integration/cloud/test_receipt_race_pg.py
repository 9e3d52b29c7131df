"""M3 under concurrency on PostgreSQL: two submits of one month, each on its own
connection, interleaved so that both pass every check in the code before either
commits. Only the database's partial unique index can then decide: one wins, the
other answers 409 ``already_on_receipt``, and no session is on two receipts."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from cablepin.cloud.billing_schemas import ReceiptSubmit
from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import AlreadyOnReceipt
from cablepin.cloud.models import ReceiptLine, ReceiptRow, User
from cablepin.cloud.services import receipts

from .billing_helpers import at, charge_at, set_policy, sync, verified_tariff
from .conftest import CABLE_A, DRIVER_A1, FM_A, World, assigned_world

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
    results["first"] = receipts.submit(first, actor, request, now=now)  # not committed yet

    def second() -> None:
        with maker() as db:
            try:
                results["second"] = receipts.submit(db, actor, request, now=now)
                db.commit()
            except AlreadyOnReceipt as e:
                results["second"] = e

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(1.5)
    # The second insert waits on the unique index for the first transaction's outcome.
    assert thread.is_alive(), results
    if first_commits:
        first.commit()
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

"""M4 under concurrency on PostgreSQL: no receipt is ever paid twice.

Two transfers of one month, each on its own connection, interleaved so that
both read the same unpaid receipts before either commits: only the
conditional ``UPDATE ... WHERE paid_at IS NULL`` can then decide. The second
waits for the first, finds nothing left and answers ``nothing_to_pay``; had
the first rolled back (its file never built), the second pays them all. And
four transfers at once from four threads: each receipt is in exactly one file.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from cablepin.cloud.db import make_engine, make_sessionmaker, transaction
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import NothingToPay
from cablepin.cloud.keys import load_keys
from cablepin.cloud.models import PaymentRun, ReceiptRow, User
from cablepin.cloud.services import payouts

from .billing_helpers import at, charge_at, set_policy, submit, sync, verified_tariff
from .conftest import CABLE_A, CABLE_A2, DRIVER_A1, DRIVER_A2, FM_A, World, assigned_world
from .test_money_out import DEBTOR, amounts, put_bank, validate

pytestmark = pytest.mark.postgres


def prepared(world: World) -> tuple[Actor, list[int]]:
    """Two drivers of A with an IBAN and an approved November receipt each."""
    assigned_world(world)
    r = world.call(
        "PUT", f"/api/v1/cables/{CABLE_A2}/assignment", FM_A, json={"driver_email": DRIVER_A2}
    )
    assert r.status_code == 200, r.text
    set_policy(world, FM_A, 2023, **DEBTOR)
    ids = []
    for driver, serial, iban in (
        (DRIVER_A1, CABLE_A, "DE02120300000000202051"),
        (DRIVER_A2, CABLE_A2, "DE89370400440532013000"),
    ):
        verified_tariff(world, driver, FM_A)
        for day in (3, 10):
            charge_at(world.cables[serial], at(2023, 11, day), wh=5000 + day)
        sync(world, driver, serial)
        receipt = submit(world, driver, "2023-11")
        assert receipt.status_code == 201, receipt.text
        ids.append(receipt.json()["id"])
        approved = world.call("POST", f"/api/v1/receipts/{ids[-1]}/approve", FM_A)
        assert approved.status_code == 200, approved.text
        assert put_bank(world, driver, iban).status_code == 200
    with world.session() as db:
        fm = db.scalar(select(User).where(User.email == FM_A))
        assert fm is not None
        return Actor(fm.id, fm.email, fm.name, Role.FLEET_MANAGER, fm.org_id), ids


def race(world: World, actor: Actor, *, first_commits: bool) -> tuple[Any, Any]:
    key = load_keys(world.keys.directory).bank_key
    engine = make_engine(world.url)
    maker = make_sessionmaker(engine)
    now = world.clock()
    results: dict[str, Any] = {}
    first = maker()
    unit = transaction(first)  # the open unit of work a request holds until it answers
    unit.__enter__()
    results["first"] = payouts.pay_month(first, actor, "2023-11", key=key, now=now)

    def second() -> None:
        with maker() as db:
            try:
                results["second"] = payouts.pay_month(db, actor, "2023-11", key=key, now=now)
            except NothingToPay as e:
                results["second"] = e

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(1.5)
    # The second UPDATE waits on the receipts' row locks for the first's outcome.
    assert thread.is_alive(), results
    if first_commits:
        unit.__exit__(None, None, None)
    else:
        first.rollback()
    first.close()
    thread.join(30)
    assert not thread.is_alive()
    engine.dispose()
    return results["first"], results["second"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_m4_two_racing_transfers_cannot_pay_a_receipt_twice(world: World) -> None:
    actor, ids = prepared(world)
    won, lost = race(world, actor, first_commits=True)
    assert isinstance(lost, NothingToPay)
    assert "a moment ago" in lost.message  # the UPDATE decided, not the read before it
    assert set(amounts(validate(won.document))) == {f"CABLEPIN-R{i}" for i in ids}
    with world.session() as db:
        assert db.scalar(select(func.count()).select_from(PaymentRun)) == 1
        runs = db.execute(select(ReceiptRow.id, ReceiptRow.payment_run_id)).all()
    assert {run for _id, run in runs} == {won.run_id}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_m4_the_waiting_transfer_pays_all_when_the_first_rolls_back(world: World) -> None:
    actor, ids = prepared(world)
    _gone, second = race(world, actor, first_commits=False)
    assert not isinstance(second, Exception)
    assert set(amounts(validate(second.document))) == {f"CABLEPIN-R{i}" for i in ids}
    with world.session() as db:
        assert db.scalars(select(PaymentRun.id)).all() == [second.run_id]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_m4_four_transfers_at_once_pay_each_receipt_in_exactly_one_file(world: World) -> None:
    actor, ids = prepared(world)
    key = load_keys(world.keys.directory).bank_key
    engine = make_engine(world.url)
    maker = make_sessionmaker(engine)
    start = threading.Barrier(4)

    def transfer(_i: int) -> Any:
        with maker() as db:
            start.wait()
            try:
                return payouts.pay_month(db, actor, "2023-11", key=key, now=world.clock())
            except NothingToPay as e:
                return e

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(transfer, range(4)))
    engine.dispose()
    files = [r for r in results if not isinstance(r, Exception)]
    paid = [e2e for f in files for e2e in amounts(validate(f.document))]
    assert sorted(paid) == sorted(f"CABLEPIN-R{i}" for i in ids)  # each once, none missing
    assert all(isinstance(r, NothingToPay) for r in results if r not in files)

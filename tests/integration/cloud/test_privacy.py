"""D1 and D2 through the HTTP API and the CLI, on SQLite and PostgreSQL.

D1: a driver's export holds their account, assignments, sessions, tariffs (with
the document), receipts and the audit events that name them, and nothing of
another driver; a fleet manager's export of them is the same and audited.
D2: after a fleet manager erases a driver, no table and no log line holds the
driver's e-mail, name or IBAN; ``cablepin admin verify-audit`` passes; the kept
receipt still verifies with ``cablepin verify-receipt``; ``cablepin admin
retention`` deletes it once the statutory period is over (time given with --now).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from cablepin.cloud.db import make_engine
from cablepin.cloud.services import accounts, privacy

from .billing_helpers import (
    PDF,
    at,
    billing_world,
    charge_at,
    set_policy,
    submit,
    sync,
    verified_tariff,
)
from .conftest import (
    CABLE_A,
    CABLE_A2,
    CABLE_B,
    DRIVER_A1,
    DRIVER_A2,
    DRIVER_B1,
    FM_A,
    FM_B,
    ORG_A,
    PASSWORD,
    World,
)
from .test_race_pg import CABLEPIN, free_port

pytestmark = pytest.mark.slow

ZOE, ZOE_NAME = "zoe.erasmus@a.example", "Zoe Quixotic-Erasmus"
IBAN = "DE89370400440532013000"


def cli(*args: str, db: str, check: bool = True) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "CABLEPIN_KEYS"}
    done = subprocess.run(
        [CABLEPIN, *args, "--json"]
        if args[0] == "verify-receipt"
        else [CABLEPIN, *args, "--db", db, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    answer: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
    if check:
        assert done.returncode == 0, (done.stdout, done.stderr)
    answer["returncode"] = done.returncode
    return answer


def export(world: World, who: str, path: str = "/api/v1/me/export") -> tuple[str, Any]:
    r = world.call("GET", path, who)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "attachment" in r.headers["content-disposition"]
    return r.text, r.json()


def test_d1_export_holds_the_drivers_data_and_nothing_of_another(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "PAGE", 2)  # three sessions: the pages join up
    ids = billing_world(world)
    text, data = export(world, DRIVER_A1)
    assert data["format"] == "cablepin/v1/personal-data"
    assert data["account"]["email"] == DRIVER_A1
    assert data["account"]["organisation"] == ORG_A
    assert "password_hash" not in data["account"]
    assert [a["serial"] for a in data["assignments"]] == [CABLE_A]
    assert [(s["serial"], s["seq"]) for s in data["sessions"]] == [(CABLE_A, n) for n in (1, 2, 3)]
    (tariff,) = data["tariffs"]
    assert tariff["id"] == ids["tariff_a"]
    assert tariff["document"]["content_type"] == "application/pdf"
    assert base64.b64decode(tariff["document"]["base64"]) == PDF
    (receipt,) = data["receipts"]
    assert receipt["id"] == ids["receipt_a"]
    assert len(receipt["lines"]) == 3
    actions = {e["action"] for e in data["audit_events"]}
    assert {"assignment.created", "tariff.added", "tariff.verified", "receipt.submitted"} <= actions
    for other in (DRIVER_A2, DRIVER_B1, CABLE_B):
        assert other not in text, f"{other} leaked into {DRIVER_A1}'s export"

    # The fleet manager produces the same for a driver of theirs, audited; not for another's.
    fm_text, fm_data = export(world, FM_A, f"/api/v1/drivers/{DRIVER_A1}/export")
    assert fm_data["sessions"] == data["sessions"]
    assert fm_data["tariffs"] == data["tariffs"]
    assert DRIVER_B1 not in fm_text
    log = world.call("GET", "/api/v1/audit", FM_A).json()["items"]
    assert any(e["action"] == "driver.exported" and e["target"] == DRIVER_A1 for e in log)
    r = world.call("GET", f"/api/v1/drivers/{DRIVER_B1}/export", FM_A)
    assert (r.status_code, r.json()["error"]) == (404, "unknown_driver")
    r = world.call("GET", f"/api/v1/drivers/{DRIVER_A1}/export", FM_B)
    assert (r.status_code, r.json()["error"]) == (404, "unknown_driver")
    r = world.call("GET", "/api/v1/me/export", FM_A)
    assert r.status_code == 403


def _zoe(world: World) -> dict[str, Any]:
    """Zoe (org A) on CABLE_A2: a verified tariff, an approved November receipt over two
    sessions, and two December sessions on no receipt (synced later, under their own head)."""
    with world.session() as db:
        accounts.create_user(
            db,
            email=ZOE,
            name=ZOE_NAME,
            role="driver",
            org_name=ORG_A,
            password=PASSWORD,
            now=world.clock(),
        )
        db.commit()
    r = world.call("PUT", f"/api/v1/cables/{CABLE_A2}/assignment", FM_A, json={"driver_email": ZOE})
    assert r.status_code == 200, r.text
    set_policy(world, FM_A, 2023)
    verified_tariff(world, ZOE, FM_A)
    cable = world.cables[CABLE_A2]
    for day in (3, 10):
        charge_at(cable, at(2023, 11, day))
    sync(world, ZOE, CABLE_A2)  # a signed head at seq 2 proves November alone
    for day in (4, 11):
        charge_at(cable, at(2023, 12, day))
    sync(world, ZOE, CABLE_A2)
    receipt = submit(world, ZOE, "2023-11")
    assert receipt.status_code == 201, receipt.text
    receipt_id = receipt.json()["id"]
    r = world.call("POST", f"/api/v1/receipts/{receipt_id}/approve", FM_A)
    assert r.status_code == 200, r.text
    bank = world.call("PUT", "/api/v1/me/bank", ZOE, json={"iban": IBAN, "holder": ZOE_NAME})
    assert bank.status_code == 200, bank.text
    number = {"personnel_number": "P-4711"}
    r = world.call("PUT", f"/api/v1/drivers/{ZOE}/payroll", FM_A, json=number)
    assert r.status_code == 200, r.text
    return {"receipt": receipt_id}


def dump_every_table(url: str) -> str:
    """Every row of every table, as text (bytes as latin-1, so text inside shows)."""
    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    parts = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    parts.append(
                        value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    )
    engine.dispose()
    return "\n".join(parts).lower()


def test_d2_erasure_leaves_no_trace_keeps_receipts_verifiable_then_retention_deletes_them(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    billing_world(world)  # drivers A1 and B1 with their own data, which must stay
    zoe = _zoe(world)
    assert ZOE in dump_every_table(world.url)
    # D1 names the bank details and personnel number; the IBAN masked, as a fleet manager
    # may produce the file.
    exported = world.call("GET", f"/api/v1/drivers/{ZOE}/export", FM_A).json()
    bank = exported["account"]["payroll_and_bank"]
    assert (bank["personnel_number"], bank["holder"]) == ("P-4711", ZOE_NAME)
    assert bank["iban_masked"].endswith("30 00")
    assert IBAN not in json.dumps(exported)
    # The names are in the audit log's display before; the fleet manager sees them.
    log = world.call("GET", "/api/v1/audit", FM_A).json()["items"]
    assert any(e["target"] == ZOE for e in log)

    r = world.call("DELETE", f"/api/v1/drivers/{ZOE}", FM_A, params={"reason": "left"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["cables_handed_over"] == [CABLE_A2]
    assert (done["receipts_kept"], done["tariffs_deleted"]) == (1, 1)
    assert (done["sessions_deleted"], done["sessions_kept"]) == (2, 2)
    assert {"email", "name", "password_hash"} <= set(done["cleared_columns"])
    assert done["kept_until"] == "2034-12-31T23:00:00Z"  # approved in 2026: 8 years after

    dump = dump_every_table(world.url)
    # The cloud's own log lines (the test's HTTP client logs its URLs, which the server's
    # request log never does: it writes route templates).
    logs = "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name.startswith("cablepin")
    ).lower()
    for secret in (ZOE, ZOE_NAME, IBAN, "P-4711", "quixotic"):
        assert secret.lower() not in dump, f"{secret} still in the database"
        assert secret.lower() not in logs, f"{secret} in the log"
    assert DRIVER_A1 in dump  # the others stay
    assert DRIVER_B1 in dump

    # The erased driver is gone for every door: sign-in, a second erasure, an export.
    r = world.client.post("/api/v1/auth/login", json={"email": ZOE, "password": PASSWORD})
    assert r.status_code == 401
    r = world.call("DELETE", f"/api/v1/drivers/{ZOE}", FM_A)
    assert (r.status_code, r.json()["error"]) == (404, "unknown_driver")
    # The handover waits for the cable; the audit log shows the person as erased.
    detail = world.call("GET", f"/api/v1/cables/{CABLE_A2}", FM_A).json()
    assert (detail["driver_email"], detail["handover_pending"]) == (None, True)
    log = world.call("GET", "/api/v1/audit", FM_A).json()["items"]
    erased = [e for e in log if e["action"] == "driver.erased"]
    assert [e["target"] for e in erased] == ["erased driver"]

    assert cli("admin", "verify-audit", db=world.url)["ok"] is True
    bundle = world.call("GET", f"/api/v1/receipts/{zoe['receipt']}/evidence", FM_A)
    assert bundle.status_code == 200, bundle.text
    assert ZOE not in bundle.text
    path = tmp_path / "bundle.json"
    path.write_text(bundle.text)
    ca = str(world.keys.directory / "factory-ca.pem")
    checked = cli("verify-receipt", str(path), "--factory-ca", ca, db=world.url)
    assert checked["ok"] is True

    # Retention: kept through 2034 (Europe/Berlin), deleted from 1 January 2035.
    early = cli("admin", "retention", "--now", "2034-12-31T22:59:00+00:00", db=world.url)
    assert early["receipts_deleted"] == 0
    late = cli("admin", "retention", "--now", "2035-01-01T00:00:00+01:00", db=world.url)
    assert (late["receipts_deleted"], late["years"]) == (1, 8)
    assert late["sessions_deleted"] == 2
    r = world.call("GET", f"/api/v1/receipts/{zoe['receipt']}/evidence", FM_A)
    assert r.status_code == 404
    with world.session() as db:
        from cablepin.cloud.models import ChargingSession, ReceiptRow, User

        tomb = db.scalar(select(User).where(User.erased_at.is_not(None)))
        assert tomb is not None
        assert db.scalar(select(ReceiptRow).where(ReceiptRow.driver_id == tomb.id)) is None
        assert (
            db.scalar(select(ChargingSession).where(ChargingSession.driver_id == tomb.id)) is None
        )
    assert cli("admin", "verify-audit", db=world.url)["ok"] is True
    # Other drivers' receipts are not the job's business.
    assert world.call("GET", "/api/v1/me/receipts", DRIVER_A1).json()["items"]


def test_d2_erasure_is_refused_while_a_handover_to_the_driver_is_pending(world: World) -> None:
    r = world.call(
        "PUT", f"/api/v1/cables/{CABLE_A}/assignment", FM_A, json={"driver_email": DRIVER_A1}
    )
    assert r.status_code == 200, r.text
    world.relay(DRIVER_A1, CABLE_A)
    r = world.call(
        "POST", f"/api/v1/cables/{CABLE_A}/handover", FM_A, json={"driver_email": DRIVER_A2}
    )
    assert r.status_code == 200, r.text
    r = world.call("DELETE", f"/api/v1/drivers/{DRIVER_A2}", FM_A)
    assert (r.status_code, r.json()["error"]) == (409, "conflict")
    assert CABLE_A in r.json()["message"]
    assert "cancel" in r.json()["message"]
    # Cancelled, the erasure of the old driver hands the cable to the pool, and a later
    # cancel of that handover does not give it back to the erased driver.
    assert world.call("DELETE", f"/api/v1/cables/{CABLE_A}/handover", FM_A).status_code == 200
    r = world.call("DELETE", f"/api/v1/drivers/{DRIVER_A1}", FM_A)
    assert r.status_code == 200, r.text
    assert r.json()["cables_handed_over"] == [CABLE_A]
    assert world.call("DELETE", f"/api/v1/cables/{CABLE_A}/handover", FM_A).status_code == 200
    detail = world.call("GET", f"/api/v1/cables/{CABLE_A}", FM_A).json()
    assert DRIVER_A1 not in json.dumps(detail)


def test_d2_serve_runs_the_retention_job(world: World) -> None:
    """`cablepin serve` deletes expired receipts of erased drivers before it says it is up
    (and then every CABLEPIN_RETENTION_INTERVAL_S): a receipt made in 2024 under a one-year
    period is past it today."""
    world.clock.now = dt.datetime(2024, 6, 3, 9, 0, tzinfo=dt.UTC)
    zoe = _zoe(world)
    r = world.call("DELETE", f"/api/v1/drivers/{ZOE}", FM_A)
    assert r.status_code == 200, r.text
    assert r.json()["kept_until"] == "2032-12-31T23:00:00Z"  # this app's default: 8 years
    env = {
        **{k: v for k, v in os.environ.items() if k != "CABLEPIN_KEYS"},
        "CABLEPIN_RETENTION_YEARS": "1",
    }
    command = [CABLEPIN, "serve", "--db", world.url, "--keys", str(world.keys.directory)]
    proc = subprocess.Popen(
        [*command, "--port", str(free_port()), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["url"].startswith("http://")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    r = world.call("GET", f"/api/v1/receipts/{zoe['receipt']}/evidence", FM_A)
    assert r.status_code == 404
    assert world.call("GET", "/api/v1/me/receipts", DRIVER_A1).status_code == 200
    assert cli("admin", "verify-audit", db=world.url)["ok"] is True

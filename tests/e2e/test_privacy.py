"""D1 and D2 as real processes: Ben's sessions come from a simulated cable through
`cablepin app connect`, go on an approved receipt; Ben downloads his data; his fleet
manager erases him. Then neither the database (every table, `sqlite3` dump) nor the
cloud's log (`cablepin serve`'s JSON lines) holds his e-mail address, name or IBAN;
`cablepin admin verify-audit` passes; his receipt still verifies with `cablepin
verify-receipt`; `cablepin admin retention` deletes it once the period is over."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from cablepin.demo import cablepin_command, run_cli

from .conftest import BEN, FLEET, World

pytestmark = pytest.mark.slow

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
IBAN = "DE02120300000000202051"


def previous_month(now: dt.datetime) -> tuple[int, int]:
    return (now.year - 1, 12) if now.month == 1 else (now.year, now.month - 1)


def cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cablepin_command(), *args, "--json"],
        capture_output=True,
        text=True,
        env=world.env,
        timeout=120,
        check=False,
    )


def test_d1_d2_export_then_erasure_leaves_no_trace_and_the_receipt_still_verifies(
    world: World, tmp_path: Path
) -> None:
    world.login("ben", BEN)
    year, month = previous_month(dt.datetime.now(dt.UTC))
    label = f"{year:04d}-{month:02d}"
    serial = world.cable(BEN)
    for day in (6, 13):
        start = int(dt.datetime(year, month, day, 18, tzinfo=dt.UTC).timestamp())
        run_cli(
            [
                "cable", "charge", "--state", str(world.layout.cable(serial)),
                "--wh", "7400", "--start", str(start), "--end", str(start + 5400),
            ],
            env=world.env,
        )  # fmt: skip
    assert world.app("connect", serial, home="ben").out["synced"] == 2

    fleet, ben = world.as_(FLEET), world.as_(BEN)
    fleet.request("PUT", f"/api/v1/billing/policy/{year}", {"method": "contract"})
    auth = {"Authorization": f"Bearer {ben.token}"}
    upload = httpx.post(
        f"{world.url}/api/v1/me/tariffs",
        headers=auth,
        data={"price": "0.3275", "valid_from": f"{year}-01-01", "valid_to": f"{year}-12-31"},
        files={"document": ("contract.pdf", PDF, "application/pdf")},
        timeout=30,
    )
    assert upload.status_code == 201, upload.text
    fleet.request("POST", f"/api/v1/tariffs/{upload.json()['id']}/verify")
    receipt = ben.request("POST", "/api/v1/me/receipts", {"month": label})
    fleet.request("POST", f"/api/v1/receipts/{receipt['id']}/approve")
    # The bank details route belongs to [3/6]; where it exists, the IBAN must go too.
    httpx.put(f"{world.url}/api/v1/me/bank", headers=auth, json={"iban": IBAN}, timeout=30)

    # D1: one JSON file, from the API as Ben.
    export = httpx.get(f"{world.url}/api/v1/me/export", headers=auth, timeout=60)
    assert export.status_code == 200
    mine: dict[str, Any] = export.json()
    assert mine["account"]["email"] == BEN.email
    assert [s["serial"] for s in mine["sessions"]] == [serial, serial]
    assert [r["id"] for r in mine["receipts"]] == [receipt["id"]]
    assert mine["tariffs"][0]["document"]["content_type"] == "application/pdf"
    assert "anna@e2e.test" not in export.text

    # D2: the fleet manager erases Ben; his cable goes to the pool first.
    done = fleet.request("DELETE", f"/api/v1/drivers/{BEN.email}", params={"reason": "left"})
    assert done["cables_handed_over"] == [serial]
    assert done["receipts_kept"] == 1

    db_path = world.layout.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(db_path) as db:
        dump = "\n".join(db.iterdump()).lower()
    log = (world.root / "cloud.log").read_text(errors="replace").lower()
    assert "driver.erased" in dump  # the dump is the real one
    for secret in (BEN.email, BEN.name, IBAN):
        assert secret.lower() not in dump, f"{secret} still in the database"
        assert secret.lower() not in log, f"{secret} in the cloud's log"

    audit = cli(world, "admin", "verify-audit", "--db", world.layout.db_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout)["ok"] is True

    bundle = fleet.request("GET", f"/api/v1/receipts/{receipt['id']}/evidence")
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    ca = str(world.layout.keys / "factory-ca.pem")
    checked = cli(world, "verify-receipt", str(path), "--factory-ca", ca)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["receipt_id"] == receipt["id"]

    # The retention job: nothing before the period ends, the receipt after it.
    made = dt.datetime.now(dt.UTC).year
    early = cli(
        world,
        "admin",
        "retention",
        "--db",
        world.layout.db_url,
        "--now",
        f"{made + 8}-06-01T00:00:00+00:00",
    )
    assert json.loads(early.stdout)["receipts_deleted"] == 0
    late = cli(
        world,
        "admin",
        "retention",
        "--db",
        world.layout.db_url,
        "--now",
        f"{made + 9}-01-01T00:00:00+01:00",
    )
    assert json.loads(late.stdout)["receipts_deleted"] == 1
    gone = httpx.get(
        f"{world.url}/api/v1/receipts/{receipt['id']}/evidence",
        headers={"Authorization": f"Bearer {fleet.token}"},
        timeout=30,
    )
    assert gone.status_code == 404
    audit = cli(world, "admin", "verify-audit", "--db", world.layout.db_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr

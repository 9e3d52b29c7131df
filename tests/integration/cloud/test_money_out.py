"""M4 money out through the HTTP API, on SQLite and PostgreSQL: the driver's IBAN
(checked, masked for everyone but its owner, never in a log, the audit log or the
database in clear), the payroll CSV in the German format, and the SEPA transfer
(valid pain.001, sums to the approved total, pays each receipt once, lists the
receipts it cannot pay, and keeps each file for a second download)."""

from __future__ import annotations

import csv
import io
import logging
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sepaxml
import xmlschema
from sqlalchemy import select, text

from cablepin.cloud.models import DriverAccount, PaymentRun, User

from .billing_helpers import at, billing_world, charge_at, set_policy, submit, sync, verified_tariff
from .conftest import CABLE_A2, DRIVER_A1, DRIVER_A2, FM_A, FM_B, World

IBAN_A1 = "DE02 1203 0000 0000 2020 51"
IBAN_A1_COMPACT = "DE02120300000000202051"
IBAN_A2 = "DE89 3704 0044 0532 0130 00"
DEBTOR = {
    "debtor_name": "Fleet A GmbH",
    "debtor_iban": "DE75 5121 0800 1245 1261 99",
    "debtor_bic": "SOGEDEFFXXX",
}
XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.09.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
EVIL = "Max;=cmd|' /C calc'!A0;"
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def put_bank(world: World, who: str, iban: str, **extra: Any) -> Any:
    return world.call("PUT", "/api/v1/me/bank", who, json={"iban": iban, **extra})


def approve(world: World, receipt_id: int, fm: str = FM_A) -> None:
    r = world.call("POST", f"/api/v1/receipts/{receipt_id}/approve", fm)
    assert r.status_code == 200, r.text


def second_driver_receipt(world: World) -> int:
    """DRIVER_A2 on CABLE_A2 with an approved November receipt of their own."""
    r = world.call(
        "PUT", f"/api/v1/cables/{CABLE_A2}/assignment", FM_A, json={"driver_email": DRIVER_A2}
    )
    assert r.status_code == 200, r.text
    verified_tariff(world, DRIVER_A2, FM_A, price="0.41")
    for day in (4, 11):
        charge_at(world.cables[CABLE_A2], at(2023, 11, day), wh=6100 + day)
    sync(world, DRIVER_A2, CABLE_A2)
    r = submit(world, DRIVER_A2, "2023-11")
    assert r.status_code == 201, r.text
    receipt_id: int = r.json()["id"]
    approve(world, receipt_id)
    return receipt_id


def validate(document: bytes) -> ET.Element:
    """Checked here against the XSD that sepaxml ships, independently of its own check."""
    xmlschema.XMLSchema(str(XSD)).validate(document.decode())
    return ET.fromstring(document)


def amounts(root: ET.Element) -> dict[str, Decimal]:
    """End-to-end id -> amount of each transaction in the file."""
    return {
        tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS) or "": Decimal(
            tx.findtext("p:Amt/p:InstdAmt", namespaces=NS) or "0"
        )
        for tx in root.iterfind(".//p:CdtTrfTxInf", NS)
    }


# ------------------------------------------------------------------ the IBAN


@pytest.mark.parametrize(
    ("iban", "problem"),
    [
        ("DE02 1203 0000 0000 2020 52", "checksum"),
        ("DE02 1203 0000 0000 2020", "length"),
        ("XX02120300000000202051", "country"),
        ("DE0212030000000020205A", "format"),
    ],
)
def test_m4_a_wrong_iban_is_refused_with_the_check_that_failed(
    world: World, iban: str, problem: str
) -> None:
    billing_world(world)
    r = put_bank(world, DRIVER_A1, iban)
    assert r.status_code == 409, r.text
    body = r.json()
    assert (body["error"], body["problem"], body["field"]) == ("invalid_account", problem, "iban")
    assert "bank statement" in body["message"]
    assert iban.replace(" ", "") not in r.text  # the refusal does not repeat the number
    assert put_bank(world, DRIVER_A1, IBAN_A1).status_code == 200


def test_m4_iban_is_masked_for_everyone_but_its_owner_and_never_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    billing_world(world)
    caplog.set_level(logging.DEBUG)
    r = put_bank(world, DRIVER_A1, IBAN_A1, holder="Anna Beispiel")
    assert r.status_code == 200, r.text
    assert r.json()["iban"] == IBAN_A1_COMPACT
    assert r.json()["iban_masked"] == "DE** **** **** **** **20 51"
    mine = world.call("GET", "/api/v1/me/bank", DRIVER_A1).json()
    assert (mine["iban"], mine["holder"]) == (IBAN_A1_COMPACT, "Anna Beispiel")
    # Another driver sees their own (none), never A1's.
    other = world.call("GET", "/api/v1/me/bank", DRIVER_A2).json()
    assert other["iban"] is None
    assert other["iban_masked"] is None
    # The fleet manager: masked only, on every answer that names the account.
    payroll = world.call(
        "PUT", f"/api/v1/drivers/{DRIVER_A1}/payroll", FM_A, json={"personnel_number": "4711"}
    )
    assert payroll.status_code == 200, payroll.text
    assert payroll.json()["iban_masked"] == "DE** **** **** **** **20 51"
    approve(world, billing_world_receipt(world))
    payouts = world.call("GET", "/api/v1/billing/2023-11/payouts", FM_A)
    audit = world.call("GET", "/api/v1/audit", FM_A, params={"limit": 500})
    assert audit.status_code == 200
    assert "bank.set" in audit.text
    for answer in (payroll.text, payouts.text, audit.text):
        assert IBAN_A1_COMPACT not in answer
        assert "0000 2020" not in answer
    # Nor in any log line of the whole story, nor in clear in the database.
    assert caplog.records
    assert IBAN_A1_COMPACT not in caplog.text
    assert IBAN_A1 not in caplog.text
    with world.session() as db:
        row = db.scalar(select(DriverAccount))
        assert row is not None
        assert row.iban_sealed is not None
        assert IBAN_A1_COMPACT.encode() not in row.iban_sealed
        dumped = repr(db.execute(text("SELECT * FROM driver_accounts")).all())
        dumped += repr(db.execute(text("SELECT * FROM audit_events")).all())
    assert IBAN_A1_COMPACT not in dumped
    assert IBAN_A1_COMPACT[-10:] not in dumped


def billing_world_receipt(world: World) -> int:
    r = world.call("GET", "/api/v1/me/receipts", DRIVER_A1)
    receipt_id: int = r.json()["items"][0]["id"]
    return receipt_id


def test_m4_personnel_number_only_for_own_organisations_drivers(world: World) -> None:
    billing_world(world)
    body = {"personnel_number": "P-100/7"}
    assert (
        world.call("PUT", f"/api/v1/drivers/{DRIVER_A1}/payroll", FM_A, json=body).status_code
        == 200
    )
    other = world.call("PUT", f"/api/v1/drivers/{DRIVER_A1}/payroll", FM_B, json=body)
    assert (other.status_code, other.json()["error"]) == (404, "unknown_driver")
    bad = world.call(
        "PUT", f"/api/v1/drivers/{DRIVER_A1}/payroll", FM_A, json={"personnel_number": "=1+1"}
    )
    assert bad.status_code == 422


# ------------------------------------------------------------------ payroll CSV


def test_m4_payroll_csv_is_german_one_row_per_approved_receipt_and_formula_safe(
    world: World,
) -> None:
    ids = billing_world(world)
    set_policy(world, FM_A, 2023, wage_type="4711-Ladestrom")
    world.call(
        "PUT", f"/api/v1/drivers/{DRIVER_A1}/payroll", FM_A, json={"personnel_number": "00815"}
    )
    with world.session() as db:
        db.execute(text("UPDATE users SET name = :n WHERE email = :e"), {"n": EVIL, "e": DRIVER_A1})
        db.commit()
    empty = world.call("GET", "/api/v1/billing/2023-11/payroll.csv", FM_A)
    assert empty.status_code == 200
    assert len(empty.content.decode("utf-8-sig").splitlines()) == 1  # nothing approved yet
    approve(world, ids["receipt_a"])
    second = second_driver_receipt(world)
    r = world.call("GET", "/api/v1/billing/2023-11/payroll.csv", FM_A)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
    exported = r.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(exported), delimiter=";"))
    assert rows[0] == ["Personalnummer", "Name", "Jahr", "Monat", "Lohnart", "Betrag"]
    assert len(rows) == 3  # one per approved receipt; B's receipt is not in A's file
    receipts = {
        item["id"]: item
        for item in world.call("GET", "/api/v1/receipts?month=2023-11", FM_A).json()["items"]
    }
    first = rows[1]
    assert first[0] == "00815"  # text, leading zero kept
    assert first[1] == "Max;'=cmd|' /C calc'!A0;"  # all there, shown as text
    assert first[2:5] == ["2023", "11", "4711-Ladestrom"]
    assert first[5] == receipts[ids["receipt_a"]]["amount"].replace(".", ",")
    assert "," in first[5]
    assert "." not in first[5]
    assert rows[2][0] == ""  # no personnel number yet: the row is there, the cell empty
    assert rows[2][5] == receipts[second]["amount"].replace(".", ",")
    # Whichever separator a spreadsheet splits on, no piece starts a formula.
    for line in exported.splitlines():
        for separator in (";", ","):
            for piece in line.split(separator):
                assert not piece.strip(' "').startswith(FORMULA), (separator, line)


# ------------------------------------------------------------------ SEPA transfer


def test_m4_sepa_transfer_is_valid_sums_to_the_approved_total_and_pays_each_receipt_once(
    world: World,
) -> None:
    ids = billing_world(world)
    approve(world, ids["receipt_a"])
    approve(world, ids["receipt_b"], FM_B)
    second = second_driver_receipt(world)
    assert put_bank(world, DRIVER_A1, IBAN_A1).status_code == 200

    # Without an account to pay from there is no file, and nothing is marked paid.
    r = world.call("GET", "/api/v1/billing/2023-11/sepa.xml", FM_A)
    assert (r.status_code, r.json()["error"]) == (409, "no_debtor_account")
    set_policy(world, FM_A, 2023, **DEBTOR)

    first = world.call("GET", "/api/v1/billing/2023-11/sepa.xml", FM_A)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/xml")
    assert first.headers["x-unpayable-receipts"] == str(second)  # A2 has no IBAN: listed
    root = validate(first.content)
    paid = amounts(root)
    receipts = {
        item["id"]: Decimal(item["amount"])
        for item in world.call("GET", "/api/v1/receipts?month=2023-11", FM_A).json()["items"]
    }
    assert paid == {f"CABLEPIN-R{ids['receipt_a']}": receipts[ids["receipt_a"]]}
    assert Decimal(root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS) or "") == sum(
        paid.values()
    )
    assert root.findtext(".//p:Cdtr/p:Nm", namespaces=NS) == DRIVER_A1
    assert root.findtext(".//p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == IBAN_A1_COMPACT
    assert root.findtext(".//p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == "DE75512108001245126199"
    remittance = root.findtext(".//p:RmtInf/p:Ustrd", namespaces=NS) or ""
    assert f"Beleg {ids['receipt_a']}" in remittance
    assert "2023-11" in remittance

    # A second download pays nothing twice: only A2's receipt is open, and it has no IBAN.
    again = world.call("GET", "/api/v1/billing/2023-11/sepa.xml", FM_A)
    assert again.status_code == 409
    assert again.json()["error"] == "nothing_to_pay"
    assert again.json()["unpayable"] == [second]

    # Once A2 enters an IBAN, the next file pays exactly that receipt.
    assert put_bank(world, DRIVER_A2, IBAN_A2).status_code == 200
    third = world.call("GET", "/api/v1/billing/2023-11/sepa.xml", FM_A)
    assert third.status_code == 200, third.text
    assert "x-unpayable-receipts" not in third.headers
    assert amounts(validate(third.content)) == {f"CABLEPIN-R{second}": receipts[second]}
    done = world.call("GET", "/api/v1/billing/2023-11/sepa.xml", FM_A)
    assert (done.status_code, done.json()["unpayable"]) == (409, [])

    # Every approved receipt paid exactly once; the files sum to the approved total.
    payouts = world.call("GET", "/api/v1/billing/2023-11/payouts", FM_A).json()
    assert payouts["unpaid_amount"] == "0.00"
    assert payouts["unpayable"] == []
    runs = payouts["runs"]
    assert [run["count"] for run in runs] == [1, 1]
    assert sum(Decimal(run["amount"]) for run in runs) == Decimal(payouts["approved_amount"])
    assert Decimal(payouts["approved_amount"]) == receipts[ids["receipt_a"]] + receipts[second]
    assert {r["payment_run_id"] for r in payouts["receipts"]} == {run["id"] for run in runs}
    audit = world.call("GET", "/api/v1/audit", FM_A, params={"limit": 500}).json()["items"]
    paid_events = [e for e in audit if e["action"] == "receipt.paid"]
    assert sorted(e["details"]["receipt_id"] for e in paid_events) == sorted(
        [ids["receipt_a"], second]
    )

    # The download that never arrived: the same file again, byte for byte, paying nothing new.
    first_run = first.headers["x-payment-run"]
    copy = world.call("GET", f"/api/v1/billing/payment-runs/{first_run}/sepa.xml", FM_A)
    assert copy.status_code == 200
    assert copy.content == first.content
    assert world.call("GET", "/api/v1/billing/2023-11/payouts", FM_A).json()["runs"] == runs
    # Another organisation neither sees the run nor pays A's receipts.
    hidden = world.call("GET", f"/api/v1/billing/payment-runs/{first_run}/sepa.xml", FM_B)
    assert (hidden.status_code, hidden.json()["error"]) == (404, "unknown_payment_run")
    with world.session() as db:
        stored = db.scalars(select(PaymentRun)).all()
        assert len(stored) == 2
        assert all(IBAN_A1_COMPACT.encode() not in run.document_sealed for run in stored)
        assert db.scalar(select(User.id).where(User.email == DRIVER_A1)) is not None

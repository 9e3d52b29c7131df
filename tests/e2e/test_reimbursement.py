"""M1-M4, M6 as real processes: sessions recorded by the simulated cable in the
previous month (`cable charge --start/--end`), synced by `cablepin app connect`,
priced by a verified tariff, submitted with one session deselected, approved,
and the receipt's evidence verified offline by `cablepin verify-receipt`; the
submission's e-mails with the PDF and the approval reach a real SMTP server
through `cablepin worker` (M7); and the money out: the payroll CSV and a SEPA
transfer that validates against the pain.001 schema, sums to the approved
total and is not paid twice (M4)."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
import sepaxml
import xmlschema
from babel.dates import format_date

from cablepin.demo import run_cli
from integration.cloud.smtp import smtp_server

from .conftest import ANNA, FLEET, Result, World

pytestmark = pytest.mark.slow

BILLING = "payroll@fleet.example"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module", autouse=True)
def logged_in(world: World) -> None:
    world.login("anna", ANNA)


def previous_month(now: dt.datetime) -> tuple[int, int]:
    return (now.year - 1, 12) if now.month == 1 else (now.year, now.month - 1)


def test_m1_m3_m4_m6_receipt_from_real_cable_sessions_verifies_offline(
    world: World, tmp_path: Path
) -> None:
    year, month = previous_month(dt.datetime.now(dt.UTC))
    label = f"{year:04d}-{month:02d}"
    serial = world.cable(ANNA)
    for day, wh in ((5, 7400), (12, 11_111), (19, 3_333)):
        start = int(dt.datetime(year, month, day, 18, tzinfo=dt.UTC).timestamp())
        run_cli(
            [
                "cable", "charge", "--state", str(world.layout.cable(serial)),
                "--wh", str(wh), "--start", str(start), "--end", str(start + 5400),
            ],
            env=world.env,
        )  # fmt: skip
    synced = world.app("connect", serial, home="anna")
    assert synced.ok, synced
    assert synced.out["synced"] == 3

    fleet, anna = world.as_(FLEET), world.as_(ANNA)
    fleet.request(
        "PUT",
        f"/api/v1/billing/policy/{year}",
        {"method": "contract", "recipient_email": BILLING},
    )
    upload = httpx.post(
        f"{world.url}/api/v1/me/tariffs",
        headers={"Authorization": f"Bearer {anna.token}"},
        data={"price": "0.3275", "valid_from": f"{year}-01-01", "valid_to": f"{year}-12-31"},
        files={"document": ("contract.pdf", PDF, "application/pdf")},
        timeout=30,
    )
    assert upload.status_code == 201, upload.text
    fleet.request("POST", f"/api/v1/tariffs/{upload.json()['id']}/verify")

    view = anna.request("GET", f"/api/v1/me/months/{label}")
    assert [s["wh"] for s in view["sessions"]] == [7400, 11_111, 3_333]
    assert {s["serial"] for s in view["sessions"]} == {serial}
    receipt = anna.request(
        "POST", "/api/v1/me/receipts", {"month": label, "exclude": [view["sessions"][1]["id"]]}
    )
    assert (receipt["total_wh"], receipt["amount"]) == (10_733, "3.52")  # 10.733 kWh x 0.3275
    listed = fleet.request("GET", "/api/v1/receipts", params={"month": label})["items"]
    assert [r["id"] for r in listed] == [receipt["id"]]
    approved = fleet.request("POST", f"/api/v1/receipts/{receipt['id']}/approve")
    assert approved["state"] == "approved"

    # M7: this cloud has no mail server; a `cablepin worker` delivers the outbox to one.
    with smtp_server() as (server, port):
        sent = run_cli(
            ["worker", "--once", "--db", world.layout.db_url],
            env={
                **world.env,
                "CABLEPIN_SMTP_HOST": "127.0.0.1",
                "CABLEPIN_SMTP_PORT": str(port),
                "CABLEPIN_SMTP_TLS": "none",
            },
        )
    assert sent == {"sent": 3, "deferred": 0, "failed": 0}
    number = receipt["id"]
    # The month as a German reader says it ("Oktober 2026").
    spoken = format_date(dt.date(year, month, 1), "LLLL yyyy", locale="de")
    assert sorted((r.rcpt[0], r.subject) for r in server.received) == sorted(
        [
            (ANNA.email, f"Beleg {number} für {spoken} eingereicht"),
            (BILLING, f"Beleg {number} für {spoken} eingereicht"),
            (ANNA.email, f"Beleg {number} für {spoken} genehmigt"),
        ]
    )
    for got in server.received:
        if "eingereicht" in got.subject:
            ((name, pdf),) = got.attachments()
            assert name == f"receipt-{label}-{number}.pdf"
            assert pdf.startswith(b"%PDF-")

    bundle = fleet.request("GET", f"/api/v1/receipts/{receipt['id']}/evidence")
    genuine = world.verify_receipt(bundle, tmp_path / "genuine.json")
    assert genuine.ok, genuine
    assert genuine.out == {
        "ok": True,
        "receipt_id": receipt["id"],
        "total_wh": 10_733,
        "amount": "3.52",
        "lines": 2,
        "serials": [serial],
    }
    # The excluded session stays in the signed chain between the two billed ones.
    dropped = copy.deepcopy(bundle)
    del dropped["cables"][0]["chains"][0]["records"][1]
    refused = world.verify_receipt(dropped, tmp_path / "dropped.json")
    assert not refused.ok
    assert "dropped" in refused.out["message"]

    # M4: the approved receipt goes to payroll and is paid by SEPA transfer, once.
    anna.request("PUT", "/api/v1/me/bank", {"iban": "DE02 1203 0000 0000 2020 51"})
    fleet.request(
        "PUT",
        f"/api/v1/billing/policy/{year}",
        {
            "method": "contract",
            "wage_type": "3400",
            "debtor_name": "Musterstadt GmbH",
            "debtor_iban": "DE75 5121 0800 1245 1261 99",
            "debtor_bic": "SOGEDEFFXXX",
        },
    )
    as_fleet = {"Authorization": f"Bearer {fleet.token}"}
    payroll = httpx.get(f"{world.url}/api/v1/billing/{label}/payroll.csv", headers=as_fleet)
    assert payroll.status_code == 200, payroll.text
    rows = payroll.content.decode("utf-8-sig").splitlines()
    assert rows[0] == "Personalnummer;Name;Jahr;Monat;Lohnart;Betrag"
    assert rows[1].endswith(f";{year};{month};3400;3,52"), rows
    sepa = httpx.get(f"{world.url}/api/v1/billing/{label}/sepa.xml", headers=as_fleet)
    assert sepa.status_code == 200, sepa.text
    schema = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.09.xsd"
    xmlschema.XMLSchema(str(schema)).validate(sepa.text)
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
    root = ElementTree.fromstring(sepa.content)
    paid = [Decimal(a.text or "") for a in root.iterfind(".//p:InstdAmt", ns)]
    assert paid == [Decimal(approved["amount"])]
    assert root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns) == "3.52"
    again = httpx.get(f"{world.url}/api/v1/billing/{label}/sepa.xml", headers=as_fleet)
    assert (again.status_code, again.json()["error"]) == (409, "nothing_to_pay")


def test_m2_driver_stores_a_tariff_with_its_proof_from_the_app(
    world: World, tmp_path: Path
) -> None:
    year = dt.datetime.now(dt.UTC).year + 1  # after the first test's tariff: no overlap
    proof, text = tmp_path / "vertrag.pdf", tmp_path / "vertrag-as-text.pdf"
    proof.write_bytes(PDF)
    text.write_text("not a PDF, whatever the name says")

    def add(
        document: Path,
        *extra: str,
        valid: tuple[str, str] = ("01-01", "12-31"),
        price: str = "0.3275",
    ) -> Result:
        return world.app(
            "tariff", "add", "--price", price, "--from", f"{year}-{valid[0]}",
            "--to", f"{year}-{valid[1]}", "--document", str(document), *extra, home="anna",
        )  # fmt: skip

    refused = add(text)
    assert (refused.ok, refused.out["error"]) == (False, "bad_document")
    assert "not a PDF, PNG or JPEG" in refused.out["message"]
    german = add(text, "--lang", "de")
    assert "keine PDF-, PNG- oder JPEG-Datei" in german.out["message"]
    backwards = add(proof, valid=("12-31", "01-01"))
    assert (backwards.ok, backwards.out["error"]) == (False, "invalid_tariff")
    missing = add(tmp_path / "nowhere.pdf")
    assert (missing.ok, missing.out["error"]) == (False, "document_unreadable")

    stored = add(proof, price="0,3275")  # a German decimal comma, as the portal takes it
    assert stored.ok, stored
    assert (stored.out["price"], stored.out["state"]) == ("0.3275", "pending")
    assert stored.out["document_type"] == "application/pdf"
    overlap = add(proof, valid=("06-01", "06-30"))
    assert (overlap.ok, overlap.out["error"]) == (False, "tariff_overlap")
    # The fleet manager finds it with the very proof the app sent.
    fleet = world.as_(FLEET)
    mine = [
        t for t in fleet.request("GET", "/api/v1/tariffs")["items"] if t["id"] == stored.out["id"]
    ]
    assert [t["driver_email"] for t in mine] == [ANNA.email]

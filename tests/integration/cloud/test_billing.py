"""Reimbursement through HTTP (M1-M4): policy, flat prices, tariffs, month view,
receipts, approval; every refusal with its code, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from fractions import Fraction
from typing import Any

from sqlalchemy import event, select

from cablepin.cloud.domain.billing import MAX_PENDING_TARIFFS
from cablepin.cloud.models import AuditEvent, ReceiptLine
from cablepin.cloud.services import audit

from .billing_helpers import (
    JPEG,
    PDF,
    PNG,
    at,
    billing_world,
    charge_at,
    set_policy,
    submit,
    sync,
    upload_tariff,
    verified_tariff,
)
from .conftest import (
    CABLE_A,
    DRIVER_A1,
    DRIVER_A2,
    DRIVER_B1,
    FM_A,
    FM_B,
    SUPPORT,
    World,
    assigned_world,
)

IBAN = "DE89 3704 0044 0532 0130 00"


def actions(world: World) -> list[tuple[str, str | None, str | None]]:
    """The audit log as people read it: pseudonyms joined back to e-mail addresses (D2)."""
    with world.session() as db:
        rows = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        return [(e.action, e.target, e.reason) for e in audit.shown(db, rows)]


# ------------------------------------------------------------------ M1


def test_m1_policy_per_year_set_by_the_fleet_manager_and_audited(world: World) -> None:
    r = world.call("GET", "/api/v1/billing/policy/2026", FM_A)
    assert r.status_code == 404
    assert "PUT /api/v1/billing/policy/2026" in r.json()["message"]
    body = {
        "method": "flat",
        "deadline_day": 15,
        "recipient_email": "payroll@a.example",
        "wage_type": "LA 3050",
        "debtor_name": "Fleet A GmbH",
        "debtor_iban": IBAN,
        "debtor_bic": "COBADEFFXXX",
    }
    r = world.call("PUT", "/api/v1/billing/policy/2026", FM_A, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["method"] == "flat"
    assert out["flat_price"] == "0.34"
    assert out["deadline_day"] == 15
    assert out["debtor_iban"] == "DE89370400440532013000"
    # Drivers read their organisation's policy; the other organisation has none.
    assert world.call("GET", "/api/v1/billing/policy/2026", DRIVER_A1).json() == out
    assert world.call("GET", "/api/v1/billing/policy/2026", FM_B).status_code == 404
    # Contract method for another year; the flat price is only shown for flat.
    set_policy(world, FM_A, 2027, "contract")
    assert world.call("GET", "/api/v1/billing/policy/2027", FM_A).json()["flat_price"] is None
    assert world.call("GET", "/api/v1/billing/policy/2026", FM_A).json()["method"] == "flat"
    audited = [a for a in actions(world) if a[0] == "billing.policy_set"]
    assert audited == [("billing.policy_set", "2026", None), ("billing.policy_set", "2027", None)]
    with world.session() as db:
        details = [e.details for e in db.scalars(select(AuditEvent))]
    assert not any("DE89" in d for d in details)  # no IBAN in the audit log


def test_m1_policy_refusals(world: World) -> None:
    bad_iban = {"method": "contract", "debtor_iban": "DE89 3704 0044 0532 0130 01"}
    r = world.call("PUT", "/api/v1/billing/policy/2026", FM_A, json=bad_iban)
    assert (r.status_code, r.json()["error"]) == (409, "invalid_account")
    assert "IBAN" in r.json()["message"]
    for body in ({"method": "cheap"}, {"method": "flat", "deadline_day": 29}, {}):
        r = world.call("PUT", "/api/v1/billing/policy/2026", FM_A, json=body)
        assert r.status_code == 422, body
        assert r.json()["error"] == "invalid_request"
    r = world.call("PUT", "/api/v1/billing/policy/2026", DRIVER_A1, json={"method": "flat"})
    assert r.status_code == 403


def test_m1_m7_billing_address_is_one_plain_address(world: World) -> None:
    """The billing address becomes a receipt mail's To header and envelope recipient: a
    line break (a header injection, and a refused compose that failed every driver's
    receipt submission), a second address or a display name is refused when it is set."""
    for address in (
        "payroll@a.example\r\nBcc: spy@evil.example",
        "payroll@a.example\nBcc: spy@evil.example",
        "payroll@a.example, spy@evil.example",
        '"Payroll" <payroll@a.example>',
        "payroll",
    ):
        body = {"method": "contract", "recipient_email": address}
        r = world.call("PUT", "/api/v1/billing/policy/2026", FM_A, json=body)
        assert (r.status_code, r.json()["error"]) == (422, "invalid_request"), address
    body = {"method": "contract", "recipient_email": "payroll@a.example"}
    assert world.call("PUT", "/api/v1/billing/policy/2026", FM_A, json=body).status_code == 200


def test_m1_flat_price_is_reference_data_only_support_changes_it_audited(world: World) -> None:
    set_policy(world, FM_A, 2027, "flat")
    assert world.call("GET", "/api/v1/billing/policy/2027", FM_A).json()["flat_price"] is None
    body = {"price": "0.36", "source": "Destatis 2027", "reason": "published figure"}
    assert world.call("PUT", "/api/v1/billing/flat-prices/2027", FM_A, json=body).status_code == 403
    r = world.call("PUT", "/api/v1/billing/flat-prices/2027", SUPPORT, json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"year": 2027, "price": "0.36", "source": "Destatis 2027"}
    policy = world.call("GET", "/api/v1/billing/policy/2027", FM_A).json()
    assert (policy["flat_price"], policy["flat_price_source"]) == ("0.36", "Destatis 2027")
    assert ("billing.flat_price_set", "2027", "published figure") in actions(world)
    for price in ("0,36", "0.1234567", "-1", "10", "abc"):
        r = world.call(
            "PUT", "/api/v1/billing/flat-prices/2027", SUPPORT, json={**body, "price": price}
        )
        assert r.status_code == 422, price


# ------------------------------------------------------------------ M2


def test_m2_tariff_with_pdf_png_or_jpeg_proof_told_by_content(world: World) -> None:
    r = upload_tariff(world, DRIVER_A1, document=PDF, name="scan.jpg")
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["state"], out["kind"], out["price"]) == ("pending", "fixed", "0.3275")
    assert out["document_type"] == "application/pdf"
    for n, (content, kind) in enumerate(((PNG, "image/png"), (JPEG, "image/jpeg"))):
        year = 2024 + n
        r = upload_tariff(
            world,
            DRIVER_A1,
            document=content,
            name="x.pdf",
            valid_from=f"{year}-01-01",
            valid_to=f"{year}-12-31",
        )
        assert r.status_code == 201, r.text
        assert r.json()["document_type"] == kind
    # The fleet manager of the organisation downloads the proof as it was uploaded.
    d = world.call("GET", f"/api/v1/tariffs/{out['id']}/document", FM_A)
    assert d.status_code == 200
    assert d.content == PDF
    assert d.headers["content-type"] == "application/pdf"
    assert d.headers["content-disposition"].startswith("attachment")
    listed = world.call("GET", "/api/v1/tariffs?state=pending", FM_A).json()["items"]
    assert {t["id"] for t in listed} >= {out["id"]}
    assert world.call("GET", "/api/v1/tariffs", FM_B).json()["items"] == []
    mine = world.call("GET", "/api/v1/me/tariffs", DRIVER_A1).json()["items"]
    assert len(mine) == 3
    assert world.call("GET", "/api/v1/me/tariffs", DRIVER_A2).json()["items"] == []


def test_m2_tariff_lists_do_not_read_the_proof_documents(world: World) -> None:
    """A proof is up to 5 MB and a driver may have many tariffs: listing them (the driver's
    page, the fleet manager's) reads each document's size, not the document."""
    big = PDF + b"%" * (1024 * 1024)
    ids = []
    for year in (2023, 2024):
        r = upload_tariff(
            world, DRIVER_A1, document=big, valid_from=f"{year}-01-01", valid_to=f"{year}-12-31"
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = world.client.app.state.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for who, path in ((FM_A, "/api/v1/tariffs"), (DRIVER_A1, "/api/v1/me/tariffs")):
            items = world.call("GET", path, who).json()["items"]
            assert sorted(t["id"] for t in items) == sorted(ids)
            assert {t["document_size"] for t in items} == {len(big)}
        decided = world.call("POST", f"/api/v1/tariffs/{ids[0]}/verify", FM_A)
        assert decided.status_code == 200, decided.text
        assert decided.json()["document_size"] == len(big)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    reads = [s for s in statements if re.search(r"(?<!length\()tariffs\.document\b(?!_)", s)]
    assert reads == []
    # The proof itself is still there for whoever may see it.
    assert world.call("GET", f"/api/v1/tariffs/{ids[1]}/document", FM_A).content == big


def test_m2_tariff_refusals_say_what_is_accepted(world: World) -> None:
    r = upload_tariff(world, DRIVER_A1, document=b"just some text", name="contract.pdf")
    assert r.status_code == 409
    assert r.json()["error"] == "bad_document"
    assert all(word in r.json()["message"] for word in ("PDF", "PNG", "JPEG"))
    big = PDF + b"\x00" * (5 * 1024 * 1024)
    r = upload_tariff(world, DRIVER_A1, document=big)
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
    assert "5 MB" in r.json()["message"]
    r = upload_tariff(world, DRIVER_A1, valid_from="2023-05-01", valid_to="2023-04-01")
    assert (r.status_code, r.json()["error"]) == (409, "invalid_tariff")
    for price in ("0,33", "0", "10", "0.1234567"):
        r = upload_tariff(world, DRIVER_A1, price=price)
        assert (r.status_code, r.json()["error"]) == (422, "invalid_request"), price
        assert "price" in r.json()["message"]
    assert upload_tariff(world, DRIVER_A1).status_code == 201
    r = upload_tariff(world, DRIVER_A1, valid_from="2023-12-01", valid_to="2024-03-31")
    assert r.status_code == 409
    assert r.json()["error"] == "tariff_overlap"
    assert "2023-01-01 to 2023-12-31" in r.json()["message"]
    # Another driver's dates are theirs.
    assert upload_tariff(world, DRIVER_A2).status_code == 201


def test_m2_dynamic_tariff_has_a_price_per_month(world: World) -> None:
    prices = json.dumps({"2023-11": "0.31", "2023-12": "0.295"})
    r = upload_tariff(
        world,
        DRIVER_A1,
        price=None,
        monthly_prices=prices,
        valid_from="2023-11-01",
        valid_to="2023-12-31",
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "dynamic"
    assert r.json()["monthly_prices"] == {"2023-11": "0.31", "2023-12": "0.295"}
    missing = json.dumps({"2024-01": "0.31"})
    r = upload_tariff(
        world,
        DRIVER_A1,
        price=None,
        monthly_prices=missing,
        valid_from="2024-01-01",
        valid_to="2024-02-29",
    )
    assert (r.status_code, r.json()["error"]) == (409, "invalid_tariff")
    assert "missing: 2024-02" in r.json()["message"]
    r = upload_tariff(world, DRIVER_A1, price="0.3", monthly_prices=prices, valid_from="2025-01-01")
    assert (r.status_code, r.json()["error"]) == (409, "invalid_tariff")


def test_m2_fleet_manager_verifies_or_rejects_once_with_reason_audited(world: World) -> None:
    first = upload_tariff(world, DRIVER_A1).json()["id"]
    second = upload_tariff(world, DRIVER_A2).json()["id"]
    r = world.call("POST", f"/api/v1/tariffs/{first}/verify", FM_A)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "verified"
    again = world.call("POST", f"/api/v1/tariffs/{first}/reject", FM_A, json={"reason": "late"})
    assert again.status_code == 409
    assert again.json()["error"] == "already_decided"
    assert world.call("POST", f"/api/v1/tariffs/{second}/reject", FM_A, json={}).status_code == 422
    r = world.call(
        "POST", f"/api/v1/tariffs/{second}/reject", FM_A, json={"reason": "bill is unreadable"}
    )
    assert r.json()["state"] == "rejected"
    assert r.json()["reason"] == "bill is unreadable"
    assert ("tariff.verified", DRIVER_A1, None) in actions(world)
    assert ("tariff.rejected", DRIVER_A2, "bill is unreadable") in actions(world)
    # A rejected tariff does not block new dates.
    assert upload_tariff(world, DRIVER_A2).status_code == 201
    # Another organisation's fleet manager, and another driver, cannot see it.
    for who in (FM_B, DRIVER_A2, DRIVER_B1):
        r = world.call("GET", f"/api/v1/tariffs/{first}/document", who)
        assert r.status_code == 404, who
        assert r.json()["error"] == "unknown_tariff"
    r = world.call("POST", f"/api/v1/tariffs/{first}/verify", FM_B)
    assert (r.status_code, r.json()["error"]) == (404, "unknown_tariff")


# ------------------------------------------------------------------ M3


def exact_amount(lines: list[tuple[int, str]]) -> str:
    """The amount computed apart from the code under test: fractions, half up once."""
    total = sum((Fraction(wh) * Fraction(price) / 1000 for wh, price in lines), Fraction(0))
    cents = total * 100
    rounded = int(cents) + (1 if cents - int(cents) >= Fraction(1, 2) else 0)
    return f"{rounded // 100}.{rounded % 100:02d}"


def test_m3_month_view_deselect_submit_with_one_rounding(world: World) -> None:
    assigned_world(world)
    set_policy(world, FM_A, 2023)
    tariff = verified_tariff(world, DRIVER_A1, FM_A, price="0.3275")
    cable = world.cables[CABLE_A]
    for day, wh in ((2, 7001), (9, 12345), (16, 3333), (23, 999)):
        charge_at(cable, at(2023, 11, day), wh=wh)
    charge_at(cable, at(2023, 12, 1), wh=5000)  # December: not in November's view
    sync(world, DRIVER_A1, CABLE_A)
    view = world.call("GET", "/api/v1/me/months/2023-11", DRIVER_A1).json()
    assert view["over"] is True
    assert view["method"] == "contract"
    assert [s["wh"] for s in view["sessions"]] == [7001, 12345, 3333, 999]
    assert {s["price"] for s in view["sessions"]} == {"0.3275"}
    assert {s["serial"] for s in view["sessions"]} == {CABLE_A}
    assert all(s["receipt_id"] is None for s in view["sessions"])
    # Another driver of the same organisation sees none of them.
    assert world.call("GET", "/api/v1/me/months/2023-11", DRIVER_A2).json()["sessions"] == []
    skipped = view["sessions"][2]["id"]
    r = submit(world, DRIVER_A1, "2023-11", exclude=[skipped])
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["state"] == "submitted"
    assert receipt["total_wh"] == 7001 + 12345 + 999
    expected = exact_amount([(7001, "0.3275"), (12345, "0.3275"), (999, "0.3275")])
    assert receipt["amount"] == str(expected) == "6.66"
    assert receipt["price_source"] == "contract"
    assert receipt["late"] is True  # 2023-12-10 is long past
    assert receipt["supplementary"] is False
    assert {line["price_ref"] for line in receipt["lines"]} == {f"tariff-{tariff}"}
    view = world.call("GET", "/api/v1/me/months/2023-11", DRIVER_A1).json()
    on = {s["id"]: s["receipt_id"] for s in view["sessions"]}
    assert on[skipped] is None
    assert sorted(set(on.values()) - {None}) == [receipt["id"]]
    # The deselected session and any synced later go on a supplementary receipt.
    charge_at(cable, at(2023, 11, 28), wh=4000)
    charge_at(cable, at(2023, 12, 2), wh=1)
    sync(world, DRIVER_A1, CABLE_A)
    r = submit(world, DRIVER_A1, "2023-11")
    assert r.status_code == 201, r.text
    assert r.json()["supplementary"] is True
    assert r.json()["total_wh"] == 3333 + 4000
    # Nothing left: a third submit is refused.
    r = submit(world, DRIVER_A1, "2023-11")
    assert (r.status_code, r.json()["error"]) == (409, "already_on_receipt")
    assert "supplementary" in r.json()["message"]
    # A submitted receipt never changes: its lines and amount are as they were.
    mine = world.call("GET", "/api/v1/me/receipts?month=2023-11", DRIVER_A1).json()["items"]
    first = next(item for item in mine if item["id"] == receipt["id"])
    assert first == receipt


def test_m3_refusals_month_open_no_policy_no_tariff_no_sessions(world: World) -> None:
    assigned_world(world)
    cable = world.cables[CABLE_A]
    now = world.clock()
    this_month = f"{now.year:04d}-{now.month:02d}"
    r = submit(world, DRIVER_A1, "2023-11")
    assert (r.status_code, r.json()["error"]) == (409, "no_policy")
    set_policy(world, FM_A, 2023)
    r = submit(world, DRIVER_A1, "2023-11")
    assert (r.status_code, r.json()["error"]) == (409, "no_sessions")
    charge_at(cable, at(2023, 11, 5), wh=1000)
    charge_at(cable, at(2023, 11, 20), wh=2000)
    charge_at(cable, int((now - dt.timedelta(minutes=5)).timestamp()) - 7200, wh=10)
    sync(world, DRIVER_A1, CABLE_A)
    r = submit(world, DRIVER_A1, this_month)
    assert (r.status_code, r.json()["error"]) == (409, "month_open")
    assert "has not ended" in r.json()["message"]
    # A tariff that covers only part of the month: the refusal names the other days.
    verified_tariff(world, DRIVER_A1, FM_A, valid_from="2023-11-10", valid_to="2023-12-31")
    r = submit(world, DRIVER_A1, "2023-11")
    assert (r.status_code, r.json()["error"]) == (409, "no_tariff")
    assert r.json()["dates"] == ["2023-11-05"]
    assert "2023-11-05" in r.json()["message"]
    view = world.call("GET", "/api/v1/me/months/2023-11", DRIVER_A1).json()
    assert view["missing_price_dates"] == ["2023-11-05"]
    # A pending (unverified) tariff does not count.
    assert (
        upload_tariff(world, DRIVER_A1, valid_from="2023-11-01", valid_to="2023-11-09").status_code
        == 201
    )
    assert submit(world, DRIVER_A1, "2023-11").json()["error"] == "no_tariff"
    ids = [s["id"] for s in view["sessions"]]
    r = submit(world, DRIVER_A1, "2023-11", exclude=ids)
    assert (r.status_code, r.json()["error"]) == (409, "no_sessions")
    assert "excluded every session" in r.json()["message"]
    r = submit(world, DRIVER_A1, "2023-11", exclude=[ids[0] + 1000])
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    assert "not yours" in r.json()["message"]
    r = submit(world, DRIVER_A1, "2023-11", exclude=[ids[0]])
    assert r.status_code == 201, r.text
    assert r.json()["total_wh"] == 2000
    for bad in ("2023-13", "23-11", "2023-1", "0000-01"):
        assert submit(world, DRIVER_A1, bad).status_code == 422
        assert world.call("GET", f"/api/v1/me/months/{bad}", DRIVER_A1).status_code == 422


def test_m3_flat_price_and_the_deadline_make_late(world: World) -> None:
    assigned_world(world)
    set_policy(world, FM_A, 2026, "flat", deadline_day=10)
    cable = world.cables[CABLE_A]
    world.clock.now = dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
    world.tokens.clear()
    charge_at(cable, at(2026, 1, 5), wh=10_001)
    charge_at(cable, at(2026, 1, 6), wh=5_003)
    sync(world, DRIVER_A1, CABLE_A)
    # On the deadline day (Berlin) it is on time; a second after, late.
    world.clock.now = dt.datetime(2026, 2, 10, 22, 59, 59, tzinfo=dt.UTC)
    r = submit(world, DRIVER_A1, "2026-01", exclude=[])
    assert r.status_code == 201, r.text
    assert r.json()["late"] is False
    assert r.json()["price_source"] == "flat"
    assert r.json()["amount"] == (exact_amount([(10_001, "0.34"), (5_003, "0.34")]))
    assert r.json()["lines"][0]["price_ref"] == "flat-2026"
    charge_at(cable, at(2026, 1, 30), wh=1)
    sync(world, DRIVER_A1, CABLE_A)
    world.clock.now = dt.datetime(2026, 2, 10, 23, 0, 0, tzinfo=dt.UTC)
    r = submit(world, DRIVER_A1, "2026-01")
    assert r.json()["late"] is True
    assert r.json()["amount"] == "0.00"


# ------------------------------------------------------------------ M4


def test_m4_fleet_manager_lists_approves_rejects_once_audited(world: World) -> None:
    ids = billing_world(world)
    listed = world.call("GET", "/api/v1/receipts?month=2023-11", FM_A).json()["items"]
    assert [r["id"] for r in listed] == [ids["receipt_a"]]
    assert listed[0]["driver_email"] == DRIVER_A1
    assert listed[0]["late"] is True
    assert world.call("GET", "/api/v1/receipts?month=2023-10", FM_A).json()["items"] == []
    a, b = ids["receipt_a"], ids["receipt_b"]
    r = world.call("POST", f"/api/v1/receipts/{a}/approve", FM_A)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved"
    for path, body in (("approve", None), ("reject", {"reason": "no"})):
        r = world.call("POST", f"/api/v1/receipts/{a}/{path}", FM_A, json=body)
        assert (r.status_code, r.json()["error"]) == (409, "already_decided")
    # Another organisation's receipt is unknown to this fleet manager.
    r = world.call("POST", f"/api/v1/receipts/{b}/approve", FM_A)
    assert (r.status_code, r.json()["error"]) == (404, "unknown_receipt")
    r = world.call("POST", f"/api/v1/receipts/{b}/reject", FM_B, json={"reason": "away"})
    assert r.json()["state"] == "rejected"
    assert r.json()["reason"] == "away"
    # A rejected receipt frees its sessions: the driver submits them again.
    with world.session() as db:
        lines = db.scalars(select(ReceiptLine).where(ReceiptLine.receipt_id == b)).all()
        assert lines
        assert all(line.rejected for line in lines)
    r = submit(world, DRIVER_B1, "2023-11")
    assert r.status_code == 201, r.text
    assert r.json()["supplementary"] is False
    assert ("receipt.approved", DRIVER_A1, None) in actions(world)
    assert ("receipt.rejected", DRIVER_B1, "away") in actions(world)


def test_m4_support_reads_receipts_only_with_a_reason_audited(world: World) -> None:
    ids = billing_world(world)
    r = world.call("GET", "/api/v1/receipts?month=2023-11", SUPPORT)
    assert r.json()["error"] == "reason_required"
    r = world.call("GET", "/api/v1/receipts?month=2023-11&reason=ticket 42", SUPPORT)
    assert r.status_code == 200
    assert sorted(x["id"] for x in r.json()["items"]) == sorted(
        [ids["receipt_a"], ids["receipt_b"]]
    )
    assert ("support.receipts_read", "2023-11", "ticket 42") in actions(world)
    r = world.call("POST", f"/api/v1/receipts/{ids['receipt_a']}/approve", SUPPORT)
    assert r.status_code == 403
    for who in (DRIVER_A1, DRIVER_B1):
        assert world.call("GET", "/api/v1/receipts?month=2023-11", who).status_code == 403
    mine = world.call("GET", "/api/v1/me/receipts", DRIVER_A1).json()["items"]
    assert [x["id"] for x in mine] == [ids["receipt_a"]]
    assert world.call("GET", "/api/v1/me/receipts", DRIVER_A2).json()["items"] == []


def test_m2_pending_tariffs_per_driver_are_capped(world: World) -> None:
    """Each pending tariff may carry a 5 MB proof: a driver may not pile them up."""
    for i in range(MAX_PENDING_TARIFFS):
        day = f"2023-{i + 1:02d}"
        r = upload_tariff(world, DRIVER_A1, valid_from=f"{day}-01", valid_to=f"{day}-28")
        assert r.status_code == 201, r.text
    r = upload_tariff(world, DRIVER_A1, valid_from="2024-01-01", valid_to="2024-01-31")
    assert (r.status_code, r.json()["error"]) == (409, "too_many_pending_tariffs")
    assert "fleet manager" in r.json()["message"]
    # Another driver is not affected, and a decision frees a place.
    assert upload_tariff(world, DRIVER_A2).status_code == 201
    first = world.call("GET", "/api/v1/me/tariffs", DRIVER_A1).json()["items"][0]["id"]
    assert world.call("POST", f"/api/v1/tariffs/{first}/verify", FM_A).status_code == 200
    r = upload_tariff(world, DRIVER_A1, valid_from="2024-01-01", valid_to="2024-01-31")
    assert r.status_code == 201, r.text

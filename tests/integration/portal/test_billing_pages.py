"""M1, M2, M4: the fleet manager's policy, tariff and receipt pages, through HTTP."""

from __future__ import annotations

import re

import httpx

from . import seed
from .conftest import csrf_of, sign_in
from .test_driver_area import ANNA, PDF_PROOF, anna_can_bill_2026, api_token


def anna_submits_october(client: httpx.Client) -> int:
    anna_can_bill_2026(client)
    r = client.post(
        "/api/v1/me/receipts", json={"month": "2026-10"}, headers=api_token(client, ANNA)
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_m1_policy_form_saves_the_years_method_and_deadline(client: httpx.Client) -> None:
    sign_in(client, seed.FM_A)
    page = client.get("/billing/policy/2027")
    assert page.status_code == 200
    bad = client.post(
        "/billing/policy/2027",
        data={"csrf_token": csrf_of(page.text), "method": "flat", "deadline_day": "31"},
    )
    assert bad.status_code == 422
    assert "1 bis 28" in bad.text
    # M7: the billing address is a receipt mail's To header: one plain address only.
    injected = client.post(
        "/billing/policy/2027",
        data={
            "csrf_token": csrf_of(page.text),
            "method": "flat",
            "deadline_day": "12",
            "recipient_email": "payroll@a.example\r\nBcc: spy@evil.example",
        },
    )
    assert injected.status_code == 422
    assert "eine E-Mail-Adresse" in injected.text
    done = client.post(
        "/billing/policy/2027",
        data={"csrf_token": csrf_of(page.text), "method": "flat", "deadline_day": "12"},
    )
    assert done.status_code == 303
    fm = api_token(client, seed.FM_A)
    policy = client.get("/api/v1/billing/policy/2027", headers=fm).json()
    assert (policy["method"], policy["deadline_day"]) == ("flat", 12)
    # Organisation B's manager does not see A's year.
    other = client.get("/api/v1/billing/policy/2027", headers=api_token(client, seed.FM_B))
    assert other.status_code == 404 or other.json().get("method") != "flat"


def test_m2_tariff_page_shows_the_proof_and_rejects_only_with_a_reason(
    client: httpx.Client,
) -> None:
    r = client.post(
        "/api/v1/me/tariffs",
        headers=api_token(client, ANNA),
        data={"valid_from": "2026-01-01", "valid_to": "2026-12-31", "price": "0.31"},
        files={"document": ("contract.pdf", PDF_PROOF, "application/octet-stream")},
    )
    assert r.status_code == 201, r.text
    tariff = r.json()["id"]
    sign_in(client, seed.FM_A)
    page = client.get("/billing/tariffs")
    assert ANNA in page.text
    document = client.get(f"/billing/tariffs/{tariff}/document")
    assert document.status_code == 200
    assert document.content == PDF_PROOF
    token = csrf_of(page.text)
    refused = client.post(
        f"/billing/tariffs/{tariff}", data={"csrf_token": token, "action": "reject"}
    )
    assert refused.status_code == 422
    done = client.post(
        f"/billing/tariffs/{tariff}",
        data={"csrf_token": token, "action": "reject", "reason": "Beleg unleserlich"},
    )
    assert done.status_code == 303
    mine = client.get("/api/v1/me/tariffs", headers=api_token(client, ANNA)).json()["items"]
    assert (mine[0]["state"], mine[0]["reason"]) == ("rejected", "Beleg unleserlich")
    # Another organisation's manager cannot open the proof.
    client.cookies.clear()
    sign_in(client, seed.FM_B)
    assert client.get(f"/billing/tariffs/{tariff}/document").status_code == 404


def test_m4_receipts_page_lists_the_month_and_approves(client: httpx.Client) -> None:
    receipt = anna_submits_october(client)
    sign_in(client, seed.FM_A)
    page = client.get("/billing/receipts?month=2026-10")
    assert page.status_code == 200
    assert "Anna" in page.text
    assert f"/billing/receipts/{receipt}/pdf" in page.text
    done = client.post(
        f"/billing/receipts/{receipt}",
        data={"csrf_token": csrf_of(page.text), "action": "approve", "month": "2026-10"},
    )
    assert done.status_code == 303
    mine = client.get("/api/v1/me/receipts", headers=api_token(client, ANNA)).json()["items"]
    assert mine[0]["state"] == "approved"
    again = client.post(
        f"/billing/receipts/{receipt}",
        data={"csrf_token": csrf_of(page.text), "action": "approve", "month": "2026-10"},
    )
    assert again.status_code == 409
    pdf = client.get(f"/billing/receipts/{receipt}/pdf")
    assert pdf.content.startswith(b"%PDF-")
    # Organisation B's manager sees no receipt of A.
    client.cookies.clear()
    sign_in(client, seed.FM_B)
    other = client.get("/billing/receipts?month=2026-10")
    assert not re.search(rf"/billing/receipts/{receipt}\b", other.text)
    assert client.get(f"/billing/receipts/{receipt}/pdf").status_code == 404

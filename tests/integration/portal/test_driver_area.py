"""M8: drivers sign in to the portal and work on their own pages (month view, receipts, PDF)."""

from __future__ import annotations

import re

import httpx

from . import seed
from .conftest import csrf_of, sign_in

PDF_PROOF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
ANNA = seed.DRIVERS_A[0][1]
BEN = seed.DRIVERS_A[1][1]


def api_token(client: httpx.Client, email: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"email": email, "password": seed.PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def anna_can_bill_2026(client: httpx.Client) -> None:
    """Her fleet manager's 2026 policy (contract price) and her verified tariff of 0.30."""
    fm = api_token(client, seed.FM_A)
    r = client.put("/api/v1/billing/policy/2026", json={"method": "contract"}, headers=fm)
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/me/tariffs",
        headers=api_token(client, ANNA),
        data={"valid_from": "2026-01-01", "valid_to": "2026-12-31", "price": "0.30"},
        files={"document": ("contract.pdf", PDF_PROOF, "application/octet-stream")},
    )
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/tariffs/{r.json()['id']}/verify", headers=fm)
    assert r.status_code == 200, r.text


def test_m8_driver_signs_in_and_lands_on_their_own_page(client: httpx.Client) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={"email": ANNA, "password": seed.PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    home = client.get("/me")
    assert home.status_code == 200
    assert "CBL-00001001" in home.text  # her cable
    assert "CBL-00001002" not in home.text  # Ben's
    # The fleet pages send a driver home; they show no fleet data.
    overview = client.get("/")
    assert overview.status_code == 303
    assert overview.headers["location"] == "/me"
    assert client.get("/cables").status_code in (303, 403, 404)


def test_m8_fleet_manager_has_no_driver_area(client: httpx.Client) -> None:
    sign_in(client, seed.FM_A)
    assert client.get("/me").status_code == 404
    assert client.get("/me/months/2026-10").status_code == 404


def test_m3_m8_month_view_deselect_preview_submit_and_pdf(client: httpx.Client) -> None:
    anna_can_bill_2026(client)
    sign_in(client, ANNA)
    month = client.get("/me/months/2026-10")
    assert month.status_code == 200
    ids = re.findall(r'name="session" value="(\d+)" checked', month.text)
    assert len(ids) >= 3
    token = csrf_of(month.text)
    keep = ids[1:]  # the first one was charged away from home
    preview = client.post(
        "/me/months/2026-10",
        data={"csrf_token": token, "session": keep, "action": "preview"},
    )
    assert preview.status_code == 200
    assert f"{len(keep)} Ladevorgänge ausgewählt" in preview.text
    assert f'value="{ids[0]}">' in preview.text  # shown, unticked
    total = re.search(r"<strong>([\d,]+) €</strong>", preview.text)
    assert total is not None
    # Without the CSRF token nothing is submitted.
    refused = client.post("/me/months/2026-10", data={"session": keep, "action": "submit"})
    assert refused.status_code == 403
    done = client.post(
        "/me/months/2026-10",
        data={"csrf_token": token, "session": keep, "action": "submit"},
    )
    assert done.status_code == 303, done.text
    home = client.get(done.headers["location"])
    assert "Ihre Quittung wurde eingereicht" in home.text
    receipt_id = re.search(r'href="/me/receipts/(\d+)/pdf"', home.text)
    assert receipt_id is not None
    # The amount previewed is the amount (Babel: a no-break space before the €).
    assert f"{total.group(1)} €" in home.text.replace("\xa0", " ")
    pdf = client.get(f"/me/receipts/{receipt_id.group(1)}/pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    # The sessions are on the receipt now: the month view says so.
    again = client.get("/me/months/2026-10")
    assert f"Quittung {receipt_id.group(1)}" in again.text
    # Ben sees neither Anna's receipt nor her PDF.
    client.cookies.clear()
    sign_in(client, BEN)
    assert client.get(f"/me/receipts/{receipt_id.group(1)}/pdf").status_code == 404
    assert f"/me/receipts/{receipt_id.group(1)}/pdf" not in client.get("/me").text

"""R1/M8 authorisation matrix, the portal's half: every page of the driver's area (``/me``)
and of the reimbursement pages (``/billing``) x every kind of visitor.

``domain/policy.py`` is the table for ``/api/v1``; the portal's pages are guarded by
``DriverCtx`` and ``FleetCtx`` (``portal/web.py``), and ``AUDIENCE`` below is their
table. The routes come from the app's route table: a new ``/me`` or ``/billing`` page
without a row here fails. Every object in a URL belongs to Anna (organisation A), so:

* a page for drivers is Anna's; Ben (a driver of the same organisation) gets 404 for
  her objects, and on his own pages finds nothing of hers (M8: a driver never sees
  another driver's data); fleet managers and support get the 404 page;
* a fleet page is organisation A's; the fleet manager of B gets 404 for A's objects
  and none of A's data on B's lists; drivers are sent home to ``/me``, support to
  its console;
* nobody signed in is sent to sign-in, for every page and every method.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from cablepin.cloud import Settings, create_app

from . import seed
from .conftest import csrf_of, sign_in
from .server import serving
from .test_driver_area import ANNA, BEN, PDF_PROOF, anna_can_bill_2026, api_token

DRIVER, FLEET = "driver", "fleet"
AUDIENCE: dict[tuple[str, str], str] = {
    ("GET", "/me"): DRIVER,
    ("GET", "/me/months/{month}"): DRIVER,
    ("POST", "/me/months/{month}"): DRIVER,
    ("GET", "/me/tariffs"): DRIVER,
    ("POST", "/me/tariffs"): DRIVER,
    ("GET", "/me/receipts/{receipt_id}/pdf"): DRIVER,
    ("GET", "/me/tariffs/{tariff_id}/document"): DRIVER,
    ("GET", "/me/export"): DRIVER,
    ("GET", "/me/bank"): DRIVER,
    ("POST", "/me/bank"): DRIVER,
    ("GET", "/billing/policy/{year}"): FLEET,
    ("POST", "/billing/policy/{year}"): FLEET,
    ("GET", "/billing/tariffs"): FLEET,
    ("GET", "/billing/tariffs/{tariff_id}/document"): FLEET,
    ("POST", "/billing/tariffs/{tariff_id}"): FLEET,
    ("GET", "/billing/receipts"): FLEET,
    ("POST", "/billing/receipts/{receipt_id}"): FLEET,
    ("GET", "/billing/receipts/{receipt_id}/pdf"): FLEET,
    ("GET", "/billing/payouts"): FLEET,
    ("POST", "/billing/payouts/{month}/transfer"): FLEET,
    ("GET", "/billing/payouts/{month}/payroll.csv"): FLEET,
    ("GET", "/billing/payment-runs/{run_id}/sepa.xml"): FLEET,
}
# What each POST sends besides the CSRF token (a harmless, valid action).
FORMS: dict[str, dict[str, str]] = {
    "/me/months/{month}": {"action": "preview"},
    "/me/tariffs": {"price": "0.31", "valid_from": "2027-01-01", "valid_to": "2027-12-31"},
    "/billing/policy/{year}": {"method": "contract", "deadline_day": "10"},
    "/billing/tariffs/{tariff_id}": {"action": "verify"},
    "/billing/receipts/{receipt_id}": {"action": "approve", "month": "2026-10"},
    "/me/bank": {"iban": "DE89 3704 0044 0532 0130 00"},
}
# Visitor -> (e-mail, kind): whose session the request carries.
VISITORS: dict[str, tuple[str | None, str | None]] = {
    "anonymous": (None, None),
    "anna": (ANNA, DRIVER),
    "ben (same organisation)": (BEN, DRIVER),
    "fleet manager A": (seed.FM_A, FLEET),
    "fleet manager B": (seed.FM_B, FLEET),
    "support": (seed.SUPPORT, "support"),
}
OWNERS = {"anna", "fleet manager A"}
ANNAS_CABLE = "CBL-00001001"
# A page each visitor may open, to read its session's CSRF token.
HOME = {DRIVER: "/me", FLEET: "/billing/tariffs", "support": "/support"}


@dataclass
class Anna:
    """Anna's things in organisation A, and what of them must not leak."""

    receipt_id: int
    tariff_id: int
    run_id: int
    secrets: tuple[str, ...]


@pytest.fixture
def portal(fleet: seed.Fleet) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    app = create_app(Settings(db=fleet.db_url, keys=fleet.keys_dir), clock=lambda: fleet.now)
    with serving(app) as url:
        pages = sorted(
            (method, context.path)
            for context in iter_route_contexts(app.routes)
            if isinstance(context.original_route, APIRoute)
            and (context.path == "/me" or context.path.startswith(("/me/", "/billing/")))
            for method in context.original_route.methods or ()
        )
        yield url, pages


def annas_things(url: str) -> Anna:
    """Her tariff (verified) and her October receipt, made through the API."""
    with httpx.Client(base_url=url) as api:
        anna_can_bill_2026(api)
        anna = api_token(api, ANNA)
        tariffs = api.get("/api/v1/me/tariffs", headers=anna).json()["items"]
        sessions = api.get("/api/v1/me/months/2026-10", headers=anna).json()["sessions"]
        receipt = api.post(
            "/api/v1/me/receipts",
            json={"month": "2026-10", "exclude": [sessions[0]["id"]]},
            headers=anna,
        )
        assert receipt.status_code == 201, receipt.text
        # Ben's own tariff and one of organisation B's, so their lists are not empty.
        for email in (BEN, seed.DRIVER_B[1]):
            r = api.post(
                "/api/v1/me/tariffs",
                headers=api_token(api, email),
                data={"valid_from": "2026-01-01", "valid_to": "2026-12-31", "price": "0.29"},
                files={"document": ("proof.pdf", PDF_PROOF, "application/pdf")},
            )
            assert r.status_code == 201, r.text
        # Approved and paid by a transfer of organisation A (M4): a payment run of hers.
        fm = api_token(api, seed.FM_A)
        receipt_id = int(receipt.json()["id"])
        steps = [
            api.post(f"/api/v1/receipts/{receipt_id}/approve", headers=fm),
            api.put("/api/v1/me/bank", json={"iban": "DE02120300000000202051"}, headers=anna),
            api.put(
                "/api/v1/billing/policy/2026",
                json={
                    "method": "contract",
                    "debtor_name": "A",
                    "debtor_iban": "DE75512108001245126199",
                },
                headers=fm,
            ),
        ]
        assert all(r.status_code == 200 for r in steps), [r.text for r in steps]
        run = api.get("/api/v1/billing/2026-10/sepa.xml", headers=fm)
        assert run.status_code == 200, run.text
    return Anna(
        receipt_id=receipt_id,
        tariff_id=int(tariffs[0]["id"]),
        run_id=int(run.headers["x-payment-run"]),
        secrets=(
            ANNA,
            seed.DRIVERS_A[0][0],  # her name
            ANNAS_CABLE,
            f"/receipts/{receipt_id}/",
            *(f'value="{s["id"]}"' for s in sessions),
        ),
    )


def concrete(path: str, anna: Anna) -> str:
    return (
        path.replace("{month}", "2026-10")
        .replace("{year}", "2026")
        .replace("{receipt_id}", str(anna.receipt_id))
        .replace("{tariff_id}", str(anna.tariff_id))
        .replace("{run_id}", str(anna.run_id))
    )


def test_r1_m8_every_driver_and_billing_page_has_an_audience(
    portal: tuple[str, list[tuple[str, str]]],
) -> None:
    _url, pages = portal
    assert len(pages) >= len(AUDIENCE)
    missing = [page for page in pages if page not in AUDIENCE]
    assert missing == [], f"add these pages to AUDIENCE (who may open them): {missing}"


def test_r1_m8_portal_authorisation_matrix(portal: tuple[str, list[tuple[str, str]]]) -> None:
    url, pages = portal
    anna = annas_things(url)
    # The same pages do show her to their owners, so the leak check below can find her.
    with httpx.Client(base_url=url) as client:
        sign_in(client, ANNA)
        assert ANNAS_CABLE in client.get("/me/months/2026-10").text
        assert f"/me/receipts/{anna.receipt_id}/pdf" in client.get("/me").text
        client.cookies.clear()
        sign_in(client, seed.FM_A)
        assert seed.DRIVERS_A[0][0] in client.get("/billing/receipts?month=2026-10").text
        assert ANNA in client.get("/billing/tariffs").text
    problems: list[str] = []
    for visitor, (email, kind) in VISITORS.items():
        with httpx.Client(base_url=url, follow_redirects=False) as client:
            token = ""
            if email is not None and kind is not None:
                sign_in(client, email)
                token = csrf_of(client.get(HOME[kind]).text)
            for method, path in pages:
                audience = AUDIENCE[(method, path)]
                target = concrete(path, anna)
                if method == "POST":
                    form = {"csrf_token": token, **FORMS.get(path, {})}
                    r = client.post(target, data=form)
                else:
                    r = client.get(target)
                where = f"{method} {target} as {visitor}: {r.status_code}"
                location = r.headers.get("location", "")
                has_object = any(k in path for k in ("{receipt_id}", "{tariff_id}", "{run_id}"))
                if r.status_code >= 500:
                    problems.append(f"server error: {where}")
                elif email is None:
                    if r.status_code != 303 or not location.startswith("/signin"):
                        problems.append(f"anonymous not sent to sign-in: {where} {location}")
                elif audience == DRIVER and kind != DRIVER:
                    if r.status_code != 404:
                        problems.append(f"driver page not hidden (404): {where}")
                elif audience == FLEET and kind != FLEET:
                    home = "/me" if kind == DRIVER else "/support"
                    if (r.status_code, location) != (303, home):
                        problems.append(f"not sent to {home}: {where} {location}")
                elif visitor not in OWNERS and has_object:
                    if r.status_code != 404:
                        problems.append(f"Anna's object not hidden (404): {where}")
                elif r.status_code in (401, 403, 404) or location.startswith("/signin"):
                    problems.append(f"allowed visitor refused: {where} {location}")
                elif visitor not in OWNERS:
                    leaked = [s for s in anna.secrets if s in r.text]
                    if leaked:
                        problems.append(f"Anna's data shown: {where}: {leaked}")
    assert problems == []

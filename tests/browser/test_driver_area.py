"""M3, M8 in a real browser at phone width: the driver's month view and receipt (390 px).

Anna (organisation A) gets a 2026 policy and a verified tariff through the API,
then works in the portal on a 390 px wide screen: she unticks a session,
previews, submits and finds the receipt with its PDF. Screenshots go to
build/screenshots/ (``make screenshots`` writes them to docs/ instead).
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, expect

from integration.portal import seed
from integration.portal.test_driver_area import ANNA, PDF_PROOF

from .conftest import Portal, shot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def no_sideways_scrolling(page: object) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= PHONE["width"], f"the page is {width} px wide on a 390 px screen"


def anna_can_bill(portal: Portal) -> None:
    with httpx.Client(base_url=portal.url) as api:

        def token(email: str) -> dict[str, str]:
            r = api.post("/api/v1/auth/login", json={"email": email, "password": seed.PASSWORD})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['token']}"}

        fm = token(seed.FM_A)
        r = api.put("/api/v1/billing/policy/2026", json={"method": "contract"}, headers=fm)
        assert r.status_code == 200, r.text
        r = api.post(
            "/api/v1/me/tariffs",
            headers=token(ANNA),
            data={"valid_from": "2026-01-01", "valid_to": "2026-12-31", "price": "0.3275"},
            files={"document": ("contract.pdf", PDF_PROOF, "application/octet-stream")},
        )
        assert r.status_code == 201, r.text
        r = api.post(f"/api/v1/tariffs/{r.json()['id']}/verify", headers=fm)
        assert r.status_code == 200, r.text


def test_m3_m8_month_view_and_receipt_on_a_phone(browser: Browser, portal: Portal) -> None:
    anna_can_bill(portal)
    context = browser.new_context(
        base_url=portal.url, viewport=PHONE, is_mobile=True, locale="de-DE"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, ANNA)
    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Mein Laden")
    no_sideways_scrolling(page)

    page.get_by_role("link", name="Ladevorgänge im Oktober 2026").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Oktober 2026")
    boxes = page.get_by_role("checkbox")
    count = boxes.count()
    assert count >= 3
    boxes.first.uncheck()
    page.get_by_role("button", name="Vorschau").click()
    expect(page.locator(".total")).to_contain_text(f"{count - 1} Ladevorgänge ausgewählt")
    expect(page.get_by_role("checkbox").first).not_to_be_checked()
    no_sideways_scrolling(page)
    shot(page, "phone-month-view")

    page.get_by_role("button", name="Beleg einreichen").click()
    expect(page.get_by_role("status").first).to_contain_text("Ihr Beleg wurde eingereicht")
    receipt = page.locator("section", has=page.get_by_role("heading", name="Meine Belege"))
    expect(receipt).to_contain_text("Oktober 2026")
    no_sideways_scrolling(page)
    shot(page, "phone-receipt")
    with page.expect_download() as download:
        receipt.get_by_role("link", name="PDF herunterladen").first.click()
    assert download.value.suggested_filename.startswith("receipt-2026-10-")
    context.close()

"""The support console's search and the overview's PIN tiles, as users read them (issue 13)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from integration.portal import seed

from .conftest import Portal, sign_in

pytestmark = pytest.mark.browser


def _search(page: Page, text: str) -> None:
    page.get_by_label("Seriennummer", exact=True).fill(text)
    page.get_by_role("button", name="Anzeigen").click()


def test_p6_support_search_by_a_short_serial_as_the_hint_shows(page: Page) -> None:
    """The hint's shape, "CBL-0001": CBL- and the cable's number without its leading zeros.

    (The hint's own example, CBL-00000001, is searched over HTTP in
    tests/integration/portal/test_portal_http.py, on a fleet that has that cable.)
    """
    sign_in(page, seed.SUPPORT)
    expect(page.locator("#q-hint")).to_contain_text("CBL-0001")
    rows = page.locator("table tbody tr")
    for short in ("CBL-1004", "cbl-1004", "1004", "0001004"):
        _search(page, short)
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("CBL-00001004")
        expect(page.get_by_role("table")).to_contain_text("1 Treffer")


def test_p6_support_search_counts_what_it_lists_across_organisations(page: Page) -> None:
    sign_in(page, seed.SUPPORT)
    rows = page.locator("table tbody tr")
    _search(page, "CBL-0000")  # Musterstadt's twelve cables and the other organisation's one
    expect(rows).to_have_count(13)
    expect(page.locator("table caption")).to_have_text("13 Treffer")
    _search(page, "CBL-0000100")  # CBL-00001001 to CBL-00001009
    expect(rows).to_have_count(9)
    expect(page.locator("table caption")).to_have_text("9 Treffer")


def test_p6_r1_support_search_without_a_hit_says_it_searches_serials_only(page: Page) -> None:
    """Support finds cables by serial only (a name would tell who drives for whom)."""
    sign_in(page, seed.SUPPORT)
    expect(page.locator("#q-hint")).to_contain_text("nur über die Seriennummer")
    _search(page, "ben")
    expect(page.locator("table tbody tr")).to_have_count(0)
    status = page.get_by_role("status")
    expect(status).to_contain_text("Kein Kabel mit dieser Seriennummer")
    _search(page, "CBL-00009999")
    expect(status).to_contain_text("Kein Kabel mit dieser Seriennummer")


def test_p6_overview_tells_unknown_pins_apart_from_pin_0000(page: Page, portal: Portal) -> None:
    sign_in(page, seed.FM_A)
    # 12 cables: Ben's and Clara's reported PIN 0000, Anna's and David's a PIN of
    # their own, and 8 never connected, so nobody knows their PIN yet.
    expect(page.get_by_role("link", name=re.compile("noch mit PIN 0000"))).to_contain_text("2")
    unknown = page.get_by_role("link", name=re.compile("PIN unbekannt"))
    expect(unknown).to_contain_text("8")
    unknown.click()
    expect(page).to_have_url(re.compile(r"filter=pin_unknown"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(8)
    expect(page.get_by_label("Filter")).to_have_value("pin_unknown")
    for i in range(8):
        expect(rows.nth(i)).to_contain_text("unbekannt")


def test_month_fields_carry_no_placeholder(page: Page) -> None:
    """The HTML standard allows no placeholder on type=month (the validator's error)."""
    sign_in(page, seed.FM_A)
    page.goto("/drivers")
    page.get_by_role("link", name="Anna Schmidt").click()
    months = page.locator("input[type=month]")
    expect(months).to_have_count(2)
    for i in range(2):
        assert months.nth(i).get_attribute("placeholder") is None

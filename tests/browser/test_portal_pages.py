"""Every portal page, in both languages, at desktop and phone width (U2, issue 13).

Each page is checked by axe-core (the accessibility rules, from the npm
registry, pinned in package-lock.json and injected with Playwright): any
violation fails. At 390 px nothing may stick out to the right: the document
does not scroll sideways and no table cell, button or field is cut off
inside a scrolling box.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from integration.portal import seed
from integration.portal.test_driver_area import PDF_PROOF

from .conftest import ROOT, Portal, shot, sign_in

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# The pages with receipts are scanned with a receipt of this module's own (Clara's for
# 2026-10), whichever other browser tests ran before: Anna's is test_driver_area's.
CLARA = seed.DRIVERS_A[2]
RECEIPT_MONTH = "2026-10"

# Everything right of this edge is cut off on a phone (half a pixel of rounding).
OVERFLOW_JS = """(width) => {
    const edge = width + 0.5;
    const doc = document.documentElement.scrollWidth;
    const cut = [];
    const watched = 'main th, main td, main button, main input:not([type=hidden]), '
        + 'main select, main a, main p, header *, footer *';
    for (const e of document.querySelectorAll(watched)) {
        const r = e.getBoundingClientRect();
        if (r.width > 0 && r.right > edge) {
            const text = (e.textContent || e.value || '').trim().slice(0, 40);
            cut.push(`${e.tagName.toLowerCase()} "${text}" ends at ${Math.round(r.right)}px`);
        }
    }
    return {doc, inner: window.innerWidth, cut};
}"""


@pytest.fixture(scope="module")
def clara_has_a_receipt(portal: Portal) -> None:
    """A submitted receipt (and a verified tariff) for Clara, through the API."""
    with httpx.Client(base_url=portal.url, timeout=None) as api:

        def token(email: str) -> dict[str, str]:
            r = api.post("/api/v1/auth/login", json={"email": email, "password": seed.PASSWORD})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['token']}"}

        fm, clara = token(seed.FM_A), token(CLARA[1])
        r = api.put("/api/v1/billing/policy/2026", json={"method": "contract"}, headers=fm)
        assert r.status_code == 200, r.text
        r = api.post(
            "/api/v1/me/tariffs",
            headers=clara,
            data={"valid_from": "2026-01-01", "valid_to": "2026-12-31", "price": "0.3110"},
            files={"document": ("contract.pdf", PDF_PROOF, "application/octet-stream")},
        )
        assert r.status_code == 201, r.text
        r = api.post(f"/api/v1/tariffs/{r.json()['id']}/verify", headers=fm)
        assert r.status_code == 200, r.text
        r = api.post("/api/v1/me/receipts", json={"month": RECEIPT_MONTH}, headers=clara)
        assert r.status_code == 201, r.text


def _axe_source() -> str:
    if not AXE.exists():
        pytest.fail(
            f"{AXE} is missing: the browser tests need axe-core from the npm registry. "
            "Run `make test` (it installs it with scripts/install-axe.sh)."
        )
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=_axe_source())
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:3])
        for v in result["violations"]
    ]


class Checker:
    """Visits pages and collects what is wrong with each (all pages, then one assert)."""

    def __init__(self, page: Page, phone: bool, lang: str) -> None:
        self.page = page
        self.phone = phone
        self.lang = lang
        self.problems: list[str] = []
        self.seen: list[str] = []

    def check(self, label: str) -> None:
        page = self.page
        page.wait_for_load_state()
        expect(page.locator("html")).to_have_attribute("lang", self.lang)
        where = f"{label} [{self.lang}, {'390 px' if self.phone else '1280 px'}] {page.url}"
        self.seen.append(where)
        self.problems += [f"{where}: {v}" for v in axe_violations(page)]
        if self.phone:
            width = PHONE["width"]
            m = page.evaluate(OVERFLOW_JS, width)
            # A phone's browser zooms out to fit a page wider than the screen, so
            # both the layout viewport and the document are held to the 390 px.
            if max(m["doc"], m["inner"]) > width:
                self.problems.append(
                    f"{where}: scrolls sideways (document {m['doc']} px, "
                    f"viewport {m['inner']} px > {width} px)"
                )
            self.problems += [f"{where}: cut off: {c}" for c in m["cut"][:5]]

    def visit(self, url: str, label: str | None = None) -> None:
        self.page.goto(url)
        self.check(label or url)


def _context(browser: Browser, portal: Portal, phone: bool) -> BrowserContext:
    context = browser.new_context(
        base_url=portal.url,
        viewport=PHONE if phone else DESKTOP,
        is_mobile=phone,
        has_touch=phone,
        locale="de-DE",
        bypass_csp=True,  # axe-core is injected as an inline script
    )
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def open_context(browser: Browser, portal: Portal) -> Iterator[Callable[[bool], Page]]:
    contexts: list[BrowserContext] = []

    def make(phone: bool) -> Page:
        context = _context(browser, portal, phone)
        contexts.append(context)
        return context.new_page()

    yield make
    for c in contexts:
        c.close()


def _in_language(page: Page, lang: str, start: str) -> None:
    """Choose the language with the header's button (stored for a signed-in user)."""
    page.goto(start)
    button = page.locator(f"form.lang button[value='{lang}']")
    if button.count():
        button.click()
        page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def _fleet_pages(c: Checker, portal: Portal) -> None:
    a = portal.fleet.serials_a
    c.visit("/", "overview")
    c.visit("/cables", "cable list")
    c.visit("/cables?filter=default_pin", "cable list, filtered")
    c.visit("/cables?q=nobody-at-all", "cable list, no hit")
    c.visit(f"/cables/{a[0]}", "cable with driver")
    c.visit(f"/cables/{a[8]}", "cable in the pool")
    c.visit(f"/cables/{a[9]}/handover?to=pool", "handover confirmation")
    c.visit("/drivers", "drivers")
    anna = c.page.get_by_role("link", name="Anna Schmidt").get_attribute("href")
    assert anna is not None
    c.visit(anna, "driver")
    c.visit(f"{anna}/erase", "erase a driver, confirmation (D2)")
    c.visit("/audit", "audit log")
    c.visit("/audit?support=1", "audit log, support only")
    c.visit("/cables/CBL-99999999", "not found")
    c.visit("/billing/policy/2026", "billing policy")
    c.visit("/billing/tariffs", "tariffs")
    c.visit(f"/billing/receipts?month={RECEIPT_MONTH}", "receipts of a month")
    expect(c.page.locator("main table")).to_contain_text(CLARA[0])  # a row was scanned
    c.visit("/billing/payouts?month=2026-10", "money out of a month")


def _receipt_holder_pages(c: Checker) -> None:
    c.visit("/me", "driver's home with a receipt")
    # The month as people read it, in the page's language ("Oktober 2026" / "October 2026").
    expect(c.page.locator("main")).to_contain_text(re.compile(r"(Oktober|October) 2026"))
    c.visit(f"/me/months/{RECEIPT_MONTH}", "driver's month view, on a receipt")


def _driver_pages(c: Checker) -> None:
    c.visit("/me", "driver's home")
    c.visit("/me/months/2026-10", "driver's month view")
    c.visit("/me/months/2026-11", "driver's month view, month still open")
    c.visit("/me/tariffs", "driver's tariff upload")
    form = c.page.locator("form[action='/me/tariffs']")
    form.locator("#price").fill("0,31")
    form.locator("#valid_from").fill("2030-01-01")
    form.locator("#valid_to").fill("2030-12-31")
    proof = {"name": "contract.pdf", "mimeType": "application/pdf", "buffer": b"not a PDF"}
    form.locator("#document").set_input_files(proof)
    form.locator("button[type=submit]").click()
    c.check("driver's tariff upload, refused with what to do")
    c.visit("/me/bank", "driver's bank details")


def _support_pages(c: Checker, portal: Portal) -> None:
    serial = portal.fleet.serials_a[2]
    c.visit("/support", "support console")
    c.visit(f"/support?q={serial}", "support search by serial")
    c.visit("/support?q=musterstadt", "support search by driver")
    c.visit("/support?q=nobody-at-all", "support search, no hit")
    c.visit(f"/support/cables/{serial}", "support cable")
    c.visit("/support/mail", "support: outgoing e-mail")
    c.visit("/audit", "support audit log")


def _signed_out_pages(c: Checker, invite_url: str, lang: str) -> None:
    c.visit("/signin", "sign-in")
    c.page.locator("main input[type=email]").fill(seed.FM_B)
    c.page.locator("main input[type=password]").fill("not the password")
    c.page.get_by_role("button", name="Anmelden" if lang == "de" else "Sign in").click()
    c.check("sign-in refused")
    c.visit("/invite/not-a-real-token", "invitation, invalid")
    c.visit(invite_url, "invitation")


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.usefixtures("clara_has_a_receipt")
def test_u2_every_page_passes_axe_and_fits_a_phone(
    open_context: Callable[[bool], Page], portal: Portal, lang: str, phone: bool
) -> None:
    page = open_context(phone)
    # An invitation of its own, for the signed-out invitation page.
    sign_in(page, seed.FM_A)
    page.goto("/drivers")
    page.get_by_label("Name", exact=True).fill(f"Ida Prüfer {lang} {phone}")
    page.get_by_label("E-Mail-Adresse").fill(f"ida-{lang}-{int(phone)}@musterstadt.example")
    page.get_by_role("button", name="Einladung erstellen").click()
    invite_url = page.locator("#invite-link").input_value()
    checks: list[Checker] = []
    try:
        _in_language(page, lang, "/")
        c = Checker(page, phone, lang)
        checks.append(c)
        _fleet_pages(c, portal)
    finally:
        _in_language(page, "de", "/")  # the fleet manager's choice is stored: put it back

    support = open_context(phone)
    sign_in(support, seed.SUPPORT)
    try:
        _in_language(support, lang, "/support")
        c = Checker(support, phone, lang)
        checks.append(c)
        _support_pages(c, portal)
    finally:
        _in_language(support, "de", "/support")

    driver = open_context(phone)
    sign_in(driver, seed.DRIVERS_A[0][1])
    try:
        _in_language(driver, lang, "/me")
        c = Checker(driver, phone, lang)
        checks.append(c)
        _driver_pages(c)
    finally:
        _in_language(driver, "de", "/me")

    holder = open_context(phone)
    sign_in(holder, CLARA[1])
    try:
        _in_language(holder, lang, "/me")
        c = Checker(holder, phone, lang)
        checks.append(c)
        _receipt_holder_pages(c)
    finally:
        _in_language(holder, "de", "/me")

    visitor = open_context(phone)
    _in_language(visitor, lang, "/signin")
    c = Checker(visitor, phone, lang)
    checks.append(c)
    _signed_out_pages(c, invite_url, lang)
    visitor.locator("#password").fill("a long password 1")
    visitor.locator("#password2").fill("a long password 1")
    visitor.get_by_role("button", name=re.compile("Passwort speichern|Save password")).click()
    c.check("invitation accepted")

    problems = [p for c in checks for p in c.problems]
    seen = sum(len(c.seen) for c in checks)
    assert seen >= 25
    assert not problems, f"{len(problems)} problems on {seen} pages:\n" + "\n".join(problems)


def test_u2_phone_tables_show_every_column_as_cards(
    open_context: Callable[[bool], Page], portal: Portal
) -> None:
    """At 390 px a cable row shows serial, driver, PIN and last sync, each labelled.

    (An empty status cell is left out of the card.)
    """
    page = open_context(True)
    sign_in(page, seed.FM_A)
    page.goto("/cables?filter=default_pin")
    row = page.locator("table tbody tr", has_text="Ben Müller")
    for label in ("Fahrer", "PIN", "Letzte Synchronisierung"):
        cell = row.locator(f"td[data-label='{label}']")
        expect(cell).to_be_visible()
        box = cell.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"]
    expect(row.locator("td[data-label='PIN']")).to_contain_text("0000")
    shot(page, "phone-cables")
    page.goto("/audit")
    first = page.locator("table tbody tr").first
    expect(first).to_be_visible()
    box = first.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= PHONE["width"]
    page.evaluate("document.querySelector('table').scrollIntoView()")
    shot(page, "phone-audit", full_page=False)


def test_screenshots_of_a_test_run_go_to_an_ignored_folder() -> None:
    """`make test` leaves the tree unchanged: screenshots go where git ignores them."""
    import os
    import subprocess

    from .conftest import SCREENSHOTS

    if os.environ.get("CABLEPIN_SCREENSHOTS"):
        pytest.skip("`make screenshots` writes the documentation pictures on purpose")
    probe = SCREENSHOTS / "probe.png"
    ignored = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", str(probe)],
        check=False,
    )
    assert ignored.returncode == 0, f"{SCREENSHOTS} is not ignored by git"
    assert Path(SCREENSHOTS).is_relative_to(ROOT / "build")

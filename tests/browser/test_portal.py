"""The fleet portal and the support console in a real browser (chromium, headless).

The tests share one server and database; each uses its own cables so the
order does not matter. German is the default (U1), so the tests click the
German labels a fleet manager sees.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from integration.portal import seed

from .conftest import Portal, shot, sign_in

pytestmark = pytest.mark.browser


def test_r1_p6_sign_in_shows_the_fleet_overview(page: Page, portal: Portal) -> None:
    page.goto("/cables")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fcables"))
    expect(page.get_by_role("status")).to_contain_text("Bitte melden Sie sich an")
    sign_in(page, seed.FM_A, goto=False)
    # Back on the page that was asked for, then the overview.
    expect(page).to_have_url(re.compile(r"/cables$"))
    page.get_by_role("link", name="Übersicht").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Flottenübersicht")
    tile = page.get_by_role("link", name=re.compile("noch mit PIN 0000"))
    expect(tile).to_contain_text("2")
    expect(page.get_by_role("link", name=re.compile("Kabel insgesamt"))).to_contain_text("12")
    shot(page, "overview")


def test_r1_wrong_password_keeps_the_address_and_says_what_to_do(page: Page) -> None:
    page.goto("/signin")
    page.get_by_label("E-Mail-Adresse").fill(seed.FM_B)
    page.get_by_label("Passwort").fill("not the password")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_contain_text("Prüfen Sie beides")
    expect(page.get_by_label("E-Mail-Adresse")).to_have_value(seed.FM_B)


def test_p6_filter_and_search_cables(page: Page) -> None:
    sign_in(page, seed.FM_A)
    page.get_by_role("link", name=re.compile("noch mit PIN 0000")).click()
    expect(page).to_have_url(re.compile(r"filter=default_pin"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("table")).to_contain_text("Ben Müller")
    expect(page.get_by_role("table")).to_contain_text("Clara Weber")
    # Server-side search by driver, combined with another filter from the select.
    page.get_by_label("Filter").select_option(label="Alle")
    page.get_by_label("Seriennummer oder Fahrer").fill("david")
    page.get_by_role("button", name="Anzeigen").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("CBL-00001004")
    page.get_by_label("Seriennummer oder Fahrer").fill("")
    page.get_by_label("Filter").select_option("unassigned")
    page.get_by_role("button", name="Anzeigen").click()
    expect(rows).to_have_count(8)
    page.get_by_role("link", name="Filter zurücksetzen").click()
    shot(page, "cables")


def test_p8_allow_a_pin_reset_then_revoke_it(page: Page, portal: Portal) -> None:
    serial = portal.fleet.serials_a[0]  # Anna's cable
    sign_in(page, seed.FM_A)
    page.goto(f"/cables/{serial}")
    page.get_by_label("Gültig für (Tage)").fill("3")
    page.get_by_role("button", name="PIN-Zurücksetzung erlauben").click()
    expect(page.get_by_role("status")).to_contain_text("PIN-Zurücksetzung erlaubt")
    expect(page.locator(".actions-card")).to_contain_text(
        "PIN-Freigabe für anna@musterstadt.example ist offen bis 23.11.2026"
    )
    page.get_by_role("button", name="Freigabe widerrufen").click()
    expect(page.get_by_role("status")).to_contain_text("PIN-Freigabe widerrufen")
    expect(page.get_by_role("button", name="PIN-Zurücksetzung erlauben")).to_be_visible()


def test_h1_h4_start_and_cancel_a_handover_then_see_the_audit(page: Page, portal: Portal) -> None:
    serial = portal.fleet.serials_a[3]  # David's cable, synced a week ago
    sign_in(page, seed.FM_A)
    page.goto(f"/cables/{serial}")
    page.get_by_label("Übergeben an").select_option("clara@musterstadt.example")
    page.get_by_role("button", name="Weiter zur Bestätigung").click()
    # H4: the confirmation shows the last sync and warns about unsynced sessions.
    expect(page.get_by_role("heading", level=1)).to_have_text("Übergabe bestätigen")
    expect(page.locator(".last-sync")).to_contain_text("Letzte Synchronisierung: 12.11.2026")
    expect(page.get_by_role("alert")).to_contain_text("werden beim Zurücksetzen gelöscht")
    shot(page, "handover-confirm")
    page.get_by_role("button", name="Übergabe jetzt starten").click()
    expect(page.get_by_role("status")).to_contain_text("Übergabe gestartet")
    expect(page.locator(".actions-card")).to_contain_text(
        "Übergabe an clara@musterstadt.example ist offen"
    )
    page.get_by_role("button", name="Übergabe abbrechen").click()
    expect(page.get_by_role("status")).to_contain_text("Übergabe abgebrochen")
    expect(page.locator(".facts")).to_contain_text("David Fischer")
    # R2: both steps are in the audit log.
    page.get_by_role("link", name="Protokoll").click()
    page.get_by_label("Kabel oder Fahrer").fill(serial)
    page.get_by_role("button", name="Anzeigen").click()
    table = page.get_by_role("table")
    expect(table).to_contain_text("Übergabe gestartet")
    expect(table).to_contain_text("Übergabe abgebrochen")
    # The filter offers the same words; choosing one narrows the table to it.
    page.get_by_label("Aktion", exact=True).select_option(label="Übergabe abgebrochen")
    page.get_by_role("button", name="Anzeigen").click()
    expect(table).to_contain_text("Übergabe abgebrochen")
    expect(table).not_to_contain_text("Übergabe gestartet")
    shot(page, "audit")


def test_u1_switch_language_and_it_sticks(page: Page) -> None:
    sign_in(page, seed.FM_B)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Flottenübersicht")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fleet overview")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="Cables", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cables")
    # The choice is the user's: after signing out and in again it is still English.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out")
    page.get_by_label("E-mail address").fill(seed.FM_B)
    page.get_by_label("Password").fill(seed.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fleet overview")
    page.get_by_role("button", name="Deutsch").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Flottenübersicht")


@pytest.mark.parametrize(
    ("browser_locale", "lang", "heading", "button"),
    [
        ("en-US", "en", "Sign in", "Sign in"),
        ("de-DE", "de", "Anmelden", "Anmelden"),
        ("fr-FR", "de", "Anmelden", "Anmelden"),  # not offered: German, the default
    ],
)
def test_u1_a_first_visit_speaks_the_browsers_language(
    browser: Browser, portal: Portal, browser_locale: str, lang: str, heading: str, button: str
) -> None:
    context = browser.new_context(base_url=portal.url, locale=browser_locale)
    try:
        first = context.new_page()
        response = first.goto("/signin")
        assert response is not None
        assert response.headers["content-language"] == lang
        assert "Accept-Language" in response.headers["vary"]
        expect(first.locator("html")).to_have_attribute("lang", lang)
        expect(first.get_by_role("heading", level=1)).to_have_text(heading)
        expect(first.get_by_role("button", name=button, exact=True)).to_be_visible()
    finally:
        context.close()


def test_r1_h1_support_reset_needs_a_reason_and_is_audited_for_the_org(
    page: Page, portal: Portal
) -> None:
    serial = portal.fleet.serials_a[2]  # Clara's cable
    sign_in(page, seed.SUPPORT)
    expect(page.locator(".support-banner")).to_contain_text("Support-Modus ist aktiv")
    page.get_by_label("Seriennummer", exact=True).fill(serial)
    page.get_by_role("button", name="Anzeigen").click()
    expect(page.get_by_role("table")).to_contain_text(seed.ORG_A)
    expect(page.get_by_role("table")).not_to_contain_text("Clara")  # serial + organisation
    shot(page, "support-console")
    page.get_by_role("link", name=serial).click()
    # Another organisation's cable: the reason first, audited with the read (R1).
    expect(page.get_by_role("heading", level=1)).to_have_text("Wofür brauchen Sie das?")
    page.get_by_label("Grund (Pflichtfeld)").fill("Ticket 4711: Kabel verkauft")
    page.get_by_role("button", name="Öffnen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(seed.ORG_A)
    reset = page.locator("form[action$='/reset']")
    # No reason: refused with what to do; the tick stays.
    reset.get_by_label("Ich habe verstanden").check()
    reset.get_by_label("Grund (Pflichtfeld)").evaluate("e => e.removeAttribute('required')")
    reset.get_by_role("button", name="Zurücksetzen anstoßen").click()
    expect(page.get_by_role("alert")).to_contain_text("Bitte geben Sie einen Grund an")
    reset = page.locator("form[action$='/reset']")
    expect(reset.get_by_label("Ich habe verstanden")).to_be_checked()
    reset.get_by_label("Grund (Pflichtfeld)").fill("Ticket 4711: Kabel verkauft")
    reset.get_by_role("button", name="Zurücksetzen anstoßen").click()
    expect(page.get_by_role("status")).to_contain_text("Zurücksetzen angestoßen")
    shot(page, "support-cable")
    # The organisation's fleet manager sees the support action and its reason.
    page.get_by_role("button", name="Abmelden").click()
    sign_in(page, seed.FM_A)
    page.goto("/audit?support=1")
    row = page.locator("tr.by-support", has_text="Zurücksetzen angestoßen (Support)")
    expect(row).to_contain_text("Ticket 4711: Kabel verkauft")
    expect(row).to_contain_text(seed.SUPPORT)
    read = page.locator("tr.by-support", has_text="Support hat das Kabel geöffnet").first
    expect(read).to_contain_text("Ticket 4711: Kabel verkauft")


def test_r1_fleet_manager_of_another_org_gets_404(page: Page, portal: Portal) -> None:
    sign_in(page, seed.FM_B)
    response = page.goto(f"/cables/{portal.fleet.serials_a[0]}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Nicht gefunden")
    response = page.goto("/support")
    assert response is not None
    assert response.status == 404


def test_r1_forged_post_without_csrf_token_is_refused(page: Page, portal: Portal) -> None:
    serial = portal.fleet.serials_a[1]
    sign_in(page, seed.FM_A)
    page.goto(f"/cables/{serial}")
    # A form built in the page (the cookie goes along) but without the token.
    page.evaluate(
        """serial => {
            const f = document.createElement('form');
            f.method = 'post'; f.action = `/cables/${serial}/pin-reset`;
            const d = document.createElement('input'); d.name = 'days'; d.value = '7';
            f.appendChild(d); document.body.appendChild(f); f.submit();
        }""",
        serial,
    )
    page.wait_for_url(re.compile(r"/pin-reset$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Formular abgelehnt")
    expect(page.get_by_role("alert")).to_contain_text("Nichts wurde geändert")
    page.goto(f"/cables/{serial}")
    expect(page.get_by_role("button", name="PIN-Zurücksetzung erlauben")).to_be_visible()


def test_s3_driver_page_with_chart_and_csv(page: Page) -> None:
    sign_in(page, seed.FM_A)
    page.get_by_role("link", name="Fahrer", exact=True).click()
    page.get_by_role("link", name="Anna Schmidt").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anna Schmidt")
    expect(page.locator("svg.chart")).to_be_visible()
    shot(page, "driver")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="CSV für die Abrechnung herunterladen").click()
    text = download_info.value.path().read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("Fahrer;E-Mail;Seriennummer")  # German: `;`
    assert len(text.splitlines()) == 1 + 35


def test_r1_reinvite_from_the_driver_page(page: Page) -> None:
    sign_in(page, seed.FM_A)
    page.goto("/drivers")
    page.get_by_label("Name", exact=True).fill("Paula Später")
    page.get_by_label("E-Mail-Adresse").fill("paula@musterstadt.example")
    page.get_by_role("button", name="Einladung erstellen").click()
    first = page.locator("#invite-link").input_value()
    page.get_by_role("link", name="Paula Später").click()
    expect(page.get_by_text("Der aktuelle Einladungslink gilt bis")).to_be_visible()
    page.get_by_role("button", name="Neuen Einladungslink erstellen").click()
    expect(page.get_by_role("status")).to_contain_text("ältere Links gelten nicht mehr")
    second = page.locator("#invite-link").input_value()
    assert "/invite/" in second
    assert second != first


def test_u2_phone_width_cable_page(browser: pytest.FixtureRequest, portal: Portal) -> None:
    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=portal.url,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        locale="de-DE",
    )
    page = context.new_page()
    sign_in(page, seed.FM_A)
    page.goto(f"/cables/{portal.fleet.serials_a[4]}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    # Nothing wider than the screen: the layout reflows instead of scrolling sideways.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    shot(page, "phone-cable")
    context.close()

"""M1-M6, M8: the whole reimbursement chain in a real browser over real processes.

`cablepin serve`, the simulated cable (`cablepin cable run`) and the driver's
app (`cablepin app connect`) run as processes (``e2e.conftest.open_world``);
Debian's chromium drives the portal. The fleet manager works at desktop width,
Anna on a phone (390 px, no sideways scrolling):

policy set -> Anna uploads a tariff with a PDF proof -> the fleet manager
checks the proof and verifies it -> the cable records three sessions in the
previous month (`cable charge --start/--end`) and the app syncs them -> Anna's
month view, one session unticked, preview, submit -> the fleet manager approves
-> the PDF, downloaded in the browser, rendered by pdftoppm and read by
pdftotext (amount, kWh, serial) -> the evidence bundle verified offline by
`cablepin verify-receipt`, and refused after each of: one Wh altered, one
session dropped from the middle, a price changed, a signature from another cable.

Each step is a function over one ``Chain`` (what the story has so far), run in
order by ``STEPS``; a later issue inserts its steps (the mails of M7, the
payroll export and SEPA transfer of M4) after ``approve_receipt`` without
touching the others.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from playwright.sync_api import Browser, Page, expect

from cablepin.cloud.domain.billing import previous_month
from cablepin.cloud.portal.i18n import format_month
from cablepin.demo import Person, run_cli
from cablepin.protocol import pki
from cablepin.protocol.chain import Head, sign_head
from e2e.conftest import ANNA, FLEET, World, open_world, world_template

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PRICE = "0.3275"
# (day of the month, Wh): the middle one was charged away from home and is unticked.
CHARGES = ((5, 7400), (12, 11_111), (19, 3_333))
BILLED_WH, AMOUNT = 10_733, "3.52"  # 10.733 kWh x 0.3275 EUR/kWh = 3.5150... -> 3.52


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Two cables: Anna's, and one whose key forges a signature at the end.
    template = world_template(tmp_path_factory)
    with open_world(tmp_path_factory.mktemp("chain"), template, pool=2) as opened:
        yield opened


@dataclass
class Chain:
    """What the story has so far; each step reads it and adds what it made."""

    world: World
    browser: Browser
    tmp: Path
    tabs: ExitStack
    month: str  # YYYY-MM, the month just over
    serial: str = ""
    other_serial: str = ""
    proof: bytes = b""
    receipt_id: int = 0
    pdf: Path = field(default_factory=Path)
    pages: dict[str, Page] = field(default_factory=dict)

    @property
    def year(self) -> int:
        return int(self.month[:4])

    def tab(self, person: Person) -> Page:
        """``person``'s signed-in browser tab: Anna on a phone, the fleet manager at a desk."""
        if person.email not in self.pages:
            phone = person.role == "driver"
            context = self.browser.new_context(
                base_url=self.world.url,
                viewport=PHONE if phone else DESKTOP,
                is_mobile=phone,
                locale="de-DE",
                accept_downloads=True,
            )
            self.tabs.callback(context.close)
            context.set_default_timeout(15_000)
            page = context.new_page()
            sign_in(page, person.email, person.password)
            self.pages[person.email] = page
        return self.pages[person.email]


def no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide on a 390 px screen"


def flash(page: Page, text: str) -> None:
    expect(page.locator("p.flash")).to_contain_text(text)


def proof_document(path: Path) -> bytes:
    """A real one-page PDF, as a driver would scan their electricity contract."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(text="Stromliefervertrag Anna Driver: 0,3275 EUR/kWh brutto")
    pdf.output(str(path))
    return path.read_bytes()


# ------------------------------------------------------------------ the steps


def set_policy(chain: Chain) -> None:
    """M1: the fleet manager chooses the contract price for the year."""
    page = chain.tab(FLEET)
    page.goto(f"/billing/policy/{chain.year}")
    page.get_by_label("der Vertragspreis des Fahrers").check()
    page.get_by_role("button", name="Speichern").click()
    flash(page, "Abrechnungsregel gespeichert.")
    expect(page.get_by_label("der Vertragspreis des Fahrers")).to_be_checked()


def upload_tariff(chain: Chain) -> None:
    """M2, M8: Anna uploads her tariff with the PDF proof, on her phone."""
    proof = chain.tmp / "vertrag.pdf"
    chain.proof = proof_document(proof)
    page = chain.tab(ANNA)
    page.goto("/me")
    page.get_by_role("link", name="Tarif hochladen").click()
    page.get_by_label("Preis in EUR pro kWh").fill(PRICE.replace(".", ","))
    page.get_by_label("Gültig ab").fill(f"{chain.year}-01-01")
    page.get_by_label("Gültig bis").fill(f"{chain.year}-12-31")
    page.get_by_label("Nachweis (Vertrag oder Rechnung)").set_input_files(str(proof))
    no_sideways_scrolling(page)
    page.get_by_role("button", name="Tarif hochladen").click()
    flash(page, "Ihr Tarif wurde hochgeladen")
    expect(page.locator("main")).to_contain_text("0,3275 €/kWh")
    expect(page.locator("main")).to_contain_text("wartet auf Prüfung")
    no_sideways_scrolling(page)


def verify_tariff(chain: Chain) -> None:
    """M2: the fleet manager opens the proof (the very bytes Anna sent) and verifies it."""
    page = chain.tab(FLEET)
    page.goto("/billing/tariffs")
    card = page.locator("li", has_text=ANNA.email)
    link = card.get_by_role("link", name="Nachweis herunterladen")
    document = page.request.get(str(link.get_attribute("href")))
    assert document.ok, document.status
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"].startswith("attachment;")
    assert document.body() == chain.proof
    card.get_by_role("button", name="Bestätigen").click()
    flash(page, "Entscheidung über den Tarif gespeichert")
    expect(page.locator("li", has_text=ANNA.email)).to_contain_text("geprüft")


def record_and_sync(chain: Chain) -> None:
    """The cable records three sessions last month; Anna's app syncs them (real processes)."""
    world = chain.world
    chain.serial = world.cable(ANNA)
    chain.other_serial = world.pool.pop(0)
    year, month = chain.year, int(chain.month[5:])
    for day, wh in CHARGES:
        start = int(dt.datetime(year, month, day, 18, tzinfo=dt.UTC).timestamp())
        run_cli(
            [
                "cable", "charge", "--state", str(world.layout.cable(chain.serial)),
                "--wh", str(wh), "--start", str(start), "--end", str(start + 5400),
            ],
            env=world.env,
        )  # fmt: skip
    world.login("anna", ANNA)
    synced = world.app("connect", chain.serial, home="anna")
    assert synced.ok, synced
    assert synced.out["synced"] == len(CHARGES)


def submit_receipt(chain: Chain) -> None:
    """M3, M8: Anna's month view on her phone; she unticks the middle session and submits."""
    page = chain.tab(ANNA)
    page.goto("/me")
    shown = format_month(chain.month, "de")  # "Oktober 2026", as people write months
    page.get_by_role("link", name=f"Ladevorgänge im {shown}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(shown)
    boxes = page.get_by_role("checkbox")
    expect(boxes).to_have_count(len(CHARGES))
    sessions = page.locator("ul.sessions li")
    expect(sessions.nth(1)).to_contain_text("11,1 kWh")
    expect(sessions.nth(1)).to_contain_text(chain.serial)
    boxes.nth(1).uncheck()
    page.get_by_role("button", name="Vorschau").click()
    total = page.locator(".total")
    expect(total).to_contain_text("2 Ladevorgänge ausgewählt")
    expect(total).to_contain_text("3,52 €")
    expect(page.get_by_role("checkbox").nth(1)).not_to_be_checked()
    no_sideways_scrolling(page)
    page.get_by_role("button", name="Beleg einreichen").click()
    flash(page, "Ihr Beleg wurde eingereicht")
    receipts = page.locator("section", has=page.get_by_role("heading", name="Meine Belege"))
    expect(receipts).to_contain_text(shown)
    expect(receipts).to_contain_text("eingereicht")
    expect(receipts).to_contain_text("3,52")
    no_sideways_scrolling(page)
    href = receipts.get_by_role("link", name="PDF herunterladen").first.get_attribute("href")
    found = re.fullmatch(r"/me/receipts/(\d+)/pdf", str(href))
    assert found is not None, href
    chain.receipt_id = int(found.group(1))


def approve_receipt(chain: Chain) -> None:
    """M4: the fleet manager approves it on the month's receipts page."""
    page = chain.tab(FLEET)
    page.goto(f"/billing/receipts?month={chain.month}")
    row = page.locator("tr", has_text=ANNA.name)
    expect(row).to_contain_text("eingereicht")
    expect(row).to_contain_text("3,52")
    row.get_by_role("button", name="Genehmigen").click()
    flash(page, "Entscheidung über den Beleg gespeichert")
    expect(page.locator("tr", has_text=ANNA.name)).to_contain_text("genehmigt")


def read_pdf(chain: Chain) -> None:
    """M5: Anna downloads the PDF; poppler renders it and reads amount, kWh and serial."""
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run `make pdf-tools` (scripts/install-pdf-tools.sh)")
    page = chain.tab(ANNA)
    page.goto("/me")
    with page.expect_download() as download:
        page.get_by_role("link", name="PDF herunterladen").first.click()
    assert download.value.suggested_filename == f"receipt-{chain.month}-{chain.receipt_id}.pdf"
    chain.pdf = chain.tmp / "receipt.pdf"
    download.value.save_as(chain.pdf)
    assert chain.pdf.read_bytes().startswith(b"%PDF-")
    first_page = ["-f", "1", "-l", "1"]
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", *first_page, str(chain.pdf), str(chain.tmp / "p")],
        check=True,
        timeout=60,
    )  # fmt: skip
    png = next(chain.tmp.glob("p*.png")).read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert png.startswith(b"\x89PNG")
    assert (width > 300, height > 400) == (True, True), (width, height)
    text = subprocess.run(
        ["pdftotext", "-layout", str(chain.pdf), "-"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.replace("\xa0", " ")  # fmt: skip
    assert "3,52 €" in text
    assert "10,733 kWh" in text
    assert "7,400 kWh" in text
    assert "3,333 kWh" in text
    assert "11,111 kWh" not in text  # the unticked session is not billed
    assert chain.serial in text


def check_evidence(chain: Chain) -> None:
    """M6: the bundle verifies with the factory CA alone, and each alteration is named."""
    world = chain.world
    bundle: dict[str, Any] = world.as_(FLEET).request(
        "GET", f"/api/v1/receipts/{chain.receipt_id}/evidence"
    )
    genuine = world.verify_receipt(bundle, chain.tmp / "genuine.json")
    assert genuine.ok, genuine
    assert genuine.out == {
        "ok": True,
        "receipt_id": chain.receipt_id,
        "total_wh": BILLED_WH,
        "amount": AMOUNT,
        "lines": 2,
        "serials": [chain.serial],
    }
    for name, alter, named in (
        ("one-wh-altered", one_wh_altered, "do not match the head the cable signed"),
        ("session-dropped", session_dropped, "dropped"),
        ("price-changed", price_changed, "but its source"),
        ("other-cable", lambda b: signed_by_another_cable(chain, b), "signature does not match"),
    ):
        forged = copy.deepcopy(bundle)
        alter(forged)
        refused = world.verify_receipt(forged, chain.tmp / f"{name}.json")
        assert not refused.ok, f"{name} was accepted"
        assert named in refused.out["message"], (name, refused.out)


# ------------------------------------------------------------------ forgeries


def one_wh_altered(bundle: dict[str, Any]) -> None:
    """The first billed session gets one Wh more, everywhere the bundle says it."""
    line = bundle["lines"][0]
    line["wh"] += 1
    for record in bundle["cables"][0]["chains"][0]["records"]:
        if record[0] == line["seq"]:
            record[3] += 1  # wh
            record[5] += 1  # the meter at the end
    bundle["receipt"]["total_wh"] += 1


def session_dropped(bundle: dict[str, Any]) -> None:
    """The unticked session between the two billed ones disappears from the chain."""
    records = bundle["cables"][0]["chains"][0]["records"]
    billed = {line["seq"] for line in bundle["lines"]}
    middle = [i for i, record in enumerate(records) if record[0] not in billed]
    assert middle
    assert 0 < middle[0] < len(records) - 1
    del records[middle[0]]


def price_changed(bundle: dict[str, Any]) -> None:
    """A line priced higher than its source, with an amount that adds up to it."""
    for line in bundle["lines"]:
        line["price"] = "0.35"
    bundle["receipt"]["amount"] = "3.76"  # 10.733 kWh x 0.35 = 3.75655


def signed_by_another_cable(chain: Chain, bundle: dict[str, Any]) -> None:
    """The same head, signed by another genuine cable of the factory."""
    key = pki.load_private_key(
        (chain.world.layout.cable(chain.other_serial) / "device.key").read_bytes()
    )
    evidence = bundle["cables"][0]
    cable_chain = evidence["chains"][0]
    head = Head(
        serial=evidence["serial"],
        epoch=cable_chain["epoch"],
        seq=cable_chain["head"]["seq"],
        hash=base64.b64decode(cable_chain["head"]["hash"]),
    )
    cable_chain["head_sig"] = base64.b64encode(sign_head(head, key)).decode()


STEPS: tuple[Callable[[Chain], None], ...] = (
    set_policy,
    upload_tariff,
    verify_tariff,
    record_and_sync,
    submit_receipt,
    approve_receipt,
    read_pdf,
    check_evidence,
)


def test_m1_to_m6_m8_reimbursement_chain_in_the_browser(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    month = previous_month(dt.datetime.now(dt.UTC))
    with ExitStack() as tabs:
        chain = Chain(world=world, browser=browser, tmp=tmp_path, tabs=tabs, month=month)
        for step in STEPS:
            step(chain)

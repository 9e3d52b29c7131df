"""Browser tier: Debian's chromium driven by Playwright against a real uvicorn server.

One server per test session on 127.0.0.1 (a free port, bound before uvicorn
starts, so no race) over a fresh SQLite database seeded through the services.
Each test gets its own browser context (own cookies). Screenshots of the main
pages go to ``build/screenshots/`` (ignored by git), so a test run leaves the
tree as it was; ``make screenshots`` sets ``CABLEPIN_SCREENSHOTS=docs/screenshots``
to refresh the pictures the documentation shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from cablepin.cloud import Settings, create_app
from integration.portal import seed
from integration.portal.server import serving

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / os.environ.get("CABLEPIN_SCREENSHOTS", "build/screenshots")


@dataclass(frozen=True)
class Portal:
    url: str
    fleet: seed.Fleet


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    fleet = seed.build(tmp_path_factory.mktemp("browser-fleet"))
    app = create_app(Settings(db=fleet.db_url, keys=fleet.keys_dir), clock=lambda: fleet.now)
    with serving(app) as url:
        # The port is known only now; links in pages and mails use the public URL (a deployment
        # sets CABLEPIN_PUBLIC_URL), never the request's Host header.
        app.state.settings.public_url = url
        yield Portal(url=url, fleet=fleet)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium. "
            "Run `make test` (it installs chromium via scripts/install-chromium.sh)."
        )
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    b = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser, portal: Portal) -> Iterator[Page]:
    context = browser.new_context(
        base_url=portal.url, viewport={"width": 1280, "height": 900}, locale="de-DE"
    )
    context.set_default_timeout(10_000)
    p = context.new_page()
    yield p
    context.close()


def sign_in(page: Page, email: str, password: str = seed.PASSWORD, *, goto: bool = True) -> None:
    if goto:
        page.goto("/signin")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_load_state()


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

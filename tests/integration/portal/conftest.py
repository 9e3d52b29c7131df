"""The real cloud app (``create_app``) on a fresh copy of the seeded SQLite fleet per test."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cablepin.cloud import Settings, create_app

from . import seed
from .server import serving


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> seed.Fleet:
    return seed.build(tmp_path_factory.mktemp("portal-seed"))


@pytest.fixture
def fleet(seeded: seed.Fleet, tmp_path: Path) -> seed.Fleet:
    source = sqlite3.connect(seeded.db_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(tmp_path / "cloud.db")
    source.backup(target)  # consistent even with a WAL file next to the source
    source.close()
    target.close()
    return seed.Fleet(
        db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
        keys_dir=seeded.keys_dir,
        now=seeded.now,
        serials_a=seeded.serials_a,
        serials_b=seeded.serials_b,
        device_keys=seeded.device_keys,
    )


@pytest.fixture
def client(fleet: seed.Fleet) -> Iterator[httpx.Client]:
    """An httpx client against the real app served by uvicorn on a real port."""
    app = create_app(Settings(db=fleet.db_url, keys=fleet.keys_dir), clock=lambda: fleet.now)
    with serving(app) as url, httpx.Client(base_url=url, follow_redirects=False) as c:
        yield c


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(client: httpx.Client, email: str, password: str = seed.PASSWORD) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
    )
    assert response.status_code == 303, response.text


def choose_language(client: httpx.Client, code: str, page: str = "/") -> httpx.Response:
    """Press a language button: a POST with the CSRF token of ``page`` (where the button is)."""
    token = csrf_of(client.get(page).text)
    return client.post("/lang", data={"lang": code, "back": page, "csrf_token": token})

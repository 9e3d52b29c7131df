"""Issue 11, findings 8 and 10 on the portal: the password policy on the invitation page,
invitation links from the public URL only, and the session cookie's lifetime and Secure."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterator

import httpx
import pytest

from cablepin.cloud import Settings, create_app

from . import seed
from .conftest import csrf_of, sign_in
from .server import serving

PUBLIC = "http://fleet.example.com"
INVITE = re.compile(r'value="(https?://[^"]+/invite/[^"]+)"')


@pytest.fixture
def public_client(fleet: seed.Fleet) -> Iterator[httpx.Client]:
    settings = Settings(db=fleet.db_url, keys=fleet.keys_dir, public_url=PUBLIC)
    app = create_app(settings, clock=lambda: fleet.now)
    with serving(app) as url, httpx.Client(base_url=url, follow_redirects=False) as c:
        yield c


def _invite(client: httpx.Client, name: str, email: str, **headers: str) -> str:
    token = csrf_of(client.get("/drivers").text)
    added = client.post(
        "/drivers", data={"csrf_token": token, "name": name, "email": email}, headers=headers
    )
    assert added.status_code == 200, added.text
    match = INVITE.search(added.text)
    assert match, "no invitation link on the page"
    return match.group(1)


def test_invitation_link_comes_from_the_public_url_not_the_host_header(
    public_client: httpx.Client,
) -> None:
    sign_in(public_client, seed.FM_A)
    link = _invite(public_client, "Nina Neu", "nina@musterstadt.example", Host="evil.example")
    assert link.startswith(f"{PUBLIC}/invite/"), link
    assert "evil.example" not in link


def test_session_cookie_has_a_lifetime_and_is_secure_behind_https(client: httpx.Client) -> None:
    """Behind a TLS-terminating proxy on this host (trusted by default), the proxy's
    ``X-Forwarded-Proto: https`` makes the cookie ``Secure``; it lives as long as the session."""
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={"email": seed.FM_A, "password": seed.PASSWORD, "csrf_token": csrf_of(page.text)},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 303
    session = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("cablepin_session=")
    )
    assert "Max-Age=28800" in session  # the session's own 8 hours, not "until the browser closes"
    assert "Secure" in session
    assert "HttpOnly" in session


def test_cookies_are_secure_when_the_public_url_is_https(fleet: seed.Fleet) -> None:
    settings = Settings(db=fleet.db_url, keys=fleet.keys_dir, public_url="https://fleet.example")
    app = create_app(settings, clock=lambda: fleet.now)
    with serving(app) as url:
        page = httpx.get(f"{url}/signin")
    cookies = page.headers.get_list("set-cookie")
    assert cookies
    assert all("Secure" in c for c in cookies), cookies


@pytest.mark.parametrize(
    ("password", "lang", "words"),
    [
        ("aaaaaaaaaaaaaaa", "de", "Liste häufiger oder schon gestohlener Passwörter"),
        ("qwertyuiopasdfghjkl", "en", "list of common or already stolen passwords"),
        ("passwort12", "de", "mindestens 15 Zeichen"),
        ("nina musterstadt", "en", "built from your e-mail address or name"),
    ],
)
def test_invitation_page_refuses_weak_passwords_with_the_reason_in_the_users_language(
    client: httpx.Client, password: str, lang: str, words: str
) -> None:
    sign_in(client, seed.FM_A)
    path = httpx.URL(_invite(client, "Nina Musterstadt", "nina@musterstadt.example")).path
    guest = httpx.Client(base_url=str(client.base_url), cookies={"cablepin_lang": lang})
    page = guest.get(path)
    refused = guest.post(
        path,
        data={"csrf_token": csrf_of(page.text), "password": password, "password2": password},
    )
    assert words in refused.text
    assert "Passwort ist gespeichert" not in refused.text
    assert "password is saved" not in refused.text
    # The link still works for a good password.
    good = guest.post(
        path,
        data={
            "csrf_token": csrf_of(refused.text),
            "password": "lantern orchard whistle",
            "password2": "lantern orchard whistle",
        },
    )
    assert good.status_code == 200
    assert "gespeichert" in good.text or "saved" in good.text


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def test_csv_exports_neutralise_formulas_after_a_separator_and_write_german_numbers(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    """Finding 4: a driver named ``Max;=cmd|' /C calc'!A0;`` became a formula cell in a
    spreadsheet that splits on ``;`` (German Excel). Whichever separator a spreadsheet
    splits on, no piece may start with a formula character; German numbers use a comma
    (issue 10: 4.2 kWh must not read as 4200)."""
    evil = "Max;=cmd|' /C calc'!A0;"
    with sqlite3.connect(fleet.db_url.removeprefix("sqlite:///")) as db:
        anna = db.execute(
            "SELECT id FROM users WHERE email = ?", (seed.DRIVERS_A[0][1],)
        ).fetchone()[0]
        db.execute("UPDATE users SET name = ? WHERE id = ?", (evil, anna))
        first_session = db.execute(
            "SELECT id FROM charging_sessions WHERE driver_id = ? ORDER BY epoch, seq", (anna,)
        ).fetchone()[0]
        # 4.2 kWh: written "4.200" a German spreadsheet reads four thousand two hundred.
        db.execute("UPDATE charging_sessions SET wh = 4200 WHERE id = ?", (first_session,))
    sign_in(client, seed.FM_A)
    exported = client.get(f"/drivers/{anna}/sessions.csv").text.lstrip("\ufeff")
    for line in exported.splitlines():
        for separator in (";", ","):
            for piece in line.split(separator):
                assert not piece.strip(' "').startswith(FORMULA), (separator, line)
    first = next(csv.reader(io.StringIO(exported), delimiter=";"))
    assert len(first) == 10  # German: `;` separates the cells
    row = list(csv.reader(io.StringIO(exported), delimiter=";"))[1]
    assert row[0] == "Max;'=cmd|' /C calc'!A0;"  # the text is all there, shown as text
    assert row[7] == "4,2"  # a decimal comma, no thousands separator

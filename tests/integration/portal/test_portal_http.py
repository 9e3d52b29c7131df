"""The portal over HTTP: httpx against the real app served by uvicorn on a real port."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import sqlite3

import httpx
import pytest

from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.portal import (
    audit_routes,
    auth_routes,
    driver_routes,
    fleet_routes,
    support_routes,
)
from cablepin.cloud.portal.web import PortalRoute
from cablepin.cloud.portal.websession import COOKIE

from . import seed
from .conftest import choose_language, csrf_of, sign_in


def _db(fleet: seed.Fleet) -> sqlite3.Connection:
    return sqlite3.connect(fleet.db_url.removeprefix("sqlite:///"))


def accept_and_log_in(guest: httpx.Client, path: str, page: str, email: str) -> None:
    """The invited driver chooses a password on the invitation page, then the app logs in."""
    done = guest.post(
        path,
        data={
            "csrf_token": csrf_of(page),
            "password": "ein gutes passwort",
            "password2": "ein gutes passwort",
        },
    )
    assert "Passwort ist gespeichert" in done.text
    login = guest.post(
        "/api/v1/auth/login", json={"email": email, "password": "ein gutes passwort"}
    )
    assert login.status_code == 200


def _portal_posts() -> list[str]:
    """Every POST route the portal defines, from its routers' tables."""
    modules = (auth_routes, fleet_routes, driver_routes, audit_routes, support_routes)
    paths = [
        route.path
        for module in modules
        for route in module.router.routes
        if isinstance(route, PortalRoute) and "POST" in (route.methods or ())
    ]
    assert len(paths) >= 10, paths
    assert "/drivers/{driver_id}/invitation" in paths  # the re-invite is walked too
    return paths


# ---------------------------------------------------------------- sign-in and session


def test_r1_sign_in_sets_a_hardened_cookie_stored_hashed(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={"email": seed.FM_A, "password": seed.PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain http in this test
    token = cookie.split(";")[0].split("=", 1)[1]
    rows = [r[0] for r in _db(fleet).execute("SELECT id_hash FROM web_sessions")]
    assert rows == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in rows
    assert client.get("/").status_code == 200


def test_r1_cookie_is_secure_behind_https(client: httpx.Client) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as behind a local TLS proxy.
    page = client.get("/signin", headers={"X-Forwarded-Proto": "https"})
    presession = page.headers["set-cookie"]
    assert "Secure" in presession
    value = presession.split(";")[0]
    response = client.post(
        "/signin",
        headers={"X-Forwarded-Proto": "https", "Cookie": value},
        data={"email": seed.FM_A, "password": seed.PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


def test_r1_u2_failed_sign_ins_are_throttled_by_the_shared_database_throttle(
    client: httpx.Client,
) -> None:
    page = client.get("/signin")
    token = csrf_of(page.text)
    statuses = []
    for _ in range(6):
        response = client.post(
            "/signin", data={"email": seed.FM_B, "password": "wrong", "csrf_token": token}
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    assert "Warten Sie" in response.text
    assert int(response.headers["retry-after"]) > 0
    # The e-mail address typed is still there; the password is not echoed.
    assert f'value="{seed.FM_B}"' in response.text
    # The API's login sees the same throttle (one table for every process).
    api = client.post("/api/v1/auth/login", json={"email": seed.FM_B, "password": seed.PASSWORD})
    assert api.status_code == 429


def test_r1_expired_session_redirects_to_sign_in_with_a_message(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_A)
    fleet.now += dt.timedelta(hours=9)
    response = client.get("/cables?filter=stale")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/signin?")
    assert "expired=1" in location
    page = client.get(location)
    assert "Ihre Sitzung ist abgelaufen" in page.text
    # Signing in again returns to the page that was asked for.
    response = client.post(
        "/signin",
        data={
            "email": seed.FM_A,
            "password": seed.PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": re.search(r'name="next" value="([^"]+)"', page.text).group(1),  # type: ignore[union-attr]
        },
    )
    assert response.headers["location"] == "/cables?filter=stale"


def test_r1_sign_out_ends_the_session_in_the_database(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_A)
    page = client.get("/")
    response = client.post("/signout", data={"csrf_token": csrf_of(page.text)})
    assert response.headers["location"] == "/signin?out=1"
    assert _db(fleet).execute("SELECT count(*) FROM web_sessions").fetchone() == (0,)
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_r1_sign_in_never_redirects_off_site(client: httpx.Client, target: str) -> None:
    page = client.get("/signin", params={"next": target})
    response = client.post(
        "/signin",
        data={
            "email": seed.FM_A,
            "password": seed.PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": target,
        },
    )
    assert response.headers["location"] == "/"


# ---------------------------------------------------------------- CSRF


@pytest.mark.parametrize("who", [seed.FM_A, seed.SUPPORT])
def test_r1_every_portal_post_without_csrf_token_is_refused(
    client: httpx.Client, fleet: seed.Fleet, who: str
) -> None:
    sign_in(client, who)
    before = _db(fleet).execute("SELECT count(*) FROM audit_events").fetchone()
    values = {
        "serial": fleet.serials_a[0],
        "driver_id": "1",
        "token": "x" * 43,
        "code": "en",
    }
    support_only = who == seed.SUPPORT
    for path in _portal_posts():
        if path.startswith("/support") != support_only and not path.startswith(
            ("/signin", "/signout", "/invite")
        ):
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        for data in ({}, {"csrf_token": "forged"}):
            response = client.post(url, data={**data, "reason": "x", "days": "7", "to": "pool"})
            assert response.status_code == 403, (url, response.status_code)
            assert "Nichts wurde geändert" in response.text
    assert _db(fleet).execute("SELECT count(*) FROM audit_events").fetchone() == before


def test_r1_sign_in_form_is_csrf_protected_too(client: httpx.Client) -> None:
    client.get("/signin")
    response = client.post(
        "/signin", data={"email": seed.FM_A, "password": seed.PASSWORD, "csrf_token": "guess"}
    )
    assert response.status_code == 403


# ---------------------------------------------------------------- organisations and roles


def test_r1_fleet_manager_of_another_org_gets_404_everywhere(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_B)
    serial = fleet.serials_a[0]
    token = csrf_of(client.get("/").text)
    for url in [
        f"/cables/{serial}",
        f"/cables/{serial}/handover?to=pool",
        "/cables/CBL-99999999",
        "/support",
        f"/support/cables/{serial}",
    ]:
        assert client.get(url).status_code == 404, url
    for url in [f"/cables/{serial}/pin-reset", f"/cables/{serial}/handover"]:
        response = client.post(url, data={"csrf_token": token, "to": "pool", "days": "7"})
        assert response.status_code == 404, url
    anna = (
        _db(fleet)
        .execute("SELECT id FROM users WHERE email = ?", (seed.DRIVERS_A[0][1],))
        .fetchone()[0]
    )
    assert client.get(f"/drivers/{anna}").status_code == 404
    assert client.get(f"/drivers/{anna}/sessions.csv").status_code == 404
    # Nothing of organisation A leaks into B's lists or audit log.
    assert serial not in client.get("/cables").text
    assert serial not in client.get("/audit").text
    assert serial not in client.get("/audit.csv").text


def test_r1_support_works_in_the_support_console(client: httpx.Client, fleet: seed.Fleet) -> None:
    sign_in(client, seed.SUPPORT)
    assert client.get("/").headers["location"] == "/support"
    page = client.get("/support", params={"q": fleet.serials_b[0]})
    assert seed.ORG_B in page.text
    assert "Support-Modus ist aktiv" in page.text
    page = client.get(f"/support/cables/{fleet.serials_a[1]}", params={"reason": "Ticket 1"})
    assert page.status_code == 200
    assert seed.ORG_A in page.text


def _support_reads(fleet: seed.Fleet) -> list[tuple[str, str | None, str | None, str]]:
    rows = _db(fleet).execute(
        "SELECT e.action, o.name, e.reason, e.details FROM audit_events e "
        "LEFT JOIN organisations o ON o.id = e.org_id "
        "WHERE e.action LIKE 'support.%_read' ORDER BY e.seq"
    )
    return list(rows.fetchall())


def test_r1_support_opens_another_orgs_cable_only_with_a_reason_and_it_is_audited(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    """Red team, finding 7: support read cable pages of any organisation unaudited."""
    serial = fleet.serials_a[0]
    anna_name, anna = seed.DRIVERS_A[0]
    sign_in(client, seed.SUPPORT)
    # The exempt list: found by serial only, showing serial and organisation only.
    found = client.get("/support", params={"q": serial})
    assert serial in found.text
    assert seed.ORG_A in found.text
    assert anna not in found.text
    assert anna_name not in found.text
    # A name or e-mail address finds nothing (no "who drives for whom" across organisations).
    by_driver = client.get("/support", params={"q": anna_name})
    assert by_driver.status_code == 200
    assert serial not in by_driver.text
    assert _support_reads(fleet) == []
    # The cable page: first the reason, nothing of the cable.
    asked = client.get(f"/support/cables/{serial}")
    assert asked.status_code == 200
    assert "Wofür brauchen Sie das?" in asked.text
    assert 'name="reason"' in asked.text
    assert "required" in asked.text
    assert anna not in asked.text
    assert seed.ORG_A not in asked.text
    blank = client.get(f"/support/cables/{serial}", params={"reason": "  "})
    assert "Wofür brauchen Sie das?" in blank.text
    assert anna not in blank.text
    assert _support_reads(fleet) == []
    # With a reason: the page, and the read in organisation A's audit log.
    page = client.get(f"/support/cables/{serial}", params={"reason": "Ticket 4711"})
    assert page.status_code == 200
    assert anna in page.text
    assert seed.ORG_A in page.text
    assert 'name="read_reason" value="Ticket 4711"' in page.text
    [(action, org, reason, _details)] = _support_reads(fleet)
    assert (action, org, reason) == ("support.cable_read", seed.ORG_A, "Ticket 4711")
    # A refused action does not show the page without a reason either.
    token = csrf_of(page.text)
    refused = client.post(
        f"/support/cables/{serial}/pin-reset", data={"csrf_token": token, "reason": " "}
    )
    assert refused.status_code == 200
    assert "Wofür brauchen Sie das?" in refused.text
    assert anna not in refused.text
    # An action keeps the read's reason for the page it returns to.
    done = client.post(
        f"/support/cables/{serial}/pin-reset",
        data={"csrf_token": token, "reason": "Ticket 4712", "read_reason": "Ticket 4711"},
    )
    assert done.status_code == 303
    assert "reason=Ticket+4711" in done.headers["location"]
    # Organisation A's fleet manager reads who looked, when and why.
    client.post("/signout", data={"csrf_token": token})
    sign_in(client, seed.FM_A)
    audit = client.get("/audit", params={"support": "1"}).text
    assert "Support hat das Kabel geöffnet" in audit
    assert "Ticket 4711" in audit


def test_r1_r2_support_reads_the_audit_log_only_with_a_reason_and_it_is_audited(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    """Red team, finding 7: support read every organisation's audit log unaudited."""
    sign_in(client, seed.SUPPORT)
    for path in ("/audit", "/audit.csv"):
        asked = client.get(path, params={"support": "1"})
        assert asked.status_code == 200, path
        assert asked.headers["content-type"].startswith("text/html")
        assert "Wofür brauchen Sie das?" in asked.text
        assert seed.FM_A not in asked.text
        assert 'name="support" value="1"' in asked.text  # the filter survives the question
    assert _support_reads(fleet) == []
    page = client.get("/audit", params={"reason": "Ticket 99"})
    assert page.status_code == 200
    assert seed.FM_A in page.text
    assert seed.FM_B in page.text
    assert 'name="reason" value="Ticket 99"' in page.text  # filters keep the reason
    reads = _support_reads(fleet)
    assert {(a, org, r) for a, org, r, _d in reads} == {
        ("support.audit_read", seed.ORG_A, "Ticket 99"),
        ("support.audit_read", seed.ORG_B, "Ticket 99"),
    }
    csv_text = client.get("/audit.csv", params={"reason": "Ticket 100"}).text
    assert seed.FM_B in csv_text
    assert ("support.audit_read", seed.ORG_B, "Ticket 100") in {
        (a, org, r) for a, org, r, _d in _support_reads(fleet)
    }
    # Organisation B's fleet manager sees that support read its log, and why.
    client.post("/signout", data={"csrf_token": csrf_of(page.text)})
    sign_in(client, seed.FM_B)
    audit = client.get("/audit", params={"support": "1"}).text
    assert "Support hat das Audit-Log gelesen" in audit
    assert "Ticket 99" in audit
    assert "Ticket 100" in audit


# ---------------------------------------------------------------- P7: no PIN anywhere


PIN_FIELD = re.compile(r"<input[^>]*name=\"[^\"]*pin[^\"]*\"", re.IGNORECASE)
FOUR_DIGIT_INPUT = re.compile(r"<input[^>]*(maxlength=\"4\"|pattern=\"[^\"]*\{4\})", re.IGNORECASE)


def _pages(fleet: seed.Fleet, anna: int) -> list[str]:
    serial = fleet.serials_a[0]
    return [
        "/",
        "/cables",
        "/cables?filter=default_pin",
        f"/cables/{serial}",
        f"/cables/{serial}/handover?to=pool",
        "/drivers",
        f"/drivers/{anna}",
        "/audit",
    ]


def test_p7_no_page_asks_for_or_shows_a_pin(client: httpx.Client, fleet: seed.Fleet) -> None:
    anna = (
        _db(fleet)
        .execute("SELECT id FROM users WHERE email = ?", (seed.DRIVERS_A[0][1],))
        .fetchone()[0]
    )
    sign_in(client, seed.FM_A)
    token = csrf_of(client.get("/").text)
    client.post(f"/cables/{fleet.serials_a[0]}/pin-reset", data={"csrf_token": token})
    pages = [client.get(url) for url in _pages(fleet, anna)]
    pages.append(client.get(f"/drivers/{anna}/sessions.csv"))
    pages.append(client.get("/audit.csv"))
    client.post("/signout", data={"csrf_token": token})
    pages.append(client.get("/signin"))
    sign_in(client, seed.SUPPORT)
    pages.append(client.get(f"/support/cables/{fleet.serials_a[0]}", params={"reason": "T 1"}))
    for response in pages:
        assert response.status_code == 200, response.url
        assert not PIN_FIELD.search(response.text), response.url
        assert not FOUR_DIGIT_INPUT.search(response.text), response.url
        passwords = re.findall(r'<input[^>]*type="password"[^>]*>', response.text)
        assert all('name="password' in p for p in passwords), response.url


# ---------------------------------------------------------------- overview, filters, search


def _serials(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/(?:support/)?cables/(CBL-\d{8})">', html)


def test_p6_overview_counts_link_to_their_filtered_lists(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_A)
    page = client.get("/").text
    expected = {
        "": 12,
        "default_pin": 2,
        "pin_unknown": 8,  # never connected: not counted as PIN 0000, not as changed
        "pending_pin": 0,
        "pending_handover": 0,
        "stale": 10,
        "unassigned": 8,
    }
    for which, count in expected.items():
        link = "/cables" + (f"?filter={which}" if which else "")
        assert re.search(rf'<a href="{re.escape(link)}"><span class="num">{count}</span>', page), (
            which
        )
        listed = client.get(link).text
        assert len(_serials(listed)) == count, which
    assert _serials(client.get("/cables?filter=default_pin").text) == fleet.serials_a[1:3]


def test_h4_pending_filters_follow_the_actions(client: httpx.Client, fleet: seed.Fleet) -> None:
    sign_in(client, seed.FM_A)
    token = csrf_of(client.get("/").text)
    client.post(f"/cables/{fleet.serials_a[0]}/pin-reset", data={"csrf_token": token, "days": "7"})
    client.post(f"/cables/{fleet.serials_a[1]}/handover", data={"csrf_token": token, "to": "pool"})
    assert _serials(client.get("/cables?filter=pending_pin").text) == [fleet.serials_a[0]]
    assert _serials(client.get("/cables?filter=pending_handover").text) == [fleet.serials_a[1]]
    assert _serials(client.get("/cables?filter=pending").text) == fleet.serials_a[:2]
    # A permission whose time ran out is no longer pending.
    fleet.now += dt.timedelta(days=8)
    sign_in(client, seed.FM_A)
    assert _serials(client.get("/cables?filter=pending_pin").text) == []


def test_search_by_serial_prefix_digits_or_driver(client: httpx.Client, fleet: seed.Fleet) -> None:
    sign_in(client, seed.FM_A)
    assert _serials(client.get("/cables", params={"q": "cbl-0000101"}).text) == fleet.serials_a[9:]
    assert _serials(client.get("/cables", params={"q": "00001003"}).text) == [fleet.serials_a[2]]
    assert _serials(client.get("/cables", params={"q": "Müller"}).text) == [fleet.serials_a[1]]
    assert _serials(client.get("/cables", params={"q": "clara@"}).text) == [fleet.serials_a[2]]
    assert _serials(client.get("/cables", params={"q": "%"}).text) == []
    # Another organisation's driver is not found by name either.
    assert _serials(client.get("/cables", params={"q": "Eva"}).text) == []


def test_p6_support_search_finds_the_cable_its_hint_names(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    """The hint says "CBL-0001": that is cable number 1, CBL-00000001, not a bad serial."""
    engine = make_engine(fleet.db_url)
    with make_sessionmaker(engine)() as db:
        # A copy of the key map: the session's seeded fleet shares it.
        own = dataclasses.replace(fleet, device_keys=dict(fleet.device_keys))
        seed._register(db, own, "CBL-00000001", seed.ORG_B, fleet.now)
    engine.dispose()
    sign_in(client, seed.SUPPORT)
    hint = re.search(r'id="q-hint">[^<]*?(CBL-\d+)', client.get("/support").text)
    assert hint is not None
    assert hint.group(1) == "CBL-0001"
    for q in (hint.group(1), "cbl-1", "1", "00000001"):
        page = client.get("/support", params={"q": q}).text
        assert _serials(page) == ["CBL-00000001"], q
        assert "1 Treffer" in page, q
    # A prefix of the full number still lists every cable that starts with it.
    assert (
        _serials(client.get("/support", params={"q": "CBL-0000100"}).text) == (fleet.serials_a[:9])
    )


def test_pagination_is_keyset_and_indexed_with_100000_cables(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    db = _db(fleet)
    org = db.execute("SELECT id FROM organisations WHERE name = ?", (seed.ORG_A,)).fetchone()[0]
    db.executemany(
        "INSERT INTO cables (serial, org_id, registered_at, epoch, head_seq, head_hash)"
        " VALUES (?, ?, '2026-01-01 00:00:00', 0, 0, x'00')",
        ((f"CBL-{n:08d}", org) for n in range(10_000_000, 10_100_000)),
    )
    db.commit()
    sign_in(client, seed.FM_A)
    url = "/cables?q=CBL-1"
    seen: list[str] = []
    for _ in range(3):
        page = client.get(url)
        assert "100.000" in page.text or "100000" in page.text
        serials = _serials(page.text)
        assert len(serials) == 50
        seen += serials
        url = re.search(r'href="([^"]+)" rel="next"', page.text).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert seen == [f"CBL-{n:08d}" for n in range(10_000_000, 10_000_150)]
    # The page query walks the (org_id, serial) index from the key; it never sorts or skips.
    plan = " ".join(
        row[-1]
        for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM cables WHERE org_id = ? AND serial >= 'CBL-1' "
            "AND serial < 'CBL-2' AND serial > 'CBL-10050000' ORDER BY serial LIMIT 51",
            (org,),
        )
    )
    assert "USING INDEX" in plan
    assert "TEMP B-TREE" not in plan


# ---------------------------------------------------------------- actions and U2


def test_u2_refusals_keep_what_was_typed(client: httpx.Client, fleet: seed.Fleet) -> None:
    sign_in(client, seed.FM_A)
    token = csrf_of(client.get("/").text)
    response = client.post(
        f"/cables/{fleet.serials_a[0]}/pin-reset",
        data={"csrf_token": token, "days": "99", "reason": "Fahrer hat PIN vergessen"},
    )
    assert response.status_code == 422
    assert "1 bis 30" in response.text
    assert 'value="Fahrer hat PIN vergessen"' in response.text
    response = client.post(
        "/drivers", data={"csrf_token": token, "name": "Neue Fahrerin", "email": "kaputt"}
    )
    assert response.status_code == 422
    assert 'value="Neue Fahrerin"' in response.text
    assert "gültige E-Mail-Adresse" in response.text
    # M7: a name goes into e-mails as one line; a line break or more than the column
    # holds (PostgreSQL refused it with a 500) is refused with what to do.
    for name in ("Neue\r\nBcc: spy@evil.example", "N" * 201):
        response = client.post(
            "/drivers", data={"csrf_token": token, "name": name, "email": "neu@fleet-a.example"}
        )
        assert response.status_code == 422, name
        assert "in einer Zeile" in response.text
    assert "neu@fleet-a.example" not in client.get("/drivers").text
    # A pool cable cannot get a PIN permission: the service refuses, the page explains.
    response = client.post(f"/cables/{fleet.serials_a[6]}/pin-reset", data={"csrf_token": token})
    assert response.status_code == 409
    assert "Weisen Sie zuerst einen Fahrer zu" in response.text


def test_r2_support_action_needs_a_reason_and_shows_in_the_org_audit_csv(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    serial = fleet.serials_a[3]
    sign_in(client, seed.SUPPORT)
    token = csrf_of(client.get("/support").text)
    response = client.post(
        f"/support/cables/{serial}/pin-reset",
        data={"csrf_token": token, "reason": " ", "read_reason": "Ticket 12"},
    )
    assert response.status_code == 422
    assert "Bitte geben Sie einen Grund an" in response.text
    reason = '=HYPERLINK("http://x") Ticket 12'
    response = client.post(
        f"/support/cables/{serial}/pin-reset", data={"csrf_token": token, "reason": reason}
    )
    assert response.status_code == 303
    client.post("/signout", data={"csrf_token": token})
    sign_in(client, seed.FM_A)
    audit = client.get("/audit", params={"support": "1"}).text
    assert "pin_reset.allowed" in audit
    assert seed.SUPPORT in audit
    csv_text = client.get("/audit.csv", params={"target": serial}).text
    line = next(row for row in csv_text.splitlines() if "pin_reset.allowed" in row)
    assert "\"'=HYPERLINK" in line  # a spreadsheet shows the text, it does not run it


def test_r1_invitation_link_sets_a_password_once_and_expires_after_four_weeks(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_A)
    token = csrf_of(client.get("/drivers").text)
    response = client.post(
        "/drivers",
        data={"csrf_token": token, "name": "Nina Neu", "email": "nina@musterstadt.example"},
    )
    assert response.status_code == 200
    link = re.search(r'value="(http://[^"]+/invite/[^"]+)"', response.text).group(1)  # type: ignore[union-attr]
    path = httpx.URL(link).path
    assert "nina@musterstadt.example" in client.get("/drivers").text
    stored = [r[0] for r in _db(fleet).execute("SELECT token_hash FROM invitations")]
    assert path.rsplit("/", 1)[1] not in stored  # only the hash is kept
    guest = httpx.Client(base_url=str(client.base_url))
    page = guest.get(path)
    assert "Nina Neu" in page.text
    short = guest.post(
        path, data={"csrf_token": csrf_of(page.text), "password": "kurz", "password2": "kurz"}
    )
    assert "zu kurz" in short.text
    accept_and_log_in(guest, path, page.text, "nina@musterstadt.example")
    assert "ungültig" in guest.get(path).text  # used once
    # A second invitation, not used for four weeks, stops working.
    second = client.post(
        "/drivers",
        data={"csrf_token": token, "name": "Olaf Alt", "email": "olaf@musterstadt.example"},
    )
    late = httpx.URL(
        re.search(r'value="(http://[^"]+/invite/[^"]+)"', second.text).group(1)  # type: ignore[union-attr]
    ).path
    assert "/invite/" not in client.get("/drivers").text  # the link is shown only once
    fleet.now += dt.timedelta(weeks=4, seconds=1)
    assert "ungültig" in guest.get(late).text


def test_s3_driver_csv_for_reimbursement(client: httpx.Client, fleet: seed.Fleet) -> None:
    anna = (
        _db(fleet)
        .execute("SELECT id FROM users WHERE email = ?", (seed.DRIVERS_A[0][1],))
        .fetchone()[0]
    )
    sign_in(client, seed.FM_A)
    page = client.get(f"/drivers/{anna}")
    assert "<svg" in page.text
    assert 'role="img"' in page.text
    everything = client.get(f"/drivers/{anna}/sessions.csv")
    assert everything.headers["content-type"].startswith("text/csv")
    assert "attachment" in everything.headers["content-disposition"]
    rows = everything.text.lstrip("\ufeff").splitlines()
    assert len(rows) == 1 + 35
    october = client.get(
        f"/drivers/{anna}/sessions.csv", params={"start": "2026-10", "end": "2026-10"}
    )
    # German readers get `;` between cells (their spreadsheet's separator).
    months = {row.split(";")[5][:7] for row in october.text.lstrip("\ufeff").splitlines()[1:]}
    assert months == {"2026-10"}


def test_u1_language_choice_sticks_to_the_user(client: httpx.Client, fleet: seed.Fleet) -> None:
    page = client.get("/signin")
    assert '<html lang="de">' in page.text
    assert choose_language(client, "en", "/signin").status_code == 303
    assert "Sign in" in client.get("/signin").text
    sign_in(client, seed.FM_B)
    assert "Fleet overview" in client.get("/").text
    locale = _db(fleet).execute("SELECT locale FROM users WHERE email = ?", (seed.FM_B,))
    assert locale.fetchone() == ("en",)
    # A new browser (no cookie) gets the user's choice after sign-in.
    other = httpx.Client(base_url=str(client.base_url))
    sign_in(other, seed.FM_B)
    assert "Fleet overview" in other.get("/").text


def test_u1_a_first_visit_speaks_the_browsers_language(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    english = client.get("/signin", headers={"Accept-Language": "en-US,en;q=0.9,de;q=0.8"})
    assert '<html lang="en">' in english.text
    assert ">Sign in</h1>" in english.text
    assert english.headers["content-language"] == "en"
    assert "Accept-Language" in english.headers["vary"]
    # No header, or only languages the portal does not offer: German (U1).
    for header in ({}, {"Accept-Language": "fr-FR,es;q=0.5"}):
        german = httpx.get(f"{client.base_url}/signin", headers=header)
        assert '<html lang="de">' in german.text
        assert german.headers["content-language"] == "de"
        assert "Accept-Language" in german.headers["vary"]
    # Error pages follow the browser too.
    missing = client.get("/no-such-page", headers={"Accept-Language": "en-GB"})
    assert missing.status_code == 404
    assert "Not found" in missing.text
    assert missing.headers["content-language"] == "en"
    # The user's saved choice wins over the browser's (FM B's account says German).
    sign_in(client, seed.FM_B)
    overview = client.get("/", headers={"Accept-Language": "en-US"})
    assert "Flottenübersicht" in overview.text
    assert overview.headers["content-language"] == "de"


def test_u1_the_language_an_invitation_was_read_in_is_the_accounts_first_choice(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_A)
    token = csrf_of(client.get("/drivers").text)
    invited = client.post(
        "/drivers",
        data={"csrf_token": token, "name": "Emma English", "email": "emma@musterstadt.example"},
    )
    link = re.search(r'value="(http://[^"]+/invite/[^"]+)"', invited.text).group(1)  # type: ignore[union-attr]
    path = httpx.URL(link).path
    english = {"Accept-Language": "en-US,en;q=0.9"}
    guest = httpx.Client(base_url=str(client.base_url), headers=english)
    page = guest.get(path)
    assert '<html lang="en">' in page.text
    done = guest.post(
        path,
        data={
            "csrf_token": csrf_of(page.text),
            "password": "ein gutes passwort",
            "password2": "ein gutes passwort",
        },
    )
    assert "Your password is saved" in done.text
    saved = _db(fleet).execute("SELECT locale FROM users WHERE email = 'emma@musterstadt.example'")
    assert saved.fetchone() == ("en",)  # not the account's German default


def test_u1_changing_the_language_is_a_post_with_the_csrf_token(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_B)
    # A link or an image on another site cannot change it: no GET does.
    assert client.get("/lang/en", params={"next": "/"}).status_code == 404
    assert client.get("/lang").status_code == 405
    forged = client.post("/lang", data={"lang": "en", "back": "/"})
    assert forged.status_code == 403
    assert "Formular abgelehnt" in forged.text
    token = csrf_of(client.get("/").text)
    unknown = client.post("/lang", data={"lang": "xx", "back": "/", "csrf_token": token})
    assert unknown.status_code == 400
    assert "Diese Sprache wird nicht angeboten" in unknown.text
    locale = "SELECT locale FROM users WHERE email = ?"
    assert _db(fleet).execute(locale, (seed.FM_B,)).fetchone() == ("de",)
    chosen = client.post("/lang", data={"lang": "en", "back": "/cables", "csrf_token": token})
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/cables"
    assert _db(fleet).execute(locale, (seed.FM_B,)).fetchone() == ("en",)
    # Only same-site addresses to come back to.
    away = client.post("/lang", data={"lang": "de", "back": "//evil.example", "csrf_token": token})
    assert away.headers["location"] == "/"


def test_r2_audit_actions_read_as_words_in_the_table_and_the_filter(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_A)
    page = client.get("/audit")
    assert page.status_code == 200
    # The seed assigned drivers: the code stays the filter's value, people read words.
    assert '<option value="assignment.created">Fahrer zugewiesen</option>' in page.text
    assert ">assignment.created<" not in page.text
    table = page.text.split("<tbody>", 1)[1]
    assert "Fahrer zugewiesen" in table
    assert "assignment.created" not in table
    filtered = client.get("/audit", params={"action": "assignment.created"})
    assert 'value="assignment.created" selected>Fahrer zugewiesen' in filtered.text
    choose_language(client, "en")
    english = client.get("/audit")
    assert '<option value="assignment.created">Driver assigned</option>' in english.text


def test_u1_times_on_pages_say_their_zone(client: httpx.Client, fleet: seed.Fleet) -> None:
    sign_in(client, seed.FM_A)
    serial = fleet.serials_a[0]
    german = client.get(f"/cables/{serial}").text
    assert re.search(r"\d\d\.\d\d\.\d{4} \d\d:\d\d ME(S)?Z", german), "a time with its zone"
    choose_language(client, "en")
    english = client.get(f"/cables/{serial}").text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d CES?T", english), "a time with its zone"


def test_r1_deactivating_a_driver_locks_their_app_out_and_keeps_their_cable(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    anna_email = seed.DRIVERS_A[0][1]
    anna = _db(fleet).execute("SELECT id FROM users WHERE email = ?", (anna_email,)).fetchone()[0]
    app_login = client.post(
        "/api/v1/auth/login", json={"email": anna_email, "password": seed.PASSWORD}
    )
    app_token = app_login.json()["token"]
    sign_in(client, seed.FM_A)
    token = csrf_of(client.get(f"/drivers/{anna}").text)
    unconfirmed = client.post(f"/drivers/{anna}/deactivate", data={"csrf_token": token})
    assert unconfirmed.status_code == 422
    assert "Häkchen" in unconfirmed.text
    done = client.post(f"/drivers/{anna}/deactivate", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 303
    assert "Fahrer deaktiviert" in client.get(done.headers["location"]).text
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {app_token}"})
    assert me.status_code == 401  # the app's token stopped working at once
    assert client.get(f"/cables/{fleet.serials_a[0]}").text.count(anna_email) >= 1


INVITE_LINK = re.compile(r'value="(http://[^"]+/invite/[^"]+)"')


def _invite_path(html: str) -> str:
    match = INVITE_LINK.search(html)
    assert match, "the page shows no invitation link"
    return httpx.URL(match.group(1)).path


def test_r1_reinvite_voids_the_old_link_and_the_new_one_sets_the_password(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_A)
    token = csrf_of(client.get("/drivers").text)
    added = client.post(
        "/drivers",
        data={"csrf_token": token, "name": "Nina Neu", "email": "nina@musterstadt.example"},
    )
    old = _invite_path(added.text)
    nina = (
        _db(fleet)
        .execute("SELECT id FROM users WHERE email = ?", ("nina@musterstadt.example",))
        .fetchone()[0]
    )
    page = client.get(f"/drivers/{nina}")
    assert "Der aktuelle Einladungslink gilt bis 18.12.2026" in page.text
    assert "Neuen Einladungslink erstellen" in page.text
    assert "/invite/" not in page.text  # the link itself is shown only once
    # Four weeks later the first link has run out: the page says so.
    fleet.now += dt.timedelta(weeks=4, seconds=1)
    sign_in(client, seed.FM_A)  # the portal session ran out long ago, too
    page = client.get(f"/drivers/{nina}")
    assert "keinen gültigen Einladungslink" in page.text
    token = csrf_of(page.text)
    # Without the form's token nothing happens.
    forged = client.post(f"/drivers/{nina}/invitation", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    reissued = client.post(f"/drivers/{nina}/invitation", data={"csrf_token": token})
    assert reissued.status_code == 200
    assert "ältere Links gelten nicht mehr" in reissued.text
    new = _invite_path(reissued.text)
    assert new != old
    assert "/invite/" not in client.get(f"/drivers/{nina}").text
    # A third link voids the second, even though it had not expired.
    third = _invite_path(
        client.post(f"/drivers/{nina}/invitation", data={"csrf_token": token}).text
    )
    guest = httpx.Client(base_url=str(client.base_url))
    for void in (old, new):
        assert "ungültig" in guest.get(void).text
    invite_page = guest.get(third)
    assert "Nina Neu" in invite_page.text
    accept_and_log_in(guest, third, invite_page.text, "nina@musterstadt.example")
    actions = [r[0] for r in _db(fleet).execute("SELECT action FROM audit_events ORDER BY seq")]
    assert actions.count("driver.reinvited") == 2
    # Now she is active: no section, and a stray post says why nothing happened.
    assert "Neuen Einladungslink erstellen" not in client.get(f"/drivers/{nina}").text
    refused = client.post(f"/drivers/{nina}/invitation", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "schon ein Passwort festgelegt" in refused.text
    choose_language(client, "en")
    refused = client.post(f"/drivers/{nina}/invitation", data={"csrf_token": token})
    assert "has already chosen a password" in refused.text


def test_r1_a_deactivated_or_foreign_driver_gets_no_new_invitation(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_A)
    token = csrf_of(client.get("/drivers").text)
    client.post(
        "/drivers",
        data={"csrf_token": token, "name": "Olaf Alt", "email": "olaf@musterstadt.example"},
    )
    olaf = (
        _db(fleet)
        .execute("SELECT id FROM users WHERE email = ?", ("olaf@musterstadt.example",))
        .fetchone()[0]
    )
    client.post(f"/drivers/{olaf}/deactivate", data={"csrf_token": token, "confirm": "yes"})
    assert "Neuen Einladungslink erstellen" not in client.get(f"/drivers/{olaf}").text
    refused = client.post(f"/drivers/{olaf}/invitation", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "deaktiviert" in refused.text
    other = httpx.Client(base_url=str(client.base_url))
    sign_in(other, seed.FM_B)
    foreign = other.post(
        f"/drivers/{olaf}/invitation", data={"csrf_token": csrf_of(other.get("/").text)}
    )
    assert foreign.status_code == 404
    actions = [r[0] for r in _db(fleet).execute("SELECT action FROM audit_events")]
    assert "driver.reinvited" not in actions

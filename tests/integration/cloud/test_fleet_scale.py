"""Fleet scale (issue 12, B4): search and keyset paging through HTTP, on SQLite and PostgreSQL.

The drivers list and the sessions API page by key, so every row is on exactly
one page (no duplicates, no gaps) also while rows are added between pages;
driver pickers are a search that offers a few matches, never every driver;
the audit filter offers every action the code writes without reading events.
Speed is measured by ``make bench`` (benchmarks/portal_scale.py), not here.
"""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import insert, select

from cablepin.cloud.models import Cable, ChargingSession, User
from cablepin.cloud.portal.labels import AUDIT_ACTION
from cablepin.cloud.portal.queries import DRIVER_CHOICES, DRIVER_PAGE

from .conftest import CABLE_A, DRIVER_A1, FM_A, FM_B, PASSWORD, World, assigned_world

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
DRIVER_LINK = re.compile(r'<a href="/drivers/([0-9]+)">([^<]+)</a>')
NEXT = re.compile(r'href="([^"]+)" rel="next"')
MANY = 120  # more than two pages of drivers (DRIVER_PAGE each)


def _sign_in(world: World, email: str) -> None:
    page = world.client.get("/signin").text
    match = CSRF.search(page)
    assert match
    r = world.client.post(
        "/signin",
        data={"csrf_token": match.group(1), "email": email, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _add_drivers(world: World, names: list[str], *, active: bool = True) -> None:
    with world.session() as db:
        org_id = db.scalar(select(User.org_id).where(User.email == FM_A))
        db.execute(
            insert(User),
            [
                {
                    "org_id": org_id,
                    "email": name.lower().replace(" ", ".") + "@a.example",
                    "name": name,
                    "role": "driver",
                    "password_hash": None,
                    "active": active,
                    "locale": "de",
                    "created_at": world.clock(),
                }
                for name in names
            ],
        )
        db.commit()


def _driver_rows(page: str) -> list[tuple[int, str]]:
    return [(int(i), html.unescape(name)) for i, name in DRIVER_LINK.findall(page)]


def test_b4_drivers_list_pages_every_driver_exactly_once_while_drivers_are_added(
    world: World,
) -> None:
    _add_drivers(world, [f"Driver {i:03d}" for i in range(MANY)])
    with world.session() as db:
        expected = {
            u.id: u.name
            for u in db.scalars(
                select(User).where(User.role == "driver", User.email.like("%a.ex%"))
            )
        }
    _sign_in(world, FM_A)
    seen: list[tuple[int, str]] = []
    path: str | None = "/drivers"
    pages = 0
    while path is not None:
        r = world.client.get(path)
        assert r.status_code == 200, r.text
        rows = _driver_rows(r.text)
        assert 0 < len(rows) <= DRIVER_PAGE
        seen += rows
        pages += 1
        if pages == 1:
            # Added between pages: one sorts before the cursor, one after it.
            _add_drivers(world, ["Aaron Early", "Zora Late"])
        link = NEXT.search(r.text)
        path = html.unescape(link.group(1)) if link else None
    ids = [i for i, _name in seen]
    assert len(ids) == len(set(ids)), "a driver showed on two pages"
    assert set(expected) <= set(ids), "a driver was skipped"
    names = [name for _i, name in seen]
    assert "Zora Late" in names  # added after the cursor: reached on a later page
    assert names == sorted(names), "pages continue the order (name, e-mail)"
    assert pages == -(-len(ids) // DRIVER_PAGE)


def test_b4_driver_search_finds_the_few_matches(world: World) -> None:
    _add_drivers(world, [f"Driver {i:03d}" for i in range(MANY)])
    _add_drivers(world, ["Driver 0700 Gone"], active=False)
    _sign_in(world, FM_A)
    r = world.client.get("/drivers", params={"q": "driver 07"})
    assert r.status_code == 200
    names = sorted(name for _i, name in _driver_rows(r.text))
    # The list shows deactivated drivers too (marked), the pickers only active ones.
    assert names == sorted([f"Driver {i:03d}" for i in range(70, 80)] + ["Driver 0700 Gone"])
    r = world.client.get("/drivers", params={"q": "nobody-like-this"})
    assert _driver_rows(r.text) == []
    assert "nobody-like-this" in r.text


def _options(page: str, select_id: str) -> list[str]:
    match = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no <select id={select_id}>"
    return [v for v in re.findall(r'<option value="([^"]*)"', match.group(1)) if v]


def test_b4_cable_page_pickers_offer_a_search_not_every_driver(world: World) -> None:
    _add_drivers(world, [f"Driver {i:03d}" for i in range(MANY)])
    _add_drivers(world, ["Driver 1100 Gone"], active=False)
    _sign_in(world, FM_A)
    page = world.client.get(f"/cables/{CABLE_A}").text
    assert len(_options(page, "driver_email")) == DRIVER_CHOICES  # a few, not all 122
    assert 'id="driver_q"' in page
    found = world.client.get(f"/cables/{CABLE_A}", params={"driver_q": "driver 11"}).text
    expected = [f"driver.{i:03d}@a.example" for i in range(110, 120)]
    assert _options(found, "driver_email") == expected  # the deactivated one is not offered
    assert _options(found, "to") == expected
    # Choosing a match assigns the cable to that driver.
    token = CSRF.search(found)
    assert token
    r = world.client.post(
        f"/cables/{CABLE_A}/assign",
        data={"csrf_token": token.group(1), "driver_email": expected[3]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    detail = world.call("GET", f"/api/v1/cables/{CABLE_A}", FM_A).json()
    assert detail["driver_email"] == expected[3]
    # The handover confirmation finds a driver by exact address, not in a list of all.
    confirm = world.client.get(f"/cables/{CABLE_A}/handover", params={"to": expected[5]})
    assert confirm.status_code == 200
    assert "Driver 115" in html.unescape(confirm.text)


def test_b4_audit_filter_offers_every_action_the_code_writes(world: World) -> None:
    _sign_in(world, FM_A)
    page = world.client.get("/audit").text
    assert set(_options(page, "f-action")) == set(AUDIT_ACTION)


def _insert_sessions(world: World, rows: list[tuple[int, int]]) -> None:
    """Sessions (seq, start_s) on CABLE_A for DRIVER_A1, straight into the table."""
    with world.session() as db:
        cable_id = db.scalar(select(Cable.id).where(Cable.serial == CABLE_A))
        driver_id = db.scalar(select(User.id).where(User.email == DRIVER_A1))
        db.execute(
            insert(ChargingSession),
            [
                {
                    "cable_id": cable_id,
                    "epoch": 0,
                    "seq": seq,
                    "driver_id": driver_id,
                    "start_s": start,
                    "end_s": start + 3600,
                    "wh": 1000 + seq,
                    "meter_start_wh": seq * 10_000,
                    "meter_end_wh": seq * 10_000 + 1000 + seq,
                    "max_w": 11_000,
                    "chain_hash": seq.to_bytes(32, "big"),
                    "received_at": world.clock(),
                }
                for seq, start in rows
            ],
        )
        db.commit()


def _walk(world: World, who: str, query: str, between: Any = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    r = world.call("GET", f"/api/v1/sessions?{query}", who)
    pages = 0
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        pages += 1
        if pages == 2 and between is not None:
            between()
        if body["next_cursor"] is None:
            return items
        r = world.call(
            "GET", f"/api/v1/sessions?{query}", who, params={"cursor": body["next_cursor"]}
        )


def test_b4_sessions_api_cursor_reaches_every_session_once_while_sessions_arrive(
    world: World,
) -> None:
    assigned_world(world)
    base = 1_700_000_000
    # Three sessions share each start time: the cursor's tie-break (id) is exercised.
    _insert_sessions(world, [(seq, base + (seq // 3) * 60) for seq in range(1000, 2050)])

    def arrive() -> None:
        # Newer than every page already read (not reached: newest first) and older
        # than the cursor (reached on a later page).
        _insert_sessions(world, [(seq, base + 10**7 + seq) for seq in range(5000, 5005)])
        _insert_sessions(world, [(seq, base - 10**6 + seq) for seq in range(100, 105)])

    items = _walk(world, FM_A, "limit=100", arrive)
    seqs = [i["seq"] for i in items]
    assert len(seqs) == len(set(seqs)), "a session came on two pages"
    assert set(seqs) == set(range(1000, 2050)) | set(range(100, 105))
    keys = [(i["start"], i["seq"]) for i in items]
    assert [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True)
    # Every filter pages the same way: by driver, by cable; the driver sees their own.
    assert len(_walk(world, FM_A, f"limit=500&driver_email={DRIVER_A1}")) == len(items) + 5
    assert len(_walk(world, FM_A, f"limit=77&serial={CABLE_A}")) == len(items) + 5
    assert len(_walk(world, DRIVER_A1, "limit=250")) == len(items) + 5
    # Another organisation's fleet manager pages through nothing of it.
    assert _walk(world, FM_B, "limit=10") == []


def test_b4_sessions_api_refuses_a_cursor_it_did_not_give_out(world: World) -> None:
    for cursor in ("abc", "1.", "-1.5", "1.2.3", "9" * 20 + ".1", "9" * 19 + ".1"):
        r = world.call("GET", "/api/v1/sessions", FM_A, params={"cursor": cursor})
        assert r.status_code == 422, (cursor, r.text)
        assert r.json()["error"] == "invalid_request"
        assert "cursor" in r.json()["message"]


def test_b4_audit_api_pages_with_next_before_seq(world: World) -> None:
    assigned_world(world)
    for days in range(1, 8):  # some events of organisation A
        for method in ("POST", "DELETE"):
            r = world.call(
                method,
                f"/api/v1/cables/{CABLE_A}/pin-reset",
                FM_A,
                **({"json": {"expires_in_days": days}} if method == "POST" else {}),
            )
            assert r.status_code == 200, r.text
    everything = world.call("GET", "/api/v1/audit?limit=500", FM_A).json()
    assert everything["next_before_seq"] is None
    seqs: list[int] = []
    r = world.call("GET", "/api/v1/audit?limit=3", FM_A)
    while True:
        body = r.json()
        seqs += [e["seq"] for e in body["items"]]
        if body["next_before_seq"] is None:
            break
        r = world.call(
            "GET", "/api/v1/audit", FM_A, params={"limit": 3, "before_seq": body["next_before_seq"]}
        )
    assert seqs == [e["seq"] for e in everything["items"]]
    assert len(seqs) >= 14

"""U2 robustness: whatever arrives in a portal URL, the answer is an HTML page, never a 5xx.

Odd query values (non-ASCII digits, numbers beyond 64 bits, dates at the end
of the calendar) are the user's mistake: a 400/404 page that says what to do
next. A bug is a generic 500 page, logged on the server, never JSON or a trace.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cablepin.cloud.portal import (
    audit_routes,
    auth_routes,
    driver_routes,
    fleet_routes,
    queries,
    support_routes,
)
from cablepin.cloud.portal import router as portal_router
from cablepin.cloud.portal.web import LOCALE_COOKIE, PortalRoute

from . import seed
from .conftest import choose_language, sign_in


def _anna(fleet: seed.Fleet) -> int:
    db = sqlite3.connect(fleet.db_url.removeprefix("sqlite:///"))
    row = db.execute("SELECT id FROM users WHERE email = ?", (seed.DRIVERS_A[0][1],)).fetchone()
    db.close()
    return int(row[0])


def _assert_page(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.url, response.status_code, response.text)
    assert response.headers["content-type"].startswith("text/html"), response.url
    assert "<html" in response.text
    for word in words:
        assert word in response.text, (response.url, word)


# ---------------------------------------------------------------- the known 500s


@pytest.mark.parametrize(
    ("url", "status", "german", "english"),
    [
        ("/audit?before=²", 400, "Öffnen Sie die Seite neu", "Open the page again"),
        (
            "/audit?before=99999999999999999999999",
            400,
            "Öffnen Sie die Seite neu",
            "Open the page again",
        ),
        ("/audit?to=9999-12-31", 400, "Jahr von 1970 bis 9998", "year from 1970 to 9998"),
        ("/audit?from=0001-01-01", 400, "Jahr von 1970 bis 9998", "year from 1970 to 9998"),
        ("/audit.csv?to=9999-12-31", 400, "CSV-Datei erneut", "download the CSV file again"),
        ("/drivers/{anna}/sessions.csv?end=9999-12", 400, "JJJJ-MM", "YYYY-MM"),
        ("/drivers/{anna}/sessions.csv?start=²⁰²⁶-01", 400, "JJJJ-MM", "YYYY-MM"),
        ("/drivers/{anna}/sessions.csv?start=2026-13", 400, "JJJJ-MM", "YYYY-MM"),
        ("/drivers/99999999999999999999999", 404, "Prüfen Sie die Adresse", "Check the address"),
        (
            "/drivers/99999999999999999999999/sessions.csv",
            404,
            "Prüfen Sie die Adresse",
            "Check the address",
        ),
        ("/drivers/-1", 404, "Prüfen Sie die Adresse", "Check the address"),
    ],
)
def test_u2_malformed_addresses_get_a_page_that_says_what_to_do(
    client: httpx.Client, fleet: seed.Fleet, url: str, status: int, german: str, english: str
) -> None:
    sign_in(client, seed.FM_A)
    url = url.replace("{anna}", str(_anna(fleet)))
    _assert_page(client.get(url), status, german)
    choose_language(client, "en")
    _assert_page(client.get(url), status, english)


def test_u2_support_with_a_malformed_organisation_filter_gets_a_page(
    client: httpx.Client,
) -> None:
    sign_in(client, seed.SUPPORT)
    for org in ("²", "99999999999999999999999"):
        _assert_page(client.get("/audit", params={"org": org}), 400, "Öffnen Sie die Seite neu")
    assert client.get("/audit", params={"org": "1"}).status_code == 200


def test_u2_month_and_page_limits_still_work(client: httpx.Client, fleet: seed.Fleet) -> None:
    sign_in(client, seed.FM_A)
    anna = _anna(fleet)
    ok = client.get(f"/drivers/{anna}/sessions.csv", params={"start": "1970-01", "end": "9998-12"})
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/csv")
    assert (
        client.get("/audit", params={"from": "1970-01-01", "to": "9998-12-31"}).status_code == 200
    )
    assert client.get("/audit", params={"before": str(2**62)}).status_code == 200


def test_u2_an_unexpected_error_is_a_generic_html_page_and_logged(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sign_in(client, seed.FM_A)

    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(queries, "overview", broken)
    with caplog.at_level(logging.ERROR):
        response = client.get("/")
    _assert_page(response, 500, "Interner Fehler", "Support")
    assert "secret-internal-detail" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert any("secret-internal-detail" in (r.exc_text or "") for r in caplog.records)


# ---------------------------------------------------------------- every GET route, odd values

QUERY_NAMES = (
    "before",
    "after",
    "q",
    "filter",
    "action",
    "target",
    "actor",
    "from",
    "to",
    "support",
    "org",
    "start",
    "end",
    "next",
    "expired",
    "out",
    "done",
)
ODD = (
    "²",  # str.isdigit() says yes, int() says no
    "١٢",  # Arabic-Indic digits
    "99999999999999999999999",  # beyond SQLite's 64-bit integers
    "-1",
    "1e309",
    "9999-12-31",  # the day after does not exist
    "9999-12",  # nor does the month after
    "0001-01-01",
    "2026-13",
    "\x00",
    "' OR 1=1 --",
    "💥" * 200,
)


def _get_routes() -> list[str]:
    """Every GET route the portal defines, from its routers' tables."""
    routers = (portal_router, *(m.router for m in (auth_routes, fleet_routes, driver_routes)))
    routers += (audit_routes.router, support_routes.router)
    paths = [
        route.path
        for router in routers
        for route in router.routes
        if isinstance(route, PortalRoute) and "GET" in (route.methods or ())
    ]
    assert {"/audit", "/drivers/{driver_id}", "/drivers/{driver_id}/sessions.csv"} <= set(paths)
    return paths


def _urls(fleet: seed.Fleet, odd: str | None) -> list[str]:
    """Every GET route with real path values (``odd=None``) or with ``odd`` in each of them."""
    real = {
        "serial": fleet.serials_a[0],
        "driver_id": str(_anna(fleet)),
        "token": "x" * 43,
        "code": "de",
        "name": "portal.css",
    }
    urls = []
    for path in _get_routes():
        names = re.findall(r"\{(\w+)\}", path)
        if odd is not None and not names:
            continue
        for name in names:
            path = path.replace("{" + name + "}", quote(odd, safe="") if odd else real[name])
        urls.append(path)
    return urls


def _routable(path_value: str) -> bool:
    """A path value that still reaches its route (a "/" or ".." in it changes the path)."""
    return "/" not in path_value and path_value.strip() not in ("", ".", "..")


def _no_5xx(
    client: httpx.Client, url: str, params: dict[str, str] | None = None, *, page: bool = True
) -> None:
    response = client.get(url, params=params)
    assert response.status_code < 500, (url, params, response.status_code, response.text[:300])
    if page and response.status_code >= 400:
        assert response.headers["content-type"].startswith("text/html"), (url, params)


@pytest.mark.parametrize("who", [None, seed.FM_A, seed.SUPPORT])
def test_u2_odd_values_on_every_get_route_never_give_a_5xx(
    client: httpx.Client, fleet: seed.Fleet, who: str | None
) -> None:
    if who is not None:
        sign_in(client, who)
    urls = _urls(fleet, None)
    for value in ODD:
        for url in urls:
            _no_5xx(client, url, dict.fromkeys(QUERY_NAMES, value))
        if who != seed.SUPPORT:  # support's path parameters are the fleet manager's
            for url in _urls(fleet, value):
                _no_5xx(client, url, page=_routable(value))
    client.cookies.set(LOCALE_COOKIE, "en")
    for url in urls:
        _no_5xx(client, url, {"before": "²", "to": "9999-12-31", "end": "9999-12"})


REAL_SEGMENT = re.compile(r"/(CBL-[0-9]+|[0-9]+|x{43}|de|portal\.css)(?=/|$)")
ODD_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
    st.integers().map(str),
    st.from_regex(r"\A[0-9]{1,5}-[0-9]{1,2}(-[0-9]{1,2})?\Z"),
    st.sampled_from(ODD),
)


def test_u2_hypothesis_finds_no_query_that_breaks_a_page(
    client: httpx.Client, fleet: seed.Fleet
) -> None:
    sign_in(client, seed.FM_A)
    urls = _urls(fleet, None)

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        url=st.sampled_from(urls),
        params=st.dictionaries(st.sampled_from(QUERY_NAMES), ODD_TEXT, max_size=4),
        path_value=st.one_of(st.none(), ODD_TEXT),
    )
    def check(url: str, params: dict[str, str], path_value: str | None) -> None:
        if path_value:
            url = REAL_SEGMENT.sub("/" + quote(path_value, safe=""), url, count=1)
        _no_5xx(client, url, params, page=not path_value or _routable(path_value))

    check()


@pytest.mark.parametrize("path", ["/no-such-page", "/cables/a%2Fb/x", "/drivers/1/nothing"])
def test_u2_an_unknown_address_is_a_portal_page_not_json(
    client: httpx.Client, fleet: seed.Fleet, path: str
) -> None:
    sign_in(client, seed.FM_A)
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text
    api = client.get("/api/v1/no-such-route")
    assert api.status_code == 404
    assert api.json()["error"] == "not_found"  # the API keeps its JSON shape

"""Every response carries its security headers, from the one middleware (cloud/headers.py).

API JSON, the login's token, every kind of error (401, 404, 405, 413, 422,
429, even an unexpected 500), /openapi.json, portal pages and their error
pages; HSTS only over HTTPS. Plus the OpenAPI document's own exactness and the
error answers schemathesis once caught out.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from cablepin.cloud import create_app
from cablepin.cloud.headers import API_CSP, HSTS, PAGE_CSP

from .conftest import CABLE_A, DRIVER_A1, FM_A, PASSWORD, World, assigned_world, settings_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CABLE = f"/api/v1/cables/{CABLE_A}"


def assert_api_headers(response: Any, *, cache: str = "no-store") -> None:
    h = response.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["Content-Security-Policy"] == API_CSP
    assert h["Cache-Control"] == cache
    assert "Strict-Transport-Security" not in h  # plain HTTP: HSTS would be ignored


def assert_page_headers(response: Any) -> None:
    h = response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Content-Security-Policy"] == PAGE_CSP
    assert h["Cache-Control"] == "no-store"
    assert h["Referrer-Policy"] in ("same-origin", "no-referrer")


def test_api_json_and_the_login_token_response_carry_the_headers(world: World) -> None:
    r = world.client.post("/api/v1/auth/login", json={"email": FM_A, "password": PASSWORD})
    assert r.status_code == 200
    assert "token" in r.json()
    assert_api_headers(r)
    r = world.call("GET", "/api/v1/me", FM_A)
    assert r.status_code == 200
    assert_api_headers(r)
    r = world.call("GET", "/api/v1/cables", FM_A)
    assert r.status_code == 200
    assert_api_headers(r)
    assert_api_headers(world.client.get("/healthz"))


def test_error_responses_carry_the_headers(world: World) -> None:
    cases = [
        (world.client.get("/api/v1/me"), 401),
        (world.call("GET", "/api/v1/audit", DRIVER_A1), 403),
        (world.call("GET", "/api/v1/no-such-route", FM_A), 404),
        (world.client.request("TRACE", "/healthz"), 405),
        (world.call("PUT", f"{CABLE}/assignment", FM_A, json={}), 422),
        (
            world.client.post(
                "/api/v1/auth/login",
                content=b"x" * (2 * 1024 * 1024),
                headers={"Content-Type": "application/json"},
            ),
            413,
        ),
        (
            world.client.post(
                "/api/v1/auth/login",
                content=b"\xff\xfe{",
                headers={"Content-Type": "application/json"},
            ),
            400,
        ),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert_api_headers(response)


def test_too_many_login_attempts_answer_with_the_headers(world: World) -> None:
    for _ in range(6):
        r = world.client.post("/api/v1/auth/login", json={"email": FM_A, "password": "wrong"})
    assert r.status_code == 429
    assert "Retry-After" in r.headers
    assert_api_headers(r)


def test_an_unexpected_error_answers_500_with_the_headers(world: World) -> None:
    app = create_app(settings_for(world.url, world.keys), clock=world.clock)

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/v1/boom")
    assert r.status_code == 500
    assert r.json()["error"] == "internal_error"
    assert "a bug" not in r.text
    assert_api_headers(r)


def test_openapi_document_carries_the_headers_and_there_is_no_cdn_docs_page(
    world: World,
) -> None:
    r = world.client.get("/openapi.json")
    assert r.status_code == 200
    assert_api_headers(r, cache="no-cache")
    # /docs and /redoc would load Swagger UI / ReDoc from a CDN: they are not served.
    for path in ("/docs", "/redoc"):
        page = world.client.get(path)
        assert page.status_code == 404
        assert_page_headers(page)
        assert "cdn" not in page.text.lower()


def test_portal_pages_and_their_errors_carry_the_headers(world: World) -> None:
    page = world.client.get("/signin")
    assert page.status_code == 200
    assert_page_headers(page)
    missing = world.client.get("/no-such-page")
    assert missing.status_code == 404
    assert_page_headers(missing)
    wrong = world.client.request("PATCH", "/signin")
    assert wrong.status_code == 405
    assert_page_headers(wrong)
    assert set(wrong.headers["Allow"].split(", ")) == {"GET", "POST"}
    static = world.client.get("/static/portal.css")
    assert static.status_code == 200
    assert static.headers["X-Content-Type-Options"] == "nosniff"
    assert static.headers["Cache-Control"] == "public, max-age=3600"  # the route's own wins


@pytest.mark.parametrize("path", ["/api/v1/factory-ca", "/healthz", "/signin", "/no-such-page"])
def test_hsts_is_sent_over_https_only(world: World, path: str) -> None:
    app = world.client.app
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get(path).headers["Strict-Transport-Security"] == HSTS
    assert "Strict-Transport-Security" not in world.client.get(path).headers


# ----------------------------------------------------- the OpenAPI document is exact


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_u2_openapi_declares_a_token_exactly_where_one_is_needed(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    public = {
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/factory-ca"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    }
    for method, path, operation in operations(document):
        if (method, path) in public:
            assert "security" not in operation, (method, path)
            assert world.client.request(method, path).status_code != 401
        else:
            assert operation["security"] == [{"HTTPBearer": []}], (method, path)


def test_u2_openapi_bounds_are_integers_and_body_errors_are_documented(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    text = world.client.get("/openapi.json").text
    assert "e+18" not in text
    epoch = document["components"]["schemas"]["SessionsUpload"]["properties"]["epoch"]
    assert epoch["maximum"] == 2**62
    assert isinstance(epoch["minimum"], int)
    for method, path, operation in operations(document):
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(operation["responses"]), (method, path)
    assert set(document["paths"]["/healthz"]["get"]["responses"]) == {"200"}  # liveness
    assert {"200", "503"} <= set(document["paths"]["/readyz"]["get"]["responses"])
    assert "/metrics" not in document["paths"]  # Prometheus text, not JSON


def test_u2_a_body_that_is_not_utf8_json_is_a_documented_400(world: World) -> None:
    r = world.client.post(
        "/api/v1/auth/login", content=b"\xc3\x28\xa0", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_json"
    assert "UTF-8" in r.json()["message"]


def test_u2_405_names_every_method_of_the_path_and_health_answers_json(world: World) -> None:
    assigned_world(world)
    r = world.call("OPTIONS", f"{CABLE}/pin-reset", FM_A)
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == {"POST", "DELETE"}
    for method in ("TRACE", "PUT"):
        r = world.client.request(method, "/healthz")
        assert r.status_code == 405
        assert r.headers["Allow"] == "GET"
        assert r.json()["error"] == "method_not_allowed"


def test_p8_support_without_a_reason_is_a_documented_403(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    assert "403" in document["paths"]["/api/v1/sessions"]["get"]["responses"]
    reason = next(
        p
        for p in document["paths"]["/api/v1/sessions"]["get"]["parameters"]
        if p["name"] == "reason"
    )
    assert "support must send it" in reason["description"]

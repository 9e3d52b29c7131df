"""Robustness of the API's input (U2, S2): record shapes at the schema, a cap on body size."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from .conftest import CABLE_A, DRIVER_A1, World, assigned_world

SESSIONS = f"/api/v1/app/cables/{CABLE_A}/sessions"


@pytest.mark.parametrize(
    "record",
    [
        [1, 2, 3],
        [1, 2, 3, 4, 5, 6, 7, 8],
        [1, 2, 3, 4, 5, 6, "7"],
        [1, 2, 3, 4, 5, 6, 7.5],
        [1, 2, 3, 4, 5, 6, True],
        [1, 2, 3, 4, 5, 6, -1],
        [],
    ],
)
def test_s2_u2_each_record_is_exactly_seven_integers(world: World, record: list[object]) -> None:
    assigned_world(world)
    body = {"epoch": 0, "records": [[1, 1, 2, 1, 0, 1, 1], record], "head_sig": "AA=="}
    r = world.upload(DRIVER_A1, CABLE_A, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"
    assert any(f["field"].startswith("body.records.1") for f in r.json()["fields"])


def test_s2_the_openapi_document_states_the_record_shape(world: World) -> None:
    schema = world.client.get("/openapi.json").json()["components"]["schemas"]["SessionsUpload"]
    inner = schema["properties"]["records"]["items"]
    assert inner["minItems"] == inner["maxItems"] == 7
    assert inner["items"]["type"] == "integer"


def test_u2_an_oversized_api_body_is_refused_with_our_error_shape(world: World) -> None:
    assigned_world(world)
    big = {"epoch": 0, "records": [[1, 1, 2, 1, 0, 1, 1]] * 60_000, "head_sig": "AA=="}
    r = world.call("POST", SESSIONS, DRIVER_A1, content=json.dumps(big).encode())
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
    assert "send less" in r.json()["message"]


def test_u2_an_oversized_chunked_body_is_refused_too(world: World) -> None:
    assigned_world(world)

    def chunks() -> Iterator[bytes]:
        yield b'{"epoch": 0, "head_sig": "AA==", "records": ['
        for _ in range(20):
            yield b"[1, 1, 2, 1, 0, 1, 1]," * 10_000
        yield b"[1, 1, 2, 1, 0, 1, 1]]}"

    token = world.token(DRIVER_A1)
    r = world.client.post(
        SESSIONS,
        content=chunks(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"


def test_u2_small_bodies_and_the_portal_are_unaffected(world: World) -> None:
    r = world.client.post("/api/v1/auth/login", json={"email": DRIVER_A1, "password": "x" * 2000})
    assert r.status_code == 422  # over the schema's limit, but not the body cap
    r = world.client.post(
        "/signin", data={"email": DRIVER_A1, "password": "wrong"}, follow_redirects=False
    )
    assert r.status_code != 413
    assert r.status_code < 500

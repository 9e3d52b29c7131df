"""The connect's own route class (B3) answers exactly as the declared endpoint does.

``routes._ConnectRoute`` answers a well-formed connect itself (the model's
``validate_json`` and ``to_json``); every other request goes to the declared
endpoint, FastAPI's handler. A JSON media type other than ``application/json``
(``+json``) takes the declared endpoint's way, so the two can be compared.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import CABLE_A, DRIVER_A1, World, assigned_world

CONNECT = f"/api/v1/app/cables/{CABLE_A}/connect"


def _post(world: World, body: dict[str, Any], content_type: str) -> Any:
    return world.client.post(
        CONNECT,
        content=json.dumps(body),
        headers={
            "Authorization": f"Bearer {world.token(DRIVER_A1)}",
            "Content-Type": content_type,
        },
    )


def test_b3_the_connects_own_route_answers_as_the_declared_endpoint(world: World) -> None:
    assigned_world(world)
    cable = world.cables[CABLE_A]
    fast = _post(world, cable.hello(DRIVER_A1), "application/json")
    declared = _post(world, cable.hello(DRIVER_A1), "application/vnd.cablepin+json")
    assert fast.status_code == declared.status_code == 200, (fast.text, declared.text)
    assert fast.content == declared.content
    assert fast.headers["content-type"] == declared.headers["content-type"]


@pytest.mark.parametrize("content_type", ["application/json", "application/vnd.cablepin+json"])
def test_b3_a_refused_connect_is_worded_alike_on_either_way(
    world: World, content_type: str
) -> None:
    assigned_world(world)
    body = {**world.cables[CABLE_A].hello(DRIVER_A1), "epoch": -1}
    r = _post(world, body, content_type)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"
    assert r.json()["fields"][0]["field"] == "body.epoch"

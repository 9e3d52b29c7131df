"""The signed hello at connect (P6, H2, H4, H5): the cloud believes only what the cable signed.

An app can withhold a hello, but it can neither invent one nor edit one; and
only the cable's driver (or the driver a pending wipe gives it to) updates
what the portal shows about the cable.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

import pytest

from cablepin.protocol.commands import open_command

from .conftest import CABLE_A, CABLE_B, DRIVER_A1, DRIVER_A2, FM_A, World, assigned_world

CABLE = f"/api/v1/cables/{CABLE_A}"


def post_connect(world: World, who: str, body: dict[str, Any], serial: str = CABLE_A) -> Any:
    return world.call("POST", f"/api/v1/app/cables/{serial}/connect", who, json=body)


def cable_facts(world: World) -> dict[str, Any]:
    detail: dict[str, Any] = world.call("GET", CABLE, FM_A).json()
    return {k: detail[k] for k in ("pin_default", "fw", "last_seen_at")}


@pytest.mark.parametrize(
    "edit",
    [
        {"pin_default": False},  # "the PIN was changed" (P6), without the cable saying so
        {"epoch": 5},
        {"head": {"seq": 0, "hash": base64.b64encode(bytes(32)).decode()}},
        {"locked": True},
        {"wait_s": 30},
        {"fw": "9.9.9"},
        {"nonce": base64.b64encode(bytes(16)).decode()},
        {"sig": base64.b64encode(bytes(64)).decode()},
        {"sig": "not base64!"},
    ],
)
def test_h5_p6_an_edited_hello_is_refused_and_nothing_is_stored(
    world: World, edit: dict[str, Any]
) -> None:
    assigned_world(world)
    cable = world.cables[CABLE_A]
    cable.charge(1)
    r = post_connect(world, DRIVER_A1, {**cable.hello(DRIVER_A1), **edit})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "bad_hello"
    assert "connect to the cable again" in r.json()["message"]
    assert "exactly as the cable sent it" in r.json()["message"]
    assert cable_facts(world) == {"pin_default": None, "fw": None, "last_seen_at": None}


@pytest.mark.parametrize("missing", ["sig", "locked"])
def test_h5_a_hello_without_its_signature_is_refused(world: World, missing: str) -> None:
    assigned_world(world)
    body = world.cables[CABLE_A].hello(DRIVER_A1)
    del body[missing]
    r = post_connect(world, DRIVER_A1, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "bad_hello"
    assert "connect to the cable again" in r.json()["message"]
    assert cable_facts(world)["last_seen_at"] is None


def test_h5_another_cables_hello_is_refused(world: World) -> None:
    """The serial signed is the path's: a hello of cable B does not pass for cable A."""
    assigned_world(world)
    r = post_connect(world, DRIVER_A1, world.cables[CABLE_B].hello(DRIVER_A1))
    assert r.status_code == 422
    assert r.json()["error"] == "bad_hello"


def test_p6_facts_are_stored_only_for_the_cables_driver(world: World) -> None:
    assigned_world(world)
    cable = world.cables[CABLE_A]
    cable.pin_default = False
    # Another driver of the organisation may connect (a pending wipe would go to them), ...
    r = world.connect(DRIVER_A2, CABLE_A)
    assert r.status_code == 200, r.text
    assert r.json()["assigned"] is False
    # ... but what their app relays does not change what the fleet manager sees.
    assert cable_facts(world) == {"pin_default": None, "fw": None, "last_seen_at": None}
    r = world.connect(DRIVER_A1, CABLE_A)
    assert r.status_code == 200, r.text
    facts = cable_facts(world)
    assert facts["pin_default"] is False
    assert facts["fw"] == "1.0.0"
    assert facts["last_seen_at"] is not None


def test_p6_facts_are_stored_for_the_pending_assignee_of_a_wipe(world: World) -> None:
    assigned_world(world)
    world.relay(DRIVER_A1, CABLE_A)
    r = world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    assert r.status_code == 200, r.text
    world.clock.advance(minutes=1)
    seen = cable_facts(world)["last_seen_at"]
    r = world.connect(DRIVER_A2, CABLE_A)
    assert [c["kind"] for c in r.json()["commands"]] == ["wipe"]
    assert cable_facts(world)["last_seen_at"] != seen


def test_h2_h5_wipe_is_signed_for_the_clouds_epoch_and_not_handed_to_a_wiped_cable(
    world: World,
) -> None:
    assigned_world(world)
    cable = world.cables[CABLE_A]
    world.relay(DRIVER_A1, CABLE_A)
    world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    r = world.connect(DRIVER_A2, CABLE_A)
    [cmd] = r.json()["commands"]
    assert open_command(base64.b64decode(cmd["blob"]), world.keys.command_pub).epoch == 0
    cable.apply(cmd["blob"])  # wiped; the receipt never reached the cloud
    # The cable (signed) says epoch 1, the cloud still thinks 0: no wipe for it.
    r = world.connect(DRIVER_A2, CABLE_A)
    assert r.status_code == 200, r.text
    assert r.json()["commands"] == []
    assert cable.epoch == 1
    # Its receipt (hello's) settles the handover; nothing is wiped twice.
    receipt = base64.b64encode(cable.last_receipt or b"").decode()
    r = world.connect(DRIVER_A2, CABLE_A, receipt=receipt)
    assert r.status_code == 200, r.text
    assert r.json()["commands"] == []
    assert r.json()["synced"] == {"epoch": 1, "seq": 0}
    assert cable.epoch == 1


def test_h5_a_hello_replayed_after_its_challenge_went_stale_is_refused(world: World) -> None:
    assigned_world(world)
    old = world.cables[CABLE_A].hello(DRIVER_A1)  # signed for the challenge of now
    assert post_connect(world, DRIVER_A1, old).status_code == 200
    world.clock.advance(minutes=11)  # two challenge windows later
    r = post_connect(world, DRIVER_A1, old)
    assert r.status_code == 422
    assert r.json()["error"] == "bad_hello"
    assert "fresh challenge" in r.json()["message"]
    assert post_connect(world, DRIVER_A1, world.cables[CABLE_A].hello(DRIVER_A1)).status_code == 200


def test_h5_a_challenge_is_good_for_its_own_cable_only(world: World) -> None:
    assigned_world(world)
    cable = world.cables[CABLE_A]
    cable.challenge_source = functools.partial(world.challenge, serial=CABLE_B)
    r = post_connect(world, DRIVER_A1, cable.hello(DRIVER_A1))
    assert (r.status_code, r.json()["error"]) == (422, "bad_hello")


def test_h5_the_challenge_comes_from_the_api_and_is_what_the_cable_must_sign(
    world: World,
) -> None:
    assigned_world(world)
    r = world.call("GET", f"/api/v1/app/cables/{CABLE_A}/challenge", DRIVER_A1)
    assert r.status_code == 200, r.text
    issued = base64.b64decode(r.json()["challenge"])
    assert len(issued) == 16
    assert r.json()["valid_for_s"] == 300
    cable = world.cables[CABLE_A]
    cable.challenge_source = lambda _who: issued
    assert post_connect(world, DRIVER_A1, cable.hello(DRIVER_A1)).status_code == 200
    body = cable.hello(DRIVER_A1)
    del body["challenge"]
    assert post_connect(world, DRIVER_A1, body).json()["error"] == "bad_hello"
    other_org = world.call("GET", f"/api/v1/app/cables/{CABLE_B}/challenge", DRIVER_A1)
    assert other_org.status_code == 404


def test_p8_only_the_permissions_driver_can_hand_it_back_and_only_while_unused(
    world: World,
) -> None:
    assigned_world(world)
    world.call("POST", f"{CABLE}/pin-reset", FM_A, json={})
    r = world.connect(DRIVER_A1, CABLE_A)
    [cmd] = r.json()["commands"]
    assert world.connect(DRIVER_A1, CABLE_A).json()["commands"] == []
    release = f"/api/v1/app/cables/{CABLE_A}/release"
    other = world.call("POST", release, DRIVER_A2, json={"command_id": cmd["id"]})
    assert other.status_code == 404
    mine = world.call("POST", release, DRIVER_A1, json={"command_id": cmd["id"]})
    assert mine.json() == {"command_id": cmd["id"], "state": "pending"}
    again = world.connect(DRIVER_A1, CABLE_A).json()["commands"]
    assert [c["kind"] for c in again] == ["allow_pin_set"]
    receipt = world.cables[CABLE_A].apply(again[0]["blob"])
    world.call(
        "POST", f"/api/v1/app/cables/{CABLE_A}/receipts", DRIVER_A1, json={"receipt": receipt}
    )
    used = world.call("POST", release, DRIVER_A1, json={"command_id": cmd["id"]})
    assert used.json()["state"] == "done"  # a used permission stays used

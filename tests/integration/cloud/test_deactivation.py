"""A deactivated driver is locked out at once, and their cable is not silently freed (H3)."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from cablepin.cloud.errors import Forbidden, UnknownDriver
from cablepin.cloud.models import User
from cablepin.cloud.services import accounts

from .conftest import (
    CABLE_A,
    DRIVER_A1,
    DRIVER_B1,
    FM_A,
    PASSWORD,
    World,
    assigned_world,
)


def deactivate(world: World, by: str, email: str) -> None:
    with world.session() as db:
        actor = accounts.actor_for_user(db, db.scalar(select(User).where(User.email == by)))
        target = db.scalar(select(User).where(User.email == email))
        accounts.deactivate_user(db, actor, target.id, now=world.clock())


def test_r1_deactivated_driver_cannot_sync_and_keeps_the_cable_until_handover(
    world: World,
) -> None:
    assigned_world(world)
    world.token(DRIVER_A1)  # an app that is logged in
    deactivate(world, FM_A, DRIVER_A1)
    # A well-formed connect, as the driver's app sends it: the token decides, not the body.
    blob = base64.b64encode(bytes(16)).decode()
    hello = {
        "nonce": blob,
        "epoch": 0,
        "head": {"seq": 0, "hash": base64.b64encode(bytes(32)).decode()},
        "pin_default": True,
        "locked": False,
        "sig": blob,
        "challenge": blob,
    }
    r = world.call("POST", f"/api/v1/app/cables/{CABLE_A}/connect", DRIVER_A1, json=hello)
    assert r.status_code == 401
    assert "deactivated" in r.json()["message"] or "revoked" in r.json()["message"]
    r = world.client.post("/api/v1/auth/login", json={"email": DRIVER_A1, "password": PASSWORD})
    assert r.status_code == 401
    # The cable is still theirs: only a handover (which wipes it) frees it for someone else.
    detail = world.call("GET", f"/api/v1/cables/{CABLE_A}", FM_A).json()
    assert detail["driver_email"] == DRIVER_A1
    events = world.call("GET", "/api/v1/audit", FM_A).json()
    assert "driver.deactivated" in str(events)


def test_r1_fleet_manager_cannot_deactivate_another_orgs_driver(world: World) -> None:
    with pytest.raises(UnknownDriver):
        deactivate(world, FM_A, DRIVER_B1)


def test_r1_a_driver_cannot_deactivate_anyone(world: World) -> None:
    with pytest.raises(Forbidden):
        deactivate(world, DRIVER_A1, DRIVER_A1)

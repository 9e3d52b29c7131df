from __future__ import annotations

from .conftest import CABLE_A, DRIVER_A1, FM_A, World, assigned_world


def test_s1_sync_after_assignment(world: World) -> None:
    assigned_world(world)
    assert world.relay(DRIVER_A1, CABLE_A) == []
    world.cables[CABLE_A].charge(3)
    r = world.upload(DRIVER_A1, CABLE_A, world.cables[CABLE_A].batch(0))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 3, "duplicates": 0, "synced": {"epoch": 0, "seq": 3}}
    r = world.call("GET", f"/api/v1/cables/{CABLE_A}", FM_A)
    assert r.status_code == 200, r.text
    assert r.json()["synced_seq"] == 3

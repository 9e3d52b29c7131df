"""B1 and H2: what the app learns before it opens the link (``GET .../challenge``).

``nothing_pending`` lets the app read in its first exchange with the cable and
report the hello after the link is closed. It must be true only when the
connect that follows would hand out nothing and settle nothing, else a bonded
app would read before a wipe or a PIN permission was relayed (H2) or before a
new driver's clean start was checked (H3).
"""

from __future__ import annotations

from typing import Any

from .conftest import CABLE_A, DRIVER_A1, DRIVER_A2, FM_A, World, assigned_world

CABLE = f"/api/v1/cables/{CABLE_A}"


def before_link(world: World, who: str) -> dict[str, Any]:
    r = world.call("GET", f"/api/v1/app/cables/{CABLE_A}/challenge", who)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def quiet(world: World, who: str) -> bool:
    return bool(before_link(world, who)["nothing_pending"])


def test_b1_the_assigned_driver_of_a_quiet_cable_may_read_at_once(world: World) -> None:
    assert not quiet(world, DRIVER_A1)  # nobody's cable yet
    assigned_world(world)
    assert before_link(world, DRIVER_A1)["synced"] == {"epoch": 0, "seq": 0}
    assert quiet(world, DRIVER_A1)  # a new cable's first driver starts clean
    assert not quiet(world, DRIVER_A2)  # not theirs: the step-by-step connect says so
    cable = world.cables[CABLE_A]
    cable.charge(2)
    assert world.upload(DRIVER_A1, CABLE_A, cable.batch(0)).status_code == 200
    assert before_link(world, DRIVER_A1)["synced"] == {"epoch": 0, "seq": 2}


def test_h2_p8_a_pin_permission_waiting_means_step_by_step(world: World) -> None:
    assigned_world(world)
    assert world.call("POST", f"{CABLE}/pin-reset", FM_A, json={}).status_code in (200, 201)
    assert not quiet(world, DRIVER_A1)
    assert world.call("DELETE", f"{CABLE}/pin-reset", FM_A).status_code == 200
    assert quiet(world, DRIVER_A1)


def test_h2_h3_a_handover_waits_and_the_new_driver_is_checked_first(world: World) -> None:
    assigned_world(world)
    r = world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    assert r.status_code in (200, 201), r.text
    assert not quiet(world, DRIVER_A1)  # the wipe waits for whoever connects
    assert not quiet(world, DRIVER_A2)
    assert world.relay(DRIVER_A1, CABLE_A) == ["wipe"]  # the old driver's app carried it
    # The new driver's clean start is open: only a fresh hello settles it (H3).
    assert not quiet(world, DRIVER_A2)
    assert world.connect(DRIVER_A2, CABLE_A).json()["commands"] == []  # empty: clean
    assert quiet(world, DRIVER_A2)
    assert before_link(world, DRIVER_A2)["synced"] == {"epoch": 1, "seq": 0}
    assert not quiet(world, DRIVER_A1)

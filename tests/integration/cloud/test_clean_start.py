"""H3 "the next driver starts clean", by any order of events (both databases).

Sessions charged after a wipe but before the new driver's first connection
must never land in the new driver's account. The new driver's first connect
proves the cable empty (signed hello: the assignment's epoch, head seq 0) or
gets a clean-start wipe bound to them; uploads wait until then.
"""

from __future__ import annotations

from typing import Any

from .conftest import CABLE_A, DRIVER_A1, DRIVER_A2, FM_A, World, assigned_world

CABLE = f"/api/v1/cables/{CABLE_A}"


def app_connect(world: World, who: str, serial: str = CABLE_A) -> list[str]:
    """Like the app's connect flow: relay every command; after a wipe, hello again and reconnect."""
    cable = world.cables[serial]
    applied: list[str] = []
    body = cable.hello(who)
    for _round in range(3):
        r = world.call("POST", f"/api/v1/app/cables/{serial}/connect", who, json=body)
        assert r.status_code == 200, r.text
        wiped = False
        for cmd in r.json()["commands"]:
            receipt = cable.apply(cmd["blob"])
            p = world.call(
                "POST", f"/api/v1/app/cables/{serial}/receipts", who, json={"receipt": receipt}
            )
            assert p.status_code == 200, p.text
            applied.append(cmd["kind"])
            if cmd["kind"] == "wipe":
                wiped = True
                break
        if not wiped:
            return applied
        body = cable.hello(who, same_nonce=True)  # same connection, new epoch
    raise AssertionError(f"still wiping after 3 rounds: {applied}")


def wipes(world: World) -> list[dict[str, Any]]:
    commands = world.call("GET", CABLE, FM_A).json()["commands"]
    return [c for c in commands if c["kind"] == "wipe"]


def sessions_of(world: World, who: str) -> set[tuple[int, int]]:
    items = world.call("GET", "/api/v1/sessions", who).json()["items"]
    return {(s["epoch"], s["seq"]) for s in items}


def a1_synced(world: World) -> None:
    """DRIVER_A1 has CABLE_A (a fresh cable) and synced two sessions."""
    assigned_world(world)
    assert app_connect(world, DRIVER_A1) == []
    cable = world.cables[CABLE_A]
    cable.charge(2)
    r = world.upload(DRIVER_A1, CABLE_A, cable.batch(0))
    assert r.status_code == 200, r.text


def test_h3_a_new_cables_first_driver_keeps_what_they_charged_before_the_app(
    world: World,
) -> None:
    # A cable fresh from the factory (epoch 0, never assigned): nobody else's sessions can
    # be on it, so the first driver's sessions from before their first connect are theirs.
    assigned_world(world)
    cable = world.cables[CABLE_A]
    cable.charge(3)
    assert app_connect(world, DRIVER_A1) == []
    r = world.upload(DRIVER_A1, CABLE_A, cable.batch(0))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    assert wipes(world) == []
    assert sessions_of(world, DRIVER_A1) == {(0, 1), (0, 2), (0, 3)}


def test_h3_a_pool_handover_then_old_driver_charges_then_assign(world: World) -> None:
    """(a) pool handover; A's app applies the wipe; A charges 3 times; B is assigned."""
    a1_synced(world)
    cable = world.cables[CABLE_A]
    r = world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": None})
    assert r.status_code == 200, r.text
    assert app_connect(world, DRIVER_A1) == ["wipe"]
    assert cable.epoch == 1
    cable.charge(3)  # driver A keeps charging the pool cable
    a_sessions = cable.batch(0)
    r = world.call("PUT", f"{CABLE}/assignment", FM_A, json={"driver_email": DRIVER_A2})
    assert r.status_code == 200, r.text
    assert r.json()["epoch"] == 1
    # Before B's first connect nothing of the cable's can reach B.
    r = world.upload(DRIVER_A2, CABLE_A, a_sessions)
    assert r.status_code == 409
    assert r.json()["error"] == "clean_start_pending"
    # B's first connect finds 3 sessions in epoch 1: the cable is wiped for B.
    assert app_connect(world, DRIVER_A2) == ["wipe"]
    assert cable.epoch == 2
    assert cable.records == []
    r = world.upload(DRIVER_A2, CABLE_A, a_sessions)
    assert r.status_code == 409
    assert r.json()["error"] == "stale_epoch"
    cable.charge(1)
    r = world.upload(DRIVER_A2, CABLE_A, cable.batch(0))
    assert r.status_code == 200, r.text
    assert sessions_of(world, DRIVER_A2) == {(2, 1)}
    detail = world.call("GET", CABLE, FM_A).json()
    assert detail["driver_email"] == DRIVER_A2
    assert detail["epoch"] == 2
    assert sorted(c["purpose"] for c in wipes(world)) == ["clean_start", "handover"]
    assert all(c["state"] == "done" for c in wipes(world))
    actions = [e["action"] for e in world.call("GET", "/api/v1/audit", FM_A).json()["items"]]
    assert "clean_start.started" in actions
    assert "clean_start.done" in actions


def test_h3_b_old_drivers_app_applies_the_handover_wipe_then_charges(world: World) -> None:
    """(b) handover A->B; A's app is first and applies the wipe; A charges once; B syncs."""
    a1_synced(world)
    cable = world.cables[CABLE_A]
    r = world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    assert r.status_code == 200, r.text
    assert app_connect(world, DRIVER_A1) == ["wipe"]
    assert cable.epoch == 1
    cable.charge(1)  # A's session, in B's epoch
    a_session = cable.batch(0)
    r = world.upload(DRIVER_A1, CABLE_A, a_session)
    assert r.json()["error"] == "not_assigned"
    r = world.upload(DRIVER_A2, CABLE_A, a_session)
    assert r.status_code == 409
    assert r.json()["error"] == "clean_start_pending"
    # A's app connecting again changes nothing and gets no clean-start wipe.
    assert app_connect(world, DRIVER_A1) == []
    assert wipes(world)[0]["purpose"] == "handover"
    # B's first connect: the cable holds a session of epoch 1, so it is wiped for B.
    r = world.connect(DRIVER_A2, CABLE_A)
    assert [c["kind"] for c in r.json()["commands"]] == ["wipe"]
    assert r.json()["assigned"] is True
    # B's app withholds it: uploads stay refused, other apps get no copy.
    r = world.upload(DRIVER_A2, CABLE_A, a_session)
    assert r.json()["error"] == "wipe_pending"
    assert world.connect(DRIVER_A1, CABLE_A).json()["commands"] == []
    # Reconnecting reuses the same clean-start wipe.
    assert app_connect(world, DRIVER_A2) == ["wipe"]
    assert sorted(c["purpose"] for c in wipes(world)) == ["clean_start", "handover"]
    assert cable.epoch == 2
    r = world.upload(DRIVER_A2, CABLE_A, a_session)
    assert r.json()["error"] == "stale_epoch"
    cable.charge(2)
    r = world.upload(DRIVER_A2, CABLE_A, cable.batch(0))
    assert r.status_code == 200, r.text
    assert sessions_of(world, DRIVER_A2) == {(2, 1), (2, 2)}
    assert sessions_of(world, DRIVER_A1) == {(0, 1), (0, 2)}


def test_h3_new_drivers_own_app_applies_the_handover_wipe_exactly_once(world: World) -> None:
    a1_synced(world)
    cable = world.cables[CABLE_A]
    world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    # B's app: wipe, receipt, hello again on the same connection (epoch 1, seq 0): clean.
    assert app_connect(world, DRIVER_A2) == ["wipe"]
    assert app_connect(world, DRIVER_A2) == []
    assert cable.epoch == 1
    assert len(wipes(world)) == 1
    cable.charge(2)
    r = world.upload(DRIVER_A2, CABLE_A, cable.batch(0))
    assert r.status_code == 200, r.text
    assert sessions_of(world, DRIVER_A2) == {(1, 1), (1, 2)}


def test_h3_support_reset_and_cancelled_handover_keep_the_driver_clean(world: World) -> None:
    a1_synced(world)
    cable = world.cables[CABLE_A]
    r = world.call("POST", f"{CABLE}/reset", "support@vendor.example", json={"reason": "ticket 9"})
    assert r.status_code == 200, r.text
    assert world.relay(DRIVER_A1, CABLE_A) == ["wipe"]  # the receipt only, no new hello
    cable.charge(1)
    r = world.upload(DRIVER_A1, CABLE_A, cable.batch(0))
    assert r.status_code == 200, r.text
    world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    world.call("DELETE", f"{CABLE}/handover", FM_A)
    cable.charge(1)
    r = world.upload(DRIVER_A1, CABLE_A, cable.batch(0))
    assert r.status_code == 200, r.text
    assert r.json()["synced"] == {"epoch": 1, "seq": 2}
    assert len(wipes(world)) == 2


def test_h1_h3_a_withheld_clean_start_wipe_does_not_block_the_fleet_manager(world: World) -> None:
    a1_synced(world)
    cable = world.cables[CABLE_A]
    world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    assert app_connect(world, DRIVER_A1) == ["wipe"]
    cable.charge(1)
    r = world.connect(DRIVER_A2, CABLE_A)  # gets the clean-start wipe, never applies it
    assert [c["kind"] for c in r.json()["commands"]] == ["wipe"]
    r = world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": None})
    assert r.status_code == 200, r.text
    assert r.json()["purpose"] == "handover"
    states = {c["purpose"]: c["state"] for c in wipes(world) if c["purpose"] == "clean_start"}
    assert states == {"clean_start": "cancelled"}
    # Whoever connects next gets the new handover's wipe (H2); nobody can sync meanwhile.
    assert app_connect(world, DRIVER_A1) == ["wipe"]
    assert cable.epoch == 2
    detail = world.call("GET", CABLE, FM_A).json()
    assert detail["driver_email"] is None
    assert detail["pending_handover"] is None
    actions = [e["action"] for e in world.call("GET", "/api/v1/audit", FM_A).json()["items"]]
    assert "clean_start.cancelled" in actions


def test_h3_a_cancelled_wipes_late_receipt_gives_nobody_else_a_clean_epoch(world: World) -> None:
    """Found in review: the receipt of a cancelled wipe arrives with the next driver's hello."""
    a1_synced(world)
    cable = world.cables[CABLE_A]
    world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": None})
    assert app_connect(world, DRIVER_A1) == ["wipe"]  # to the pool, epoch 1
    world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A1})
    r = world.connect(DRIVER_A1, CABLE_A)
    cable.apply(r.json()["commands"][0]["blob"])  # wiped to epoch 2; the receipt never arrives
    assert world.call("DELETE", f"{CABLE}/handover", FM_A).status_code == 200
    cable.charge(3)  # A1's sessions
    foreign = cable.batch(0)
    r = world.call("PUT", f"{CABLE}/assignment", FM_A, json={"driver_email": DRIVER_A2})
    assert r.status_code == 200, r.text
    # A2's first connect carries the late receipt (hello's); A2 must still start clean.
    assert app_connect(world, DRIVER_A2) == ["wipe"]
    r = world.upload(DRIVER_A2, CABLE_A, foreign)
    assert r.status_code == 409
    assert sessions_of(world, DRIVER_A2) == set()
    cable.charge(1)
    r = world.upload(DRIVER_A2, CABLE_A, cable.batch(0))
    assert r.status_code == 200, r.text
    assert sessions_of(world, DRIVER_A2) == {(3, 1)}


def test_h3_h5_colluding_drivers_cannot_pass_a_fresh_hello_to_each_other(world: World) -> None:
    """Red team, finding 9: the old driver's fresh "empty" hello at the new driver's connect.

    A keeps the cable after the handover wipe. A's app fetches a challenge (as A), the
    cable signs it into an empty hello; A charges, and passes that minute-old hello to B.
    Were the challenge only per cable, B's connect would confirm the clean start with it
    and A's later sessions would sync into B's account. It is bound to the account that
    fetched it: B is refused, and B's own connect finds A's sessions and wipes them.
    """
    a1_synced(world)
    cable = world.cables[CABLE_A]
    r = world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    assert r.status_code == 200, r.text
    assert app_connect(world, DRIVER_A1) == ["wipe"]  # A's app carries the wipe: epoch 1
    empty_hello = cable.hello(DRIVER_A1)  # A's challenge, signed by the cable: seq 0
    assert empty_hello["head"]["seq"] == 0
    cable.charge(3)  # A charges on in B's epoch
    a_sessions = cable.batch(0)
    world.clock.advance(minutes=1)  # well within the challenge's window
    r = world.call("POST", f"/api/v1/app/cables/{CABLE_A}/connect", DRIVER_A2, json=empty_hello)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "bad_hello"
    assert "fetched by your account" in r.json()["message"]
    assert "fetch a new challenge" in r.json()["message"]
    r = world.upload(DRIVER_A2, CABLE_A, a_sessions)
    assert (r.status_code, r.json()["error"]) == (409, "clean_start_pending")
    # B's own app: a challenge of B's, the cable's true state, a clean-start wipe.
    assert app_connect(world, DRIVER_A2) == ["wipe"]
    r = world.upload(DRIVER_A2, CABLE_A, a_sessions)
    assert (r.status_code, r.json()["error"]) == (409, "stale_epoch")
    assert sessions_of(world, DRIVER_A2) == set()

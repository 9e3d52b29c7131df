"""Fleet operations (R1, R2, P8, H1, H4) through the real app, on both databases."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from cablepin.cloud.services import audit

from .conftest import (
    CABLE_A,
    CABLE_B,
    DRIVER_A1,
    DRIVER_A2,
    DRIVER_B1,
    FM_A,
    FM_B,
    PASSWORD,
    SUPPORT,
    World,
    assigned_world,
)

CABLE = f"/api/v1/cables/{CABLE_A}"


def pin_commands(world: World, who: str) -> list[str]:
    r = world.connect(who, CABLE_A)
    assert r.status_code == 200, r.text
    return [c["kind"] for c in r.json()["commands"]]


def test_r1_assignment_only_when_cable_has_no_driver(world: World) -> None:
    r = world.call("PUT", f"{CABLE}/assignment", FM_A, json={"driver_email": DRIVER_A1})
    assert r.status_code == 200
    assert r.json() == {
        "serial": CABLE_A,
        "driver_email": DRIVER_A1,
        "epoch": 0,
    }
    r = world.call("PUT", f"{CABLE}/assignment", FM_A, json={"driver_email": DRIVER_A2})
    assert r.status_code == 409
    assert r.json()["error"] == "has_driver"
    assert "handover" in r.json()["message"]
    r = world.call(
        "PUT", f"/api/v1/cables/{CABLE_B}/assignment", FM_B, json={"driver_email": DRIVER_A1}
    )
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_driver"


def test_r1_other_organisation_cable_is_unknown(world: World) -> None:
    for path in (f"/api/v1/cables/{CABLE_B}", "/api/v1/cables/CBL-99999999"):
        r = world.call("GET", path, FM_A)
        assert r.status_code == 404
        assert r.json()["error"] == "unknown_cable"
    listed = world.call("GET", "/api/v1/cables", FM_A).json()["items"]
    assert CABLE_B not in {c["serial"] for c in listed}
    why = {"reason": "ticket 3"}
    everything = world.call("GET", "/api/v1/cables", SUPPORT, params=why).json()["items"]
    assert CABLE_B in {c["serial"] for c in everything}
    one = world.call("GET", "/api/v1/cables", SUPPORT, params={"serial": CABLE_B, **why})
    assert [c["serial"] for c in one.json()["items"]] == [CABLE_B]


def test_r1_support_reads_cables_and_the_audit_log_only_with_a_reason_and_audited(
    world: World,
) -> None:
    """Red team, finding 7: support read other organisations without a reason or a trace."""
    assigned_world(world)
    reads = (
        ("/api/v1/cables", "support.cables_read"),
        (f"/api/v1/cables/{CABLE_B}", "support.cable_read"),
        ("/api/v1/audit", "support.audit_read"),
    )
    for path, _action in reads:
        for params in ({}, {"reason": "  "}):
            r = world.call("GET", path, SUPPORT, params=params)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["error"] == "reason_required"
            assert "reason" in r.json()["message"]
    seen = {e["action"] for e in world.call("GET", "/api/v1/audit", FM_B).json()["items"]}
    assert not {a for a in seen if a.startswith("support.")}
    for path, action in reads:
        r = world.call("GET", path, SUPPORT, params={"reason": f"ticket 8 {action}"})
        assert r.status_code == 200, r.text
    detail = world.call("GET", f"/api/v1/cables/{CABLE_B}", SUPPORT, params={"reason": "t"})
    assert detail.json()["driver_email"] == DRIVER_B1
    # Organisation B's fleet manager sees each read, by whom and why; A's sees the list and
    # the audit log read (they showed A's data too), but not B's cable page.
    b_log = world.call("GET", "/api/v1/audit", FM_B).json()["items"]
    for _path, action in reads:
        [event] = [e for e in b_log if e["action"] == action and e["reason"] != "t"]
        assert event["actor_email"] == SUPPORT
        assert event["actor_role"] == "support"
        assert event["reason"] == f"ticket 8 {action}"
    [page] = [e for e in b_log if e["action"] == "support.cable_read" and e["reason"] != "t"]
    assert page["target"] == CABLE_B
    a_log = {e["action"] for e in world.call("GET", "/api/v1/audit", FM_A).json()["items"]}
    assert {"support.cables_read", "support.audit_read"} <= a_log
    assert "support.cable_read" not in a_log
    # Fleet managers and drivers read their own organisation without a reason.
    assert world.call("GET", f"/api/v1/cables/{CABLE_A}", FM_A).status_code == 200
    assert world.call("GET", "/api/v1/cables", FM_A).status_code == 200


def test_p8_pin_reset_is_single_use_and_only_for_the_assignee(world: World) -> None:
    assigned_world(world)
    r = world.call("POST", f"{CABLE}/pin-reset", FM_A, json={})
    assert r.status_code == 200, r.text
    allowed = r.json()
    assert allowed["driver_email"] == DRIVER_A1
    assert allowed["state"] == "pending"
    expires = dt.datetime.fromisoformat(allowed["expires_at"])
    assert expires - world.clock() == dt.timedelta(days=7)
    assert world.call("GET", CABLE, FM_A).json()["pin_reset_pending"] is True
    assert pin_commands(world, DRIVER_A2) == []  # another driver of the org gets nothing
    r = world.connect(DRIVER_A1, CABLE_A)
    [cmd] = r.json()["commands"]
    assert cmd["kind"] == "allow_pin_set"
    receipt = world.cables[CABLE_A].apply(cmd["blob"])
    assert pin_commands(world, DRIVER_A1) == []  # leased to the first connection
    r = world.call(
        "POST", f"/api/v1/app/cables/{CABLE_A}/receipts", DRIVER_A1, json={"receipt": receipt}
    )
    assert r.status_code == 200
    assert r.json()["state"] == "done"
    again = world.call(
        "POST", f"/api/v1/app/cables/{CABLE_A}/receipts", DRIVER_A1, json={"receipt": receipt}
    )
    assert again.status_code == 200  # idempotent, used once
    world.clock.advance(hours=1)
    assert pin_commands(world, DRIVER_A1) == []
    actions = [e["action"] for e in world.call("GET", "/api/v1/audit", FM_A).json()["items"]]
    assert actions.count("pin_reset.used") == 1
    assert "pin_reset.allowed" in actions


def test_p8_unused_lease_falls_back_to_pending(world: World) -> None:
    assigned_world(world)
    world.call("POST", f"{CABLE}/pin-reset", FM_A, json={"expires_in_days": 1})
    assert pin_commands(world, DRIVER_A1) == ["allow_pin_set"]
    world.clock.advance(minutes=11)  # the signed copy's lifetime is 10 minutes
    assert pin_commands(world, DRIVER_A1) == ["allow_pin_set"]


def test_p8_permission_expires_and_can_be_revoked(world: World) -> None:
    assigned_world(world)
    r = world.call("POST", f"{CABLE}/pin-reset", FM_A, json={"expires_in_days": 31})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"
    world.call("POST", f"{CABLE}/pin-reset", FM_A, json={"expires_in_days": 1})
    r = world.call("POST", f"{CABLE}/pin-reset", FM_A, json={})
    assert r.status_code == 409
    assert "revoke" in r.json()["message"]
    world.clock.advance(days=1, seconds=1)
    assert pin_commands(world, DRIVER_A1) == []
    assert world.call("GET", CABLE, FM_A).json()["pending_pin_reset"] is None
    world.call("POST", f"{CABLE}/pin-reset", FM_A, json={})
    r = world.call("DELETE", f"{CABLE}/pin-reset", FM_A)
    assert r.status_code == 200
    assert r.json()["state"] == "cancelled"
    assert pin_commands(world, DRIVER_A1) == []
    r = world.call("DELETE", f"{CABLE}/pin-reset", FM_A)
    assert r.status_code == 404


def test_p8_support_must_give_a_reason(world: World) -> None:
    assigned_world(world)
    r = world.call("POST", f"{CABLE}/pin-reset", SUPPORT, json={})
    assert r.status_code == 403
    assert r.json()["error"] == "reason_required"
    r = world.call(
        "POST", f"{CABLE}/pin-reset", SUPPORT, json={"reason": "driver called, ticket 7"}
    )
    assert r.status_code == 200
    events = world.call("GET", "/api/v1/audit", FM_A).json()["items"]
    assert events[0]["actor_role"] == "support"
    assert events[0]["reason"] == "driver called, ticket 7"


def test_p8_no_pin_reset_without_driver(world: World) -> None:
    r = world.call("POST", f"{CABLE}/pin-reset", FM_A, json={})
    assert r.status_code == 409
    assert r.json()["error"] == "no_driver"


def test_h1_h4_handover_pending_then_done(world: World) -> None:
    assigned_world(world)
    world.relay(DRIVER_A1, CABLE_A)
    world.cables[CABLE_A].charge(1)
    world.upload(DRIVER_A1, CABLE_A, world.cables[CABLE_A].batch(0))
    world.call("POST", f"{CABLE}/pin-reset", FM_A, json={})
    r = world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    assert r.status_code == 200, r.text
    handover = r.json()
    assert handover["state"] == "pending"
    assert handover["last_sync_at"] is not None
    assert handover["from_driver_email"] == DRIVER_A1
    assert handover["to_driver_email"] == DRIVER_A2
    detail = world.call("GET", CABLE, FM_A).json()
    assert detail["driver_email"] is None
    assert detail["handover_pending"] is True
    assert detail["pending_pin_reset"] is None  # a handover voids the PIN permission
    assert detail["last_sync_at"] is not None
    r = world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": None})
    assert r.status_code == 409
    assert r.json()["error"] == "wipe_pending"
    # H2: whoever's app connects first relays the wipe (here a third driver of the org).
    assert world.relay(DRIVER_A2, CABLE_A) == ["wipe"]
    detail = world.call("GET", CABLE, FM_A).json()
    assert detail["driver_email"] == DRIVER_A2
    assert detail["epoch"] == 1
    assert detail["pending_handover"] is None
    assert detail["synced_seq"] == 0
    wipes = [c for c in detail["commands"] if c["kind"] == "wipe"]
    assert [c["state"] for c in wipes] == ["done"]
    assert wipes[0]["done_at"] is not None


def test_h4_cancel_gives_the_cable_back(world: World) -> None:
    assigned_world(world)
    world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": None})
    r = world.call("DELETE", f"{CABLE}/handover", FM_A)
    assert r.status_code == 200
    assert r.json()["state"] == "cancelled"
    assert world.call("GET", CABLE, FM_A).json()["driver_email"] == DRIVER_A1
    assert world.relay(DRIVER_A1, CABLE_A) == []
    r = world.call("DELETE", f"{CABLE}/handover", FM_A)
    assert r.status_code == 404


def test_h1_handover_to_pool_then_assign(world: World) -> None:
    assigned_world(world)
    world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": None})
    assert world.relay(DRIVER_A1, CABLE_A) == ["wipe"]
    assert world.connect(DRIVER_A1, CABLE_A).json()["assigned"] is False
    r = world.call("PUT", f"{CABLE}/assignment", FM_A, json={"driver_email": DRIVER_A2})
    assert r.status_code == 200
    assert r.json()["epoch"] == 1


def test_h1_support_reset_keeps_the_driver(world: World) -> None:
    assigned_world(world)
    r = world.call("POST", f"{CABLE}/reset", SUPPORT, json={"reason": ""})
    assert r.status_code == 422
    r = world.call("POST", f"{CABLE}/reset", SUPPORT, json={"reason": "cable returned for repair"})
    assert r.status_code == 200
    assert r.json()["purpose"] == "reset"
    assert world.relay(DRIVER_A1, CABLE_A) == ["wipe"]
    detail = world.call("GET", CABLE, FM_A).json()
    assert detail["driver_email"] == DRIVER_A1
    assert detail["epoch"] == 1
    r = world.call("POST", f"{CABLE}/reset", FM_A, json={"reason": "x"})
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"


def test_s3_session_listing_scope(world: World) -> None:
    assigned_world(world)
    world.relay(DRIVER_A1, CABLE_A)
    world.cables[CABLE_A].charge(2)
    world.upload(DRIVER_A1, CABLE_A, world.cables[CABLE_A].batch(0))
    assert (
        len(
            world.call("GET", "/api/v1/sessions", FM_A, params={"driver_email": DRIVER_A1}).json()[
                "items"
            ]
        )
        == 2
    )
    assert world.call("GET", "/api/v1/sessions", FM_B).json()["items"] == []
    r = world.call("GET", "/api/v1/sessions", FM_B, params={"driver_email": DRIVER_A1})
    assert r.status_code == 404
    r = world.call("GET", "/api/v1/sessions", DRIVER_A2, params={"driver_email": DRIVER_A1})
    assert r.status_code == 403
    assert world.call("GET", "/api/v1/sessions", DRIVER_B1).json()["items"] == []
    everything = world.call("GET", "/api/v1/sessions", SUPPORT, params={"reason": "ticket 5"})
    assert len(everything.json()["items"]) == 2


def test_s3_r1_support_reads_sessions_only_with_a_reason_and_is_audited(world: World) -> None:
    assigned_world(world)
    world.relay(DRIVER_A1, CABLE_A)
    world.cables[CABLE_A].charge(2)
    world.upload(DRIVER_A1, CABLE_A, world.cables[CABLE_A].batch(0))
    for params in ({}, {"reason": "  "}):
        r = world.call("GET", "/api/v1/sessions", SUPPORT, params=params)
        assert r.status_code == 403
        assert r.json()["error"] == "reason_required"
        assert "reason" in r.json()["message"]
    r = world.call(
        "GET",
        "/api/v1/sessions",
        SUPPORT,
        params={"driver_email": DRIVER_A1, "reason": "reimbursement dispute, ticket 11"},
    )
    assert r.status_code == 200
    assert len(r.json()["items"]) == 2
    events = world.call("GET", "/api/v1/audit", FM_A).json()["items"]
    [read] = [e for e in events if e["action"] == "support.sessions_read"]
    assert read["actor_role"] == "support"
    assert read["reason"] == "reimbursement dispute, ticket 11"
    assert read["details"]["sessions"] == 2
    # The other organisation's fleet managers do not see it; fleet managers need no reason.
    other = world.call("GET", "/api/v1/audit", FM_B).json()["items"]
    assert "support.sessions_read" not in {e["action"] for e in other}
    assert world.call("GET", "/api/v1/sessions", FM_A).status_code == 200
    assert world.call("GET", "/api/v1/sessions", DRIVER_A1).status_code == 200


def test_r2_audit_is_per_org_and_tamper_evident(world: World) -> None:
    assigned_world(world)
    world.call("POST", f"{CABLE}/handover", FM_A, json={"driver_email": DRIVER_A2})
    a = world.call("GET", "/api/v1/audit", FM_A).json()["items"]
    b = world.call("GET", "/api/v1/audit", FM_B).json()["items"]
    assert {e["target"] for e in a} >= {CABLE_A}
    assert CABLE_A not in {e["target"] for e in b}
    assert "handover.started" in [e["action"] for e in a]
    with world.session() as db:
        checked, broken = audit.verify(db)
        assert broken is None
        assert checked >= 5
        db.execute(text("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3"))
        db.commit()
        _, broken = audit.verify(db)
        assert broken is not None
        assert broken.seq == 3


def test_r1_login_failures_are_throttled_in_the_database(world: World) -> None:
    for _ in range(4):
        r = world.client.post("/api/v1/auth/login", json={"email": FM_A, "password": "wrong!"})
        assert r.status_code == 401
        assert r.json()["error"] == "unauthorized"
    r = world.client.post("/api/v1/auth/login", json={"email": FM_A, "password": "wrong!"})
    assert r.status_code == 401
    assert "wait" in r.json()["message"]
    r = world.client.post("/api/v1/auth/login", json={"email": FM_A, "password": PASSWORD})
    assert r.status_code == 429
    assert r.json()["retry_after_s"] == 30
    assert r.headers["Retry-After"] == "30"
    world.clock.advance(seconds=31)
    r = world.client.post("/api/v1/auth/login", json={"email": FM_A, "password": PASSWORD})
    assert r.status_code == 200
    events = world.call("GET", "/api/v1/audit", FM_A).json()["items"]
    assert "login.failure_burst" in [e["action"] for e in events]


def test_r1_logout_revokes_and_tokens_expire(world: World) -> None:
    token = world.token(DRIVER_A1)
    me = world.call("GET", "/api/v1/me", DRIVER_A1).json()
    assert me["email"] == DRIVER_A1
    assert me["org"] == "Fleet A"
    assert me["role"] == "driver"
    r = world.client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json() == {"revoked": True}
    r = world.call("GET", "/api/v1/me", DRIVER_A1)
    assert r.status_code == 401
    assert "log in again" in r.json()["message"]
    del world.tokens[DRIVER_A1]
    world.token(DRIVER_A1)
    world.clock.advance(days=15)
    assert world.call("GET", "/api/v1/me", DRIVER_A1).status_code == 401


def test_u2_errors_have_our_shape(world: World) -> None:
    r = world.client.post("/api/v1/auth/login", json={"email": FM_A})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"
    assert "password" in r.json()["message"]
    r = world.client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    r = world.client.get("/api/v1/me")
    assert r.status_code == 401
    assert "log in" in r.json()["message"]
    assert world.client.get("/healthz").json()["status"] == "ok"
    assert "BEGIN CERTIFICATE" in world.client.get("/api/v1/factory-ca").json()["factory_ca_pem"]

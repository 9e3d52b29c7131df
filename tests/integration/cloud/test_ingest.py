"""Session ingest (S1, S2, S3, H2, H3): what the cloud accepts and refuses, on both databases."""

from __future__ import annotations

import base64
import dataclasses

from sqlalchemy import func, select

from cablepin.cloud.models import ChargingSession

from .conftest import CABLE_A, DRIVER_A1, DRIVER_A2, FM_A, World, assigned_world


def stored(world: World) -> int:
    with world.session() as db:
        return int(db.scalar(select(func.count()).select_from(ChargingSession)) or 0)


def synced(world: World, who: str = DRIVER_A1) -> World:
    assigned_world(world)
    world.relay(who, CABLE_A)
    world.cables[CABLE_A].charge(5)
    return world


def test_s1_incremental_and_idempotent_sync(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    first = world.upload(DRIVER_A1, CABLE_A, cable.sign_batch(cable.records[:2]))
    assert first.json() == {"accepted": 2, "duplicates": 0, "synced": {"epoch": 0, "seq": 2}}
    # An interrupted sync repeats: overlapping batch, nothing stored twice.
    again = world.upload(DRIVER_A1, CABLE_A, cable.sign_batch(cable.records[1:5]))
    assert again.status_code == 200, again.text
    assert again.json() == {"accepted": 3, "duplicates": 1, "synced": {"epoch": 0, "seq": 5}}
    same = world.upload(DRIVER_A1, CABLE_A, cable.batch(0))
    assert same.json()["accepted"] == 0
    assert same.json()["duplicates"] == 5
    assert stored(world) == 5
    listed = world.call("GET", "/api/v1/sessions", DRIVER_A1).json()["items"]
    assert sorted(s["seq"] for s in listed) == [1, 2, 3, 4, 5]


def test_s2_altered_record_is_refused(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    body = cable.batch(0)
    body["records"][2][3] += 1000  # more watt-hours than the cable measured
    r = world.upload(DRIVER_A1, CABLE_A, body)
    assert r.status_code == 422
    assert r.json()["error"] == "chain_broken"
    assert "sync again" in r.json()["message"]
    assert stored(world) == 0


def test_s2_dropped_record_is_refused(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    body = cable.batch(0)
    del body["records"][2]
    r = world.upload(DRIVER_A1, CABLE_A, body)
    assert r.status_code == 422
    assert r.json()["error"] == "chain_broken"
    assert stored(world) == 0


def test_s2_reordered_records_are_refused(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    body = cable.batch(0)
    body["records"][1], body["records"][2] = body["records"][2], body["records"][1]
    r = world.upload(DRIVER_A1, CABLE_A, body)
    assert r.status_code == 422
    assert r.json()["error"] == "chain_broken"
    assert stored(world) == 0


def test_s2_gap_after_the_head_is_refused(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    r = world.upload(DRIVER_A1, CABLE_A, cable.sign_batch(cable.records[2:]))
    assert r.status_code == 422
    assert r.json()["error"] == "chain_broken"
    assert r.json()["synced_seq"] == 0


def test_s2_unsigned_or_forged_batch_is_refused(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    body = cable.batch(0)
    body["head_sig"] = base64.b64encode(bytes(64)).decode()
    r = world.upload(DRIVER_A1, CABLE_A, body)
    assert r.status_code == 422
    assert r.json()["error"] == "chain_broken"
    body["head_sig"] = ""
    r = world.upload(DRIVER_A1, CABLE_A, body)
    assert r.status_code == 422
    assert r.json()["error"] == "chain_broken"
    # A different key (a fake cable) signs its own chain: refused too.
    other = dataclasses.replace(cable, device_key=world.keys.ca_key)
    r = world.upload(DRIVER_A1, CABLE_A, other.batch(0))
    assert r.status_code == 422
    assert r.json()["error"] == "chain_broken"
    assert stored(world) == 0


def test_s2_malformed_records_are_refused_with_our_error_shape(world: World) -> None:
    synced(world)
    r = world.upload(DRIVER_A1, CABLE_A, {"epoch": 0, "records": [[1, 2, 3]], "head_sig": "AA=="})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"
    r = world.upload(DRIVER_A1, CABLE_A, {"epoch": 0, "records": "nope"})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"
    assert "fix it" in r.json()["message"]


def test_h3_wrong_epoch_batch_is_refused(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    r = world.upload(DRIVER_A1, CABLE_A, cable.sign_batch(cable.records, epoch=1))
    assert r.status_code == 409
    assert r.json()["error"] == "stale_epoch"
    assert stored(world) == 0


def test_s3_unassigned_driver_cannot_upload(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    r = world.upload(DRIVER_A2, CABLE_A, cable.batch(0))
    assert r.status_code == 403
    assert r.json()["error"] == "not_assigned"
    assert "fleet manager" in r.json()["message"]


def test_h2_uploads_refused_while_wipe_pending(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    r = world.call(
        "POST", f"/api/v1/cables/{CABLE_A}/handover", FM_A, json={"driver_email": DRIVER_A2}
    )
    assert r.status_code == 200, r.text
    for who in (DRIVER_A1, DRIVER_A2):
        r = world.upload(who, CABLE_A, cable.batch(0))
        assert r.status_code == 409
        assert r.json()["error"] == "wipe_pending"
    assert stored(world) == 0


def test_h3_previous_assignee_cannot_upload_after_handover(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    old_batch = cable.batch(0)  # signed before the wipe: sessions of driver 1
    world.call("POST", f"/api/v1/cables/{CABLE_A}/handover", FM_A, json={"driver_email": DRIVER_A2})
    # Whoever connects first relays the wipe (H2): here the old driver's app.
    assert world.relay(DRIVER_A1, CABLE_A) == ["wipe"]
    assert cable.epoch == 1
    assert cable.records == []
    r = world.upload(DRIVER_A1, CABLE_A, old_batch)
    assert r.status_code == 403
    assert r.json()["error"] == "not_assigned"
    # The new driver cannot claim the old sessions either: they are from epoch 0.
    r = world.upload(DRIVER_A2, CABLE_A, old_batch)
    assert r.status_code == 409
    assert r.json()["error"] == "stale_epoch"
    # The new driver's first connect sees the cable empty in the new epoch: clean, no wipe.
    assert world.relay(DRIVER_A2, CABLE_A) == []
    cable.charge(2)
    r = world.upload(DRIVER_A2, CABLE_A, cable.batch(0))
    assert r.status_code == 200
    assert r.json()["synced"] == {"epoch": 1, "seq": 2}
    mine = world.call("GET", "/api/v1/sessions", DRIVER_A2).json()["items"]
    assert {(s["epoch"], s["seq"]) for s in mine} == {(1, 1), (1, 2)}
    assert world.call("GET", "/api/v1/sessions", DRIVER_A1).json()["items"] == []


def test_h4_lost_wipe_receipt_is_proven_at_next_connect(world: World) -> None:
    cable = synced(world).cables[CABLE_A]
    world.call("POST", f"/api/v1/cables/{CABLE_A}/handover", FM_A, json={"driver_email": DRIVER_A2})
    r = world.connect(DRIVER_A2, CABLE_A)
    cable.apply(r.json()["commands"][0]["blob"])  # applied, but the receipt never reached us
    assert (
        world.upload(
            DRIVER_A2, CABLE_A, {"epoch": 1, "records": [[1, 1, 2, 1, 0, 1, 1]], "head_sig": "AA=="}
        ).json()["error"]
        == "wipe_pending"
    )
    receipt = base64.b64encode(cable.last_receipt or b"").decode()
    r = world.connect(DRIVER_A2, CABLE_A, receipt=receipt)
    assert r.status_code == 200, r.text
    assert r.json()["commands"] == []
    assert r.json()["assigned"] is True
    assert r.json()["synced"] == {"epoch": 1, "seq": 0}
    detail = world.call("GET", f"/api/v1/cables/{CABLE_A}", FM_A).json()
    assert detail["driver_email"] == DRIVER_A2
    assert detail["pending_handover"] is None
    assert detail["commands"][0]["state"] == "done"
    assert detail["commands"][0]["done_at"]


def test_h5_forged_receipt_is_refused(world: World) -> None:
    synced(world)
    world.call(
        "POST",
        f"/api/v1/cables/{CABLE_A}/reset",
        "support@vendor.example",
        json={"reason": "ticket 42"},
    )
    r = world.connect(DRIVER_A1, CABLE_A)
    blob = r.json()["commands"][0]["blob"]
    forger = dataclasses.replace(world.cables[CABLE_A], device_key=world.keys.command_key)
    receipt = forger.apply(blob)
    r = world.call(
        "POST", f"/api/v1/app/cables/{CABLE_A}/receipts", DRIVER_A1, json={"receipt": receipt}
    )
    assert r.status_code == 422
    assert r.json()["error"] == "bad_receipt"
    detail = world.call("GET", f"/api/v1/cables/{CABLE_A}", FM_A).json()
    assert detail["epoch"] == 0
    assert detail["handover_pending"] is True

"""M6: a receipt's evidence bundle, checked by `cablepin verify-receipt` as a process
with nothing but the factory CA; refused after each kind of tampering."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cablepin.cloud.models import ChainHead
from cablepin.protocol import pki
from cablepin.protocol.chain import Head, Record, link, sign_head

from .billing_helpers import at, charge_at, set_policy, submit, sync, verified_tariff
from .conftest import (
    CABLE_A,
    CABLE_A2,
    DRIVER_A1,
    DRIVER_A2,
    DRIVER_B1,
    FM_A,
    FM_B,
    SUPPORT,
    World,
    assigned_world,
)

CABLEPIN = str(Path(sys.executable).parent / "cablepin")


def receipt_with_evidence(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """Five November sessions synced in two batches; the receipt takes 1, 2, 4 (not 3, 5)."""
    assigned_world(world)
    set_policy(world, FM_A, 2023)
    verified_tariff(world, DRIVER_A1, FM_A, price="0.3275", valid_to="2023-11-15")
    verified_tariff(world, DRIVER_A1, FM_A, price="0.29", valid_from="2023-11-16")
    cable = world.cables[CABLE_A]
    for day, wh in ((2, 7001), (9, 12345), (12, 3333)):
        charge_at(cable, at(2023, 11, day), wh=wh)
    sync(world, DRIVER_A1, CABLE_A)
    for day, wh in ((20, 999), (27, 4444)):
        charge_at(cable, at(2023, 11, day), wh=wh)
    sync(world, DRIVER_A1, CABLE_A)
    sessions = world.call("GET", "/api/v1/me/months/2023-11", DRIVER_A1).json()["sessions"]
    exclude = [sessions[2]["id"], sessions[4]["id"]]
    r = submit(world, DRIVER_A1, "2023-11", exclude=exclude)
    assert r.status_code == 201, r.text
    receipt = r.json()
    e = world.call("GET", f"/api/v1/receipts/{receipt['id']}/evidence", DRIVER_A1)
    assert e.status_code == 200, e.text
    return receipt, e.json()


def verify(tmp_path: Path, world: World, bundle: dict[str, Any], name: str) -> Any:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(bundle))
    ca = tmp_path / "factory-ca.pem"
    ca.write_bytes(pki.certificate_pem(world.keys.ca_cert))
    return subprocess.run(
        [CABLEPIN, "verify-receipt", str(path), "--factory-ca", str(ca), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def resign(world: World, bundle: dict[str, Any], key: Any) -> None:
    """Sign the bundle's (possibly altered) chain head again with ``key``."""
    chain = bundle["cables"][0]["chains"][0]
    running = base64.b64decode(chain["previous"]["hash"])
    for wire in chain["records"]:
        running = link(running, Record(*wire))
    seq = chain["records"][-1][0]
    sig = sign_head(Head(CABLE_A, chain["epoch"], seq, running), key)
    chain["head"] = {"seq": seq, "hash": base64.b64encode(running).decode()}
    chain["head_sig"] = base64.b64encode(sig).decode()


def test_m6_cloud_keeps_every_head_it_verified(world: World) -> None:
    receipt, bundle = receipt_with_evidence(world)
    with world.session() as db:
        heads = db.scalars(select(ChainHead).order_by(ChainHead.seq)).all()
        assert [(h.epoch, h.seq) for h in heads] == [(0, 3), (0, 5)]
    # Sessions 1..4 are proven by the first head that covers session 4: seq 5.
    chain = bundle["cables"][0]["chains"][0]
    assert chain["previous"]["seq"] == 0
    assert [r[0] for r in chain["records"]] == [1, 2, 3, 4, 5]
    assert chain["head"]["seq"] == 5
    assert [line["seq"] for line in bundle["lines"]] == [1, 2, 4]
    assert {p["ref"] for p in bundle["prices"]} == {line["price_ref"] for line in bundle["lines"]}
    assert all("verified by fm@a.example" in p["source"] for p in bundle["prices"])
    assert bundle["receipt"]["amount"] == receipt["amount"]
    assert len(bundle["cables"][0]["certificate_sha256"]) == 64


def test_m6_evidence_is_visible_to_its_driver_the_fleet_and_support_with_reason(
    world: World,
) -> None:
    receipt, _bundle = receipt_with_evidence(world)
    path = f"/api/v1/receipts/{receipt['id']}/evidence"
    assert world.call("GET", path, FM_A).status_code == 200
    for who in (DRIVER_A2, DRIVER_B1, FM_B):
        r = world.call("GET", path, who)
        assert (r.status_code, r.json()["error"]) == (404, "unknown_receipt"), who
    assert world.call("GET", path, SUPPORT).json()["error"] == "reason_required"
    assert world.call("GET", path + "?reason=audit request", SUPPORT).status_code == 200


@pytest.mark.slow
def test_m6_verify_receipt_accepts_genuine_and_names_each_alteration(
    world: World, tmp_path: Path
) -> None:
    receipt, bundle = receipt_with_evidence(world)
    ok = verify(tmp_path, world, bundle, "genuine")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    out = json.loads(ok.stdout)
    assert out["ok"] is True
    assert (out["total_wh"], out["amount"]) == (receipt["total_wh"], receipt["amount"])
    assert out["total_wh"] == 7001 + 12345 + 999

    cases: dict[str, tuple[dict[str, Any], str]] = {}
    # One Wh altered: in the signed record (and so on the line too).
    altered = copy.deepcopy(bundle)
    altered["cables"][0]["chains"][0]["records"][1][3] += 1
    altered["lines"][1]["wh"] += 1
    cases["wh"] = (altered, "do not match the head the cable signed")
    # Only the line altered: the cable signed something else.
    line_only = copy.deepcopy(bundle)
    line_only["lines"][0]["wh"] -= 1
    cases["line"] = (line_only, "the cable signed 7001")
    # One session dropped from the middle of the chain.
    dropped = copy.deepcopy(bundle)
    del dropped["cables"][0]["chains"][0]["records"][2]
    cases["dropped"] = (dropped, "records were dropped")
    # A price changed (in the source and on the lines, amount kept).
    price = copy.deepcopy(bundle)
    ref = price["lines"][0]["price_ref"]
    for entry in price["prices"]:
        if entry["ref"] == ref:
            entry["price"] = "0.4275"
    for line in price["lines"]:
        if line["price_ref"] == ref:
            line["price"] = "0.4275"
    cases["price"] = (price, "its lines come to")
    # A price changed on one line only.
    line_price = copy.deepcopy(bundle)
    line_price["lines"][0]["price"] = "0.9"
    cases["line_price"] = (line_price, "its source")
    # The head signed by another cable (another device key) over the same records.
    other_key = pki.generate_key()
    forged = copy.deepcopy(bundle)
    resign(world, forged, other_key)
    cases["other_cable_sig"] = (forged, "do not match the head the cable signed")
    # Another genuine cable's certificate and signature: not the cable of these sessions.
    swapped = copy.deepcopy(bundle)
    other = world.cables[CABLE_A2]
    swapped["cables"][0]["certificate"] = other.cert_pem.decode()
    cases["other_cert"] = (swapped, f"belongs to {CABLE_A2}")
    for name, (tampered, words) in cases.items():
        result = verify(tmp_path, world, tampered, name)
        assert result.returncode != 0, name
        error = json.loads(result.stdout)
        assert error["ok"] is False, name
        assert error["error"] == "evidence_mismatch", name
        assert words in error["message"], (name, error["message"])
    # Without --json: one line on stderr.
    path = tmp_path / "dropped.json"
    ca = tmp_path / "factory-ca.pem"
    text = subprocess.run(
        [CABLEPIN, "verify-receipt", str(path), "--factory-ca", str(ca)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert text.returncode == 1
    assert text.stderr.startswith("error: the records of CBL-00000001 epoch 0")

"""Helpers of the reimbursement tests: sessions at chosen times, tariffs, receipts.

Everything goes through the HTTP API of the real app (``World.call``); the
fake cable signs its records and heads like the firmware.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cablepin.protocol.chain import Record

from .conftest import CABLE_A, CABLE_B, DRIVER_A1, DRIVER_B1, FM_A, FM_B, World, assigned_world
from .fakes import FakeCable

BERLIN = dt.timezone(dt.timedelta(hours=1))  # winter time: the months used here are Nov-Feb
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def at(year: int, month: int, day: int, hour: int = 20) -> int:
    """Epoch seconds of a local (Berlin, winter) time."""
    return int(dt.datetime(year, month, day, hour, tzinfo=BERLIN).timestamp())


def charge_at(cable: FakeCable, start_s: int, wh: int = 7000, minutes: int = 90) -> Record:
    seq = len(cable.records) + 1
    meter = sum(r.wh for r in cable.records)
    record = Record(seq, start_s, start_s + minutes * 60, wh, meter, meter + wh, 11000)
    cable.records.append(record)
    return record


def sync(world: World, who: str, serial: str) -> Any:
    """Upload every record the cloud has not got yet, like the app does."""
    r = world.call(
        "POST", f"/api/v1/app/cables/{serial}/connect", who, json=world.cables[serial].hello(who)
    )
    assert r.status_code == 200, r.text
    after = r.json()["synced"]["seq"]
    r = world.upload(who, serial, world.cables[serial].batch(after))
    assert r.status_code == 200, r.text
    return r.json()


def set_policy(world: World, fm: str, year: int, method: str = "contract", **extra: Any) -> Any:
    r = world.call("PUT", f"/api/v1/billing/policy/{year}", fm, json={"method": method, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def upload_tariff(
    world: World,
    who: str,
    *,
    price: str | None = "0.3275",
    valid_from: str = "2023-01-01",
    valid_to: str = "2023-12-31",
    document: bytes = PDF,
    name: str = "contract.pdf",
    monthly_prices: str | None = None,
) -> Any:
    data = {"valid_from": valid_from, "valid_to": valid_to}
    if price is not None:
        data["price"] = price
    if monthly_prices is not None:
        data["monthly_prices"] = monthly_prices
    return world.call(
        "POST",
        "/api/v1/me/tariffs",
        who,
        data=data,
        files={"document": (name, document, "application/octet-stream")},
    )


def verified_tariff(world: World, who: str, fm: str, **kwargs: Any) -> int:
    r = upload_tariff(world, who, **kwargs)
    assert r.status_code == 201, r.text
    tariff_id: int = r.json()["id"]
    v = world.call("POST", f"/api/v1/tariffs/{tariff_id}/verify", fm)
    assert v.status_code == 200, v.text
    return tariff_id


def submit(world: World, who: str, month: str, exclude: list[int] | None = None) -> Any:
    body: dict[str, Any] = {"month": month}
    if exclude is not None:
        body["exclude"] = exclude
    return world.call("POST", "/api/v1/me/receipts", who, json=body)


def billing_world(world: World) -> dict[str, int]:
    """Both organisations with a 2023 policy, a verified tariff, three synced November
    sessions and a submitted receipt each; returns the ids (own = A, other = B)."""
    assigned_world(world)
    ids: dict[str, int] = {}
    for serial, driver, fm, org in (
        (CABLE_A, DRIVER_A1, FM_A, "a"),
        (CABLE_B, DRIVER_B1, FM_B, "b"),
    ):
        set_policy(world, fm, 2023)
        ids[f"tariff_{org}"] = verified_tariff(world, driver, fm)
        for day in (3, 10, 17):
            charge_at(world.cables[serial], at(2023, 11, day), wh=7000 + day)
        sync(world, driver, serial)
        r = submit(world, driver, "2023-11")
        assert r.status_code == 201, r.text
        ids[f"receipt_{org}"] = r.json()["id"]
    return ids

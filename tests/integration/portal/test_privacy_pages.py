"""D1 and D2 in the portal: a driver downloads their data from their area; a fleet
manager downloads a driver's data (audited) and erases a driver after a confirm
step (POST with CSRF); the audit log then shows "erased driver" where the name was."""

from __future__ import annotations

import httpx

from . import seed
from .conftest import csrf_of, sign_in

ANNA_NAME, ANNA = seed.DRIVERS_A[0]
BEN_NAME, BEN = seed.DRIVERS_A[1]


def _driver_id(client: httpx.Client, email: str) -> str:
    page = client.get("/drivers", params={"q": email})
    assert page.status_code == 200
    marker = 'href="/drivers/'
    for chunk in page.text.split(marker)[1:]:
        ident = chunk.split('"', 1)[0]
        if ident.isdigit() and email in client.get(f"/drivers/{ident}").text:
            return ident
    raise AssertionError(f"{email} not in the drivers list")


def test_d1_driver_downloads_their_data_from_their_area(client: httpx.Client) -> None:
    sign_in(client, ANNA)
    home = client.get("/me")
    assert 'href="/me/export"' in home.text
    r = client.get("/me/export")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data["account"]["email"] == ANNA
    assert data["sessions"]
    assert {s["serial"] for s in data["sessions"]} == {"CBL-00001001"}
    assert BEN not in r.text


def test_d1_d2_fleet_manager_exports_then_erases_a_driver_after_confirming(
    client: httpx.Client,
) -> None:
    sign_in(client, seed.FM_A)
    ben = _driver_id(client, BEN)
    page = client.get(f"/drivers/{ben}")
    assert f'href="/drivers/{ben}/export"' in page.text
    assert f'href="/drivers/{ben}/erase"' in page.text
    export = client.get(f"/drivers/{ben}/export")
    assert export.status_code == 200
    assert export.json()["account"]["email"] == BEN

    confirm = client.get(f"/drivers/{ben}/erase")
    assert confirm.status_code == 200
    assert "CBL-00001002" in confirm.text  # his cable, handed over first
    token = csrf_of(confirm.text)
    # No CSRF token: refused, nothing erased.
    r = client.post(f"/drivers/{ben}/erase", data={"confirm": "yes"})
    assert r.status_code == 403
    # Not confirmed: the page again, with the reason.
    r = client.post(f"/drivers/{ben}/erase", data={"csrf_token": token})
    assert r.status_code == 422
    assert client.get(f"/drivers/{ben}").status_code == 200
    r = client.post(f"/drivers/{ben}/erase", data={"csrf_token": token, "confirm": "yes"})
    assert r.status_code == 303
    assert r.headers["location"].startswith("/drivers?done=erased")
    assert client.get(f"/drivers/{ben}").status_code == 404
    listing = client.get("/drivers")
    assert BEN not in listing.text
    assert BEN_NAME not in listing.text

    audit = client.get("/audit")
    assert audit.status_code == 200
    assert BEN not in audit.text
    assert "gelöschter Fahrer" in audit.text  # the German portal, joined beside the chain
    cable = client.get("/cables/CBL-00001002")
    assert BEN not in cable.text
    assert BEN_NAME not in cable.text
    assert "gelöschter Fahrer" in cable.text  # his place in the cable's history
    assert client.get("/audit.csv").text.count(BEN) == 0

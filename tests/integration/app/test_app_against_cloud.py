"""The app core and its cloud client against the real cloud app, in-process.

The client talks to the FastAPI app through an httpx transport (no port, no
hand-written fake server); the cable is the real firmware on a real state
folder, reached through the same in-memory link the unit tests use.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # starlette 1.x nudges towards httpx2; plain httpx is what the lock file has.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from cablepin.app.cloud import CloudClient
from cablepin.app.errors import AppError, CloudRefused, NotLoggedIn
from cablepin.app.flow import AppCore
from cablepin.app.home import Home
from cablepin.cable.provision import init_keys, open_cable, provision
from cablepin.cloud import Settings, create_app, migrate
from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.services import accounts, cables
from cablepin.protocol import pki
from unit.app.conftest import Clock, SessionLink

SERIAL = "CBL-00000042"
PASSWORD = "driver pass with a lamp"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    now = dt.datetime.now(dt.UTC)
    keys = tmp_path / "keys"
    init_keys(keys, now)
    provision(SERIAL, keys, tmp_path / "cable", now)
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    accounts.configure_password_hashing(time_cost=1, memory_kib=1024)
    with make_sessionmaker(make_engine(url))() as db:
        accounts.create_org(db, "Org", now=now)
        for email, role in (("fm@org.test", "fleet_manager"), ("d@org.test", "driver")):
            accounts.create_user(
                db, email=email, name=email, role=role, org_name="Org", password=PASSWORD, now=now
            )
        ca = pki.load_certificate((keys / "factory-ca.pem").read_bytes())
        cert = (tmp_path / "cable" / "device.pem").read_bytes()
        cables.register_cable(db, cert_pem=cert, org_name="Org", factory_ca=ca, now=now)
        db.commit()
    settings = Settings(db=url, keys=keys, argon2_time_cost=1, argon2_memory_kib=1024)
    with TestClient(create_app(settings)) as client:
        yield client, tmp_path


def client_for(test_client: TestClient, token: str | None = None) -> CloudClient:
    # TestClient is an httpx.Client; its transport runs the ASGI app in-process.
    return CloudClient("http://testserver", token, transport=test_client._transport)


def test_s1_app_core_syncs_through_the_real_cloud(setup: tuple[TestClient, Path]) -> None:
    test_client, tmp = setup
    fm = client_for(test_client)
    fm.login("fm@org.test", PASSWORD)
    fm.request("PUT", f"/api/v1/cables/{SERIAL}/assignment", {"driver_email": "d@org.test"})
    cable = open_cable(tmp / "cable")
    for i in range(7):
        cable.record_session(1_750_000_000 + i * 100, 1_750_000_050 + i * 100, 500, 11_000)
    driver = client_for(test_client)
    login = driver.login("d@org.test", PASSWORD)
    assert "BEGIN CERTIFICATE" in login.factory_ca_pem
    clock, events = Clock(), []
    clock.now = int(dt.datetime.now(dt.UTC).timestamp())

    def open_link(serial: str, address: str | None) -> SessionLink:
        return SessionLink(cable, clock, events, None)

    core = AppCore(Home(tmp / "home"), driver, open_link, batch=3)
    result = core.connect(SERIAL)
    assert (result.auth, result.synced, result.assigned) == ("default", 7, True)
    assert len(core.sessions()) == 7
    assert core.connect(SERIAL).synced == 0


def test_b1_h2_a_bonded_apps_quick_visit_through_the_real_cloud(
    setup: tuple[TestClient, Path],
) -> None:
    """Nothing waits: one exchange, then connect and upload; a handover waits: relayed first."""
    test_client, tmp = setup
    fm = client_for(test_client)
    fm.login("fm@org.test", PASSWORD)
    fm.request("PUT", f"/api/v1/cables/{SERIAL}/assignment", {"driver_email": "d@org.test"})
    cable = open_cable(tmp / "cable")
    driver = client_for(test_client)
    driver.login("d@org.test", PASSWORD)
    clock, events = Clock(), []
    clock.now = int(dt.datetime.now(dt.UTC).timestamp())

    def open_link(serial: str, address: str | None) -> SessionLink:
        return SessionLink(cable, clock, events, None)

    core = AppCore(Home(tmp / "home"), driver, open_link)
    assert core.connect(SERIAL).auth == "default"  # bonded from now on
    for i in range(5):
        cable.record_session(1_750_000_000 + i * 100, 1_750_000_050 + i * 100, 500, 11_000)
    events.clear()
    quick = core.connect(SERIAL)
    assert (quick.auth, quick.synced, quick.duplicates) == ("bond", 5, 0)
    assert events == ["link:flight", "cable:hello", "cable:auth", "cable:read"]
    assert len(core.sessions()) == 5
    fm.request("POST", f"/api/v1/cables/{SERIAL}/handover", {"driver_email": None})
    cable.record_session(1_750_001_000, 1_750_001_050, 500, 11_000)
    events.clear()
    handed = core.connect(SERIAL)  # the wipe waits: step by step, relayed before any read
    assert (handed.commands, handed.assigned, handed.synced) == (["wipe"], False, 0)
    assert "cable:command" in events
    assert "cable:read" not in events


def test_cloud_errors_keep_the_cloud_code(setup: tuple[TestClient, Path]) -> None:
    test_client, _ = setup
    anonymous = client_for(test_client)
    with pytest.raises(NotLoggedIn):
        anonymous.sessions()
    with pytest.raises(CloudRefused) as bad:
        anonymous.login("d@org.test", "wrong password")
    assert bad.value.code == "unauthorized"
    driver = client_for(test_client)
    driver.login("d@org.test", PASSWORD)
    with pytest.raises(CloudRefused) as unknown:
        driver.upload_sessions("CBL-00000099", 0, [[1, 1, 2, 1, 0, 1, 1]], b"\0" * 64)
    assert unknown.value.code == "unknown_cable"


def test_p8_a_declined_permission_is_ready_again_at_once(setup: tuple[TestClient, Path]) -> None:
    """The real cloud leases a permission to a connect; the app hands back one it declines."""
    test_client, tmp = setup
    fm = client_for(test_client)
    fm.login("fm@org.test", PASSWORD)
    fm.request("PUT", f"/api/v1/cables/{SERIAL}/assignment", {"driver_email": "d@org.test"})
    fm.request("POST", f"/api/v1/cables/{SERIAL}/pin-reset", {})
    cable = open_cable(tmp / "cable")
    driver = client_for(test_client)
    driver.login("d@org.test", PASSWORD)
    clock, events = Clock(), []
    clock.now = int(dt.datetime.now(dt.UTC).timestamp())

    def open_link(serial: str, address: str | None) -> SessionLink:
        return SessionLink(cable, clock, events, None)

    core = AppCore(Home(tmp / "home"), driver, open_link)
    first = core.connect(SERIAL)  # no new PIN given: the permission is kept, not spent
    assert "pin_set_allowed" in first.notices
    with pytest.raises(AppError) as weak:
        core.change_pin(SERIAL, None, "1234")
    assert weak.value.code == "weak_pin"
    changed = core.change_pin(SERIAL, None, "5937")  # at once, not ten minutes later
    assert (changed.auth, changed.commands) == ("allowed", ["allow_pin_set"])
    detail = fm.request("GET", f"/api/v1/cables/{SERIAL}")
    assert detail["pin_reset_pending"] is False

"""Property-based fuzzing of the whole OpenAPI document: no input makes a 5xx (U2).

Logged in (support for the fleet routes, a driver for the app routes), on
SQLite, bounded to a few examples per operation so it stays fast.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from cablepin.cloud import create_app

from .conftest import (
    CABLE_A,
    DRIVER_A1,
    FM_A,
    PASSWORD,
    SUPPORT,
    Clock,
    seed,
    settings_for,
)
from .fakes import Keys

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MAX_EXAMPLES = 15


def login(client: Any, email: str) -> str:
    r = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def test_u2_fuzzed_requests_never_cause_a_server_error(
    tmp_path: Path, sqlite_template: Path, keys: Keys
) -> None:
    path = tmp_path / "cloud.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    clock = Clock()
    seed(url, keys, clock)
    app = create_app(settings_for(url, keys), clock=clock)
    with TestClient(app) as client:
        fm = login(client, FM_A)
        r = client.put(
            f"/api/v1/cables/{CABLE_A}/assignment",
            json={"driver_email": DRIVER_A1},
            headers={"Authorization": f"Bearer {fm}"},
        )
        assert r.status_code == 200, r.text
        tokens = {"support": login(client, SUPPORT), "driver": login(client, DRIVER_A1)}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:
        if operation.path.endswith("/auth/logout"):
            continue  # would revoke the token the other cases use
        who = "driver" if operation.path.startswith("/api/v1/app/") else "support"
        headers = {"Authorization": f"Bearer {tokens[who]}"}

        fuzz_one(operation, headers)


def fuzz_one(operation: Any, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    fuzz()

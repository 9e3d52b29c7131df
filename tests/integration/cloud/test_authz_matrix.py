"""R1/S3 authorisation matrix: every /api/v1 route x every role x own/other organisation.

The routes come from the app's route table, and each must have a rule in
``domain/policy.py``: a new route without one fails here (and at start-up).
"""

from __future__ import annotations

from typing import Any

from cablepin.cloud.app import api_routes as app_api_routes
from cablepin.cloud.domain.policy import POLICY

from .billing_helpers import billing_world, set_policy
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
)

ROLES = {"anonymous": None, "driver": DRIVER_A1, "fleet_manager": FM_A, "support": SUPPORT}
SCOPES = {"own": CABLE_A, "other": CABLE_B}
CABLE = "/api/v1/cables/{serial}"
APP = "/api/v1/app/cables/{serial}"
# Valid bodies, so the organisation check (not validation) is what answers.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", f"{CABLE}/assignment"): {"driver_email": DRIVER_A1},
    ("POST", f"{CABLE}/handover"): {"driver_email": None, "reason": "matrix"},
    ("POST", f"{CABLE}/reset"): {"reason": "matrix"},
    ("POST", f"{CABLE}/pin-reset"): {"reason": "matrix"},
    ("POST", f"{APP}/receipts"): {"receipt": "AA=="},
    ("POST", f"{APP}/release"): {"command_id": "matrix"},
    ("POST", f"{APP}/sessions"): {
        "epoch": 0,
        "records": [[1, 1, 2, 1, 0, 1, 1]],
        "head_sig": "AA==",
    },
    ("PUT", "/api/v1/billing/policy/{year}"): {"method": "contract"},
    ("PUT", "/api/v1/billing/flat-prices/{year}"): {
        "price": "0.3",
        "source": "matrix",
        "reason": "matrix",
    },
    ("POST", "/api/v1/me/receipts"): {"month": "2023-11"},
    ("POST", "/api/v1/tariffs/{id}/reject"): {"reason": "matrix"},
    ("POST", "/api/v1/receipts/{id}/reject"): {"reason": "matrix"},
    ("PUT", "/api/v1/me/bank"): {"iban": "DE02120300000000202051"},
    ("PUT", "/api/v1/drivers/{email}/payroll"): {"personnel_number": "4711"},
}
# Another organisation's tariff, receipt, payment run or driver is as unknown as its cable.
HIDDEN = {
    "unknown_cable",
    "unknown_tariff",
    "unknown_receipt",
    "unknown_payment_run",
    "unknown_driver",
}
# A driver named in the path (D1, D2): own = A2 (so A1, the matrix's driver, is never
# erased while it runs), other = organisation B's.
DRIVERS = {"own": DRIVER_A2, "other": DRIVER_B1}


def concrete(path: str, scope: str, ids: dict[str, int]) -> str:
    """The path with its parameters: own = organisation A (driver A1), other = B."""
    org = "a" if scope == "own" else "b"
    kind = "tariff" if path.startswith("/api/v1/tariffs/") else "receipt"
    if "/payment-runs/" in path:
        kind = "run"
    return (
        path.replace("{serial}", SCOPES[scope])
        .replace("{email}", DRIVERS[scope])
        .replace("{year}", "2023")
        .replace("{month}", "2023-11")
        .replace("{id}", str(ids.get(f"{kind}_{org}", 0)))
    )


def payout_world(world: World) -> dict[str, int]:
    """``billing_world`` with both receipts approved and paid by a transfer (a run each)."""
    ids = billing_world(world)
    for driver, fm, org in ((DRIVER_A1, FM_A, "a"), (DRIVER_B1, FM_B, "b")):
        r = world.call("POST", f"/api/v1/receipts/{ids[f'receipt_{org}']}/approve", fm)
        assert r.status_code == 200, r.text
        r = world.call("PUT", "/api/v1/me/bank", driver, json={"iban": "DE89370400440532013000"})
        assert r.status_code == 200, r.text
        set_policy(world, fm, 2023, debtor_name="Fleet", debtor_iban="DE75512108001245126199")
        r = world.call("GET", "/api/v1/billing/2023-11/sepa.xml", fm)
        assert r.status_code == 200, r.text
        ids[f"run_{org}"] = int(r.headers["x-payment-run"])
    return ids


def api_routes(world: World) -> list[tuple[str, str]]:
    app: Any = world.client.app
    return app_api_routes(app)


def fresh_token(world: World, email: str) -> str:
    r = world.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def test_r1_every_route_has_a_policy_rule(world: World) -> None:
    routes = api_routes(world)
    assert len(routes) >= 17
    assert [r for r in routes if r not in POLICY] == []


def test_r1_s3_m8_authorisation_matrix(world: World) -> None:
    ids = payout_world(world)
    problems: list[str] = []
    # The erasure (D2) last: it ends the own-scope driver's account for good.
    routes = sorted(api_routes(world), key=lambda r: r == ("DELETE", "/api/v1/drivers/{email}"))
    for method, path in routes:
        allowed = POLICY[(method, path)]
        for role, email in ROLES.items():
            for scope, serial in SCOPES.items():
                url = concrete(path, scope, ids)
                headers = {}
                if email is not None:
                    token = (
                        fresh_token(world, email)
                        if path.endswith("/logout")
                        else world.token(email)
                    )
                    headers["Authorization"] = f"Bearer {token}"
                body = BODIES.get((method, path), {}) if method in ("POST", "PUT") else None
                if path == f"{APP}/connect":
                    body = world.cables[serial].hello(email)
                # Support's reason (else 403 reason_required); other routes ignore it.
                params = {"reason": "matrix"}
                r = world.client.request(method, url, headers=headers, json=body, params=params)
                code = (
                    r.json().get("error")
                    if r.headers.get("content-type", "").startswith("application/json")
                    else None
                )
                where = f"{method} {url} as {role} ({scope}): {r.status_code} {code}"
                if r.status_code >= 500:
                    problems.append(f"server error: {where}")
                elif not allowed:
                    if r.status_code in (401, 403):
                        problems.append(f"public route refused: {where}")
                elif email is None:
                    if r.status_code != 401:
                        problems.append(f"anonymous not refused with 401: {where}")
                elif role not in allowed:
                    if (r.status_code, code) != (403, "forbidden"):
                        problems.append(f"role not refused with 403: {where}")
                elif (
                    ("{serial}" in path or "{id}" in path or "{email}" in path)
                    and scope == "other"
                    and role != "support"
                ):
                    if r.status_code != 404 or code not in HIDDEN:
                        problems.append(f"other org's object not hidden (404): {where}")
                elif r.status_code in (401, 403) or code in HIDDEN:
                    problems.append(f"allowed caller refused: {where}")
    assert problems == []

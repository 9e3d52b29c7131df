"""The schemathesis tier: the OpenAPI document tells the truth about the server (U2).

A real uvicorn server on 127.0.0.1 (SQLite, seeded), and schemathesis's own
CLI, as a reviewer would run it, once per role with that role's token:
driver, fleet manager, support, plus one run of logout alone with a throwaway
token (logout would revoke the token the other runs use). Every check is on
(``--checks all``: no 5xx, only documented status codes, content types,
headers and bodies, schema-valid input accepted, invalid input refused,
``Allow`` on 405, auth enforced where declared and only there) and every phase
runs (examples, coverage, fuzzing, stateful), bounded by ``--max-examples``
and a fixed seed, so a run is reproducible and takes well under a minute on
an idle 2-core machine. The runs go in parallel: they wait on the server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from cablepin.cloud import create_app
from integration.portal.server import serving

from .conftest import (
    CABLE_A,
    DRIVER_A1,
    DRIVER_A2,
    FM_A,
    PASSWORD,
    SUPPORT,
    Clock,
    seed,
    settings_for,
)
from .fakes import Keys

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Per-route exceptions, each with its reason: the cable-signed uploads (see the file).
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = os.environ.get("CABLEPIN_SCHEMATHESIS_EXAMPLES", "6")
SEED = os.environ.get("CABLEPIN_SCHEMATHESIS_SEED", "20261130")
LOGOUT = "/api/v1/auth/logout"
RUNS = {
    "driver": (DRIVER_A1, ["--exclude-path", LOGOUT]),
    "fleet_manager": (FM_A, ["--exclude-path", LOGOUT]),
    "support": (SUPPORT, ["--exclude-path", LOGOUT]),
    "logout": (DRIVER_A2, ["--include-path", LOGOUT]),
}


def login(base: str, email: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def test_u2_the_openapi_document_matches_the_server_for_every_role(
    tmp_path: Path, sqlite_template: Path, keys: Keys
) -> None:
    path = tmp_path / "cloud.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    clock = Clock()
    seed(url, keys, clock)
    app = create_app(settings_for(url, keys), clock=clock)
    with serving(app) as base:
        fm = login(base, FM_A)
        r = httpx.put(
            f"{base}/api/v1/cables/{CABLE_A}/assignment",
            json={"driver_email": DRIVER_A1},
            headers={"Authorization": f"Bearer {fm}"},
        )
        assert r.status_code == 200, r.text
        running = {}
        for name, (email, selection) in RUNS.items():
            command = [
                str(SCHEMATHESIS),
                "--config-file",
                str(CONFIG),
                "run",
                f"{base}/openapi.json",
                "--header",
                f"Authorization: Bearer {login(base, email)}",
                "--checks",
                "all",
                "--max-examples",
                MAX_EXAMPLES,
                "--seed",
                SEED,
                "--generation-database",
                "none",
                "--workers",
                "1",
                "--no-color",
                *selection,
            ]
            log = (tmp_path / f"{name}.log").open("w")
            # cwd: schemathesis writes nothing into the work tree.
            running[name] = (
                subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT),
                log,
            )
        failed = {}
        for name, (process, log) in running.items():
            code = process.wait(timeout=240)
            log.close()
            if code != 0:
                failed[name] = (tmp_path / f"{name}.log").read_text()
    assert not failed, "\n\n".join(f"===== {name}\n{text}" for name, text in failed.items())

"""A deployment (keys), a provisioned cable, and a real `cablepin cable run` process."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cablepin.cable.provision import init_keys, provision

SERIAL = "CBL-00004711"


def cablepin(*args: str, env: dict[str, str], check: bool = True) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", "from cablepin.cli import main; main()", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"cablepin {' '.join(args)} failed: {done.stdout} {done.stderr}")
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    result["_rc"] = done.returncode
    return result


@dataclass
class Deployment:
    root: Path
    keys: Path
    env: dict[str, str]

    @property
    def ca_pem(self) -> bytes:
        return (self.keys / "factory-ca.pem").read_bytes()

    def provision(self, serial: str) -> Path:
        """Library call, not the CLI: each CLI start costs a second of imports."""
        state = self.root / serial
        provision(serial, self.keys, state, dt.datetime.now(dt.UTC))
        return state

    def provision_with_cli(self, serial: str) -> Path:
        state = self.root / serial
        cablepin(
            "factory",
            "provision",
            "--serial",
            serial,
            "--keys",
            str(self.keys),
            "--state",
            str(state),
            env=self.env,
        )
        return state


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    root = tmp_path_factory.mktemp("deployment")
    env = {
        **os.environ,
        "CABLEPIN_RADIO": str(root / "radio"),
        "CABLEPIN_CLOCK_OFFSET_FILE": str(root / "clock-offset"),
    }
    keys = root / "keys"
    init_keys(keys, dt.datetime.now(dt.UTC))  # the CLI path is tested on its own
    return Deployment(root, keys, env)


class RunningCable:
    """`cablepin cable run --json` as a child process."""

    def __init__(
        self,
        state: Path,
        env: dict[str, str],
        *extra: str,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.state = state
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from cablepin.cli import main; main()",
                "cable",
                "run",
                "--state",
                str(state),
                "--json",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=preexec_fn,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"cable run did not start: {self.process.stderr.read()}")  # type: ignore[union-attr]
        announced = json.loads(line)
        self.serial: str = announced["serial"]
        self.address: str = announced["address"]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def running(deployment: Deployment) -> Iterator[RunningCable]:
    cable = RunningCable(deployment.provision(SERIAL), deployment.env)
    yield cable
    cable.stop()

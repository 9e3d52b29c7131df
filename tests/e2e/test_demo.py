"""`cablepin demo` as a newcomer runs it: twice, and two at once on one machine (issue 13).

Each demo is a real `cablepin demo` process; the test reads its banner and
runs the `cablepin app` lines it prints, as printed.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import cast

import pytest

from cablepin.app.cloud import CloudClient
from cablepin.demo import DEFAULT_SPEC, cablepin_command

from .conftest import free_port

pytestmark = pytest.mark.slow

FLEET = DEFAULT_SPEC.person("fleet_manager")
BEN = DEFAULT_SPEC.person("driver", 1)


class Demo:
    def __init__(self, directory: Path, port: int, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.env = env
        self.process = subprocess.Popen(
            [*cablepin_command(), "demo", "--dir", str(directory), "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        lines: list[str] = []
        for line in self.process.stdout:
            lines.append(line)
            if "Ctrl-C stops" in line:
                break
        self.banner = "".join(lines)
        assert "Ctrl-C stops" in self.banner, self.banner

    def cable_line(self, serial: str) -> str:
        return next(line for line in self.banner.splitlines() if line.strip().startswith(serial))

    def printed(self, starts: str) -> list[str]:
        """The printed command line that contains ``starts``, split as a shell would."""
        line = next(line for line in self.banner.splitlines() if starts in line)
        return shlex.split(line.strip())

    def run_printed(self, starts: str) -> subprocess.CompletedProcess[str]:
        words = self.printed(starts)
        stdin = None
        if words[0] == "echo":  # echo PASSWORD | cablepin app login ...
            stdin, words = words[1] + "\n", words[3:]
        return subprocess.run(
            [*words, "--json"],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()


def wait_for_mail(folder: Path, count: int) -> list[EmailMessage]:
    """The ``.eml`` files the demo's sink wrote, once there are ``count`` (the cloud's sender
    looks at the outbox every second)."""
    deadline = time.monotonic() + 90
    while len(files := sorted(folder.glob("*.eml"))) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(files) == count, [f.name for f in files]
    return [
        cast(EmailMessage, email.message_from_bytes(f.read_bytes(), policy=email.policy.default))
        for f in files
    ]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        **os.environ,
        # What a shell may have set for something else: the demo must not use it.
        "CABLEPIN_RADIO": str(tmp_path / "someone-elses-radio"),
        "CABLEPIN_ARGON2_TIME_COST": "1",
        "CABLEPIN_ARGON2_MEMORY_KIB": "8192",
        "LANG": "C.UTF-8",
    }
    clean.pop("CABLEPIN_HOME", None)
    return clean


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    try:
        yield started
    finally:
        for demo in started:
            demo.stop()


@pytest.mark.timeout(900)  # three demo start-ups, each seeding through the real CLI
def test_two_demos_on_one_machine_keep_their_own_cables_and_a_rerun_shows_them_as_they_are(
    tmp_path: Path, env: dict[str, str], demos: list[Demo]
) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first = Demo(first_dir, free_port(), env)
    demos.append(first)
    second = Demo(second_dir, free_port(), env)  # another user's demo, same serials
    demos.append(second)
    assert f"radio {first_dir / 'radio'}" in first.banner
    assert "anna@demo.test" in first.cable_line("CBL-00000001")

    # The first demo's lines, as printed: Anna hears the first demo's cables only.
    login = first.run_printed("app login")
    assert login.returncode == 0, login.stderr
    scan = first.run_printed("app scan")
    assert scan.returncode == 0, scan.stderr
    addresses = dict(re.findall(r"(CBL-\d{8})  (\S+)", first.banner))
    heard = {c["serial"]: c["address"] for c in json.loads(scan.stdout)["cables"]}
    assert heard == addresses
    connect = first.run_printed("app connect")
    assert connect.returncode == 0, connect.stdout + connect.stderr

    # Hand CBL-00000001 to Ben and give the pool cable to him; the next run shows it.
    with CloudClient(first.url) as fleet:
        fleet.login(FLEET.email, FLEET.password)
        fleet.request("POST", "/api/v1/cables/CBL-00000001/handover", {"driver_email": BEN.email})
        fleet.request("PUT", "/api/v1/cables/CBL-00000003/assignment", {"driver_email": BEN.email})
    # M7: the handover's two e-mails arrive in the demo's mail folder, as the banner says.
    assert f"lands in {first_dir / 'mail'}/" in first.banner
    mails = wait_for_mail(first_dir / "mail", 2)
    assert {m["To"] for m in mails} == {"anna@demo.test", BEN.email}
    to_ben = next(m for m in mails if m["To"] == BEN.email)
    assert to_ben["Subject"] == "Das Kabel CBL-00000001 wird an Sie übergeben"
    assert not list((second_dir / "mail").glob("*.eml"))  # the other demo sent nothing
    first.stop()
    again = Demo(first_dir, free_port(), env)
    demos.append(again)
    assert "reused" in again.banner
    handed = again.cable_line("CBL-00000001")
    assert "anna@demo.test" not in handed, again.banner
    assert "handover to ben@demo.test" in handed
    assert "PIN 0000" in handed  # Anna's app connected it once, on 0000
    assert "ben@demo.test" in again.cable_line("CBL-00000003")
    assert "pool" not in again.cable_line("CBL-00000003")

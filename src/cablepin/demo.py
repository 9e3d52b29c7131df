"""The whole system on one machine, built with the real command line (``cablepin demo``).

Rules kept here:

* Everything is made by running the ``cablepin`` commands a newcomer would
  run (keys, database, organisation, users, cables), so the demo doubles as
  proof that they work; the end-to-end tests build their world the same way.
* A demo folder is *complete* once ``demo.json`` exists (written last). A
  re-run reuses a complete folder and recreates an incomplete one from
  scratch; ``fresh=True`` always recreates. The caller is told which.
* Every process the demo starts is a child it tracks by pid and stops on
  exit (SIGTERM, then SIGKILL after a grace period); nothing else is touched.
* The demo's cables advertise on the demo's own radio, ``DIR/radio``: two
  demos on one machine (two users, two ports) never hear each other's cables.
  The printed ``app login`` carries ``--radio DIR/radio``, which the app keeps
  in its home, so the printed ``cablepin app`` commands work as printed in
  another terminal. (``start`` itself uses the ``CABLEPIN_RADIO`` of the
  environment it is given, as the end-to-end tests set it.)
* The cloud's e-mail goes to a local SMTP sink (``mailsink.py``) that keeps
  every message as an ``.eml`` file in ``DIR/mail``; the banner names the
  folder. Nothing leaves the machine.
* The banner shows the cables as the cloud has them now (owner, PIN state,
  pending actions), not as they were seeded: a reused folder remembers a
  handover.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket  # noqa: TID251 - the demo probes its port like the other drivers
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from zoneinfo import ZoneInfo

import httpx

from cablepin.app.cloud import CloudClient
from cablepin.errors import CablepinError
from cablepin.mailsink import mail_sink
from cablepin.protocol.advert import RADIO_ENV

__all__ = [
    "DEFAULT_SPEC",
    "CableNow",
    "CableSpec",
    "DemoError",
    "DemoSpec",
    "Person",
    "Running",
    "assign_all",
    "cablepin_command",
    "cables_now",
    "prepare",
    "run_cli",
    "seed",
    "start",
]

MARKER: Final = "demo.json"
STOP_GRACE_S: Final = 5.0
READY_TIMEOUT_S: Final = 30.0


class DemoError(CablepinError):
    code = "demo_failed"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: str  # driver | fleet_manager | support
    password: str


@dataclass(frozen=True)
class CableSpec:
    serial: str
    driver: str | None  # e-mail of the assigned driver; None: the pool
    sessions: int
    # Sessions charged in the previous calendar month (a receipt to submit, M3).
    previous_month: int = 0


@dataclass(frozen=True)
class DemoSpec:
    org: str
    people: tuple[Person, ...]
    cables: tuple[CableSpec, ...]

    def person(self, role: str, index: int = 0) -> Person:
        return [p for p in self.people if p.role == role][index]


DEFAULT_SPEC: Final = DemoSpec(
    org="Demo Fleet GmbH",
    people=(
        Person("fleet@demo.test", "Fiona Fleet", "fleet_manager", "demo-fleet-lantern-2024"),
        Person("anna@demo.test", "Anna Driver", "driver", "demo-anna-harbour-2024"),
        Person("ben@demo.test", "Ben Driver", "driver", "demo-ben-orchard-2024"),
        Person("support@vendor.test", "Sam Support", "support", "demo-support-meadow-2024"),
    ),
    cables=(
        CableSpec("CBL-00000001", "anna@demo.test", 3, previous_month=4),
        CableSpec("CBL-00000002", "ben@demo.test", 2),
        CableSpec("CBL-00000003", None, 4),
    ),
)


def cablepin_command() -> list[str]:
    """How to run ``cablepin`` from this interpreter (the script next to it, else -c)."""
    script = Path(sys.executable).with_name("cablepin")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cablepin.cli import main; main()"]


def _shown_command() -> str:
    """``cablepin`` if that is what the shell finds, else the full path of ours."""
    ours = cablepin_command()
    if len(ours) == 1:
        found = shutil.which("cablepin")
        if found and Path(found).resolve() == Path(ours[0]).resolve():
            return "cablepin"
        return ours[0]
    return "cablepin"


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Run one ``cablepin ... --json`` command; return its JSON (raise ``DemoError`` on failure)."""
    done = subprocess.run(  # noqa: S603 - our own CLI, arguments are ours
        [*cablepin_command(), *args, "--json"],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=timeout,
        check=False,
    )
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    except json.JSONDecodeError:
        answer = {"raw": done.stdout}
    if check and done.returncode != 0:
        raise DemoError(
            f"`cablepin {' '.join(args)}` failed: {answer.get('message') or done.stderr.strip()}",
        )
    return dict(answer) if isinstance(answer, dict) else {"value": answer}


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{(self.root / 'cablepin.db').resolve()}"

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def cable(self, serial: str) -> Path:
        return self.root / "cables" / serial

    @property
    def radio(self) -> Path:
        return self.root / "radio"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    def app_home(self, email: str) -> Path:
        return self.root / "apps" / email.split("@")[0]


def seed(root: Path, spec: DemoSpec, env: Mapping[str, str] | None = None) -> Layout:
    """Keys, database, organisation, users and charged cables, via the real CLI."""
    layout = Layout(root)
    root.mkdir(parents=True, exist_ok=True)
    base = {**(env if env is not None else os.environ)}
    db = ["--db", layout.db_url]
    run_cli(["keys", "init", "--dir", str(layout.keys)], env=base)
    run_cli(["admin", "migrate", *db], env=base)
    run_cli(["admin", "create-org", spec.org, *db], env=base)
    for person in spec.people:
        org = [] if person.role == "support" else ["--org", spec.org]
        run_cli(
            [
                "admin",
                "create-user",
                *org,
                "--role",
                person.role,
                "--email",
                person.email,
                "--name",
                person.name,
                "--password-stdin",
                *db,
            ],
            env=base,
            stdin=person.password + "\n",
        )
    for cable in spec.cables:
        add_cable(layout, spec.org, cable, env=base)
    return layout


def add_cable(
    layout: Layout, org: str, cable: CableSpec, *, env: Mapping[str, str] | None = None
) -> Path:
    """Provision a cable, register it with the cloud and record its sessions."""
    state = layout.cable(cable.serial)
    state.parent.mkdir(parents=True, exist_ok=True)
    keys = ["--keys", str(layout.keys)]
    run_cli(
        ["factory", "provision", "--serial", cable.serial, *keys, "--state", str(state)], env=env
    )
    run_cli(
        [
            "admin",
            "register-cable",
            "--state",
            str(state),
            "--org",
            org,
            *keys,
            "--db",
            layout.db_url,
        ],
        env=env,
    )
    for start, end in previous_month_sessions(cable.previous_month):
        run_cli(
            [
                "cable",
                "charge",
                "--state",
                str(state),
                "--wh",
                "9800",
                "--start",
                str(start),
                "--end",
                str(end),
            ],
            env=env,
        )
    if cable.sessions:
        charge(state, cable.sessions, env=env)
    return state


BERLIN: Final = ZoneInfo("Europe/Berlin")
# The demo's tariff proof: a tiny but real PDF (the cloud checks the type by content).
DEMO_PROOF: Final = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


def previous_month(now: dt.datetime | None = None) -> tuple[int, int]:
    local = (now or dt.datetime.now(dt.UTC)).astimezone(BERLIN)
    return (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)


def previous_month_sessions(count: int) -> list[tuple[int, int]]:
    """``count`` evening sessions (19:00-21:00 Berlin) a week apart in the previous month."""
    year, month = previous_month()
    out = []
    for i in range(count):
        start = dt.datetime(year, month, 3 + 7 * i, 19, 0, tzinfo=BERLIN)
        out.append((int(start.timestamp()), int((start + dt.timedelta(hours=2)).timestamp())))
    return out


def billing_setup(url: str, spec: DemoSpec) -> None:
    """The fleet manager's contract-price policy for the previous month's year, and the first
    driver's tariff (0.3275 EUR/kWh for that year) with its proof, verified."""
    year, _month = previous_month()
    manager, driver = spec.person("fleet_manager"), spec.person("driver", 0)
    with httpx.Client(base_url=url, timeout=30) as http:

        def token(person: Person) -> dict[str, str]:
            r = http.post(
                "/api/v1/auth/login", json={"email": person.email, "password": person.password}
            )
            r.raise_for_status()
            return {"Authorization": f"Bearer {r.json()['token']}"}

        fm = token(manager)
        http.put(
            f"/api/v1/billing/policy/{year}",
            json={"method": "contract", "recipient_email": manager.email},
            headers=fm,
        ).raise_for_status()
        r = http.post(
            "/api/v1/me/tariffs",
            headers=token(driver),
            data={"valid_from": f"{year}-01-01", "valid_to": f"{year}-12-31", "price": "0.3275"},
            files={"document": ("contract.pdf", DEMO_PROOF, "application/pdf")},
        )
        r.raise_for_status()
        http.post(f"/api/v1/tariffs/{r.json()['id']}/verify", headers=fm).raise_for_status()


def charge(
    state: Path, count: int, *, wh: int = 7400, env: Mapping[str, str] | None = None
) -> None:
    run_cli(
        ["cable", "charge", "--state", str(state), "--wh", str(wh), "--count", str(count)], env=env
    )


@dataclass
class Running:
    """The cloud and the cables as child processes; ``stop()`` ends exactly those."""

    url: str
    env: dict[str, str]
    layout: Layout
    cloud: subprocess.Popen[str] | None = None
    cables: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    cloud_log: Path | None = None

    def start_cables(self, serials: Sequence[str]) -> dict[str, str]:
        """Start ``cablepin cable run`` for each serial (all at once); return their addresses."""
        for serial in serials:
            self.cables[serial] = subprocess.Popen(  # noqa: S603
                [
                    *cablepin_command(),
                    "cable",
                    "run",
                    "--state",
                    str(self.layout.cable(serial)),
                    "--json",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=self.env,
            )
        for serial in serials:
            line = _first_line(self.cables[serial], f"cable {serial}")
            self.addresses[serial] = str(json.loads(line)["address"])
        return {serial: self.addresses[serial] for serial in serials}

    def start_cloud(self) -> None:
        """Start ``cablepin serve`` on this URL's port and wait until it answers."""
        host, _, port = self.url.removeprefix("http://").rpartition(":")
        if not port_free(host, int(port)):
            raise DemoError(f"port {port} on {host} is in use; stop what runs there or pass --port")
        log: IO[str] | int = (
            open(self.cloud_log, "a")  # noqa: SIM115 - the child keeps its own copy
            if self.cloud_log
            else subprocess.DEVNULL
        )
        self.cloud = subprocess.Popen(  # noqa: S603
            [
                *cablepin_command(),
                "serve",
                "--db",
                self.layout.db_url,
                "--keys",
                str(self.layout.keys),
                "--host",
                host,
                "--port",
                port,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        if not isinstance(log, int):
            log.close()
        _wait_healthy(self)

    def stop_cloud(self) -> None:
        if self.cloud is not None:
            _stop(self.cloud)
            self.cloud = None

    def stop_cable(self, serial: str) -> None:
        process = self.cables.pop(serial, None)
        if process is not None:
            _stop(process)

    def stop(self) -> None:
        for serial in list(self.cables):
            self.stop_cable(serial)
        self.stop_cloud()

    def dead(self) -> list[str]:
        """Names of children that exited on their own."""
        gone = [f"cable {s}" for s, p in self.cables.items() if p.poll() is not None]
        if self.cloud is not None and self.cloud.poll() is not None:
            gone.append("cloud")
        return gone


def _first_line(process: subprocess.Popen[str], what: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise DemoError(f"{what} did not start (exit code {process.returncode})")
    return line


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def start(
    layout: Layout,
    spec: DemoSpec,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    env: Mapping[str, str] | None = None,
    cloud_log: Path | None = None,
) -> Running:
    """Start ``cablepin serve`` and one ``cablepin cable run`` per cable; wait until ready."""
    if not port_free(host, port):
        raise DemoError(f"port {port} on {host} is in use; stop what runs there or pass --port")
    child_env = {**(env if env is not None else os.environ)}
    url = f"http://{host}:{port}"
    running = Running(url=url, env=child_env, layout=layout, cloud_log=cloud_log)
    try:
        running.start_cables([cable.serial for cable in spec.cables])
        running.start_cloud()
    except BaseException:
        running.stop()
        raise
    return running


def _wait_healthy(running: Running) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with CloudClient(running.url, timeout=2.0) as cloud:
        while True:
            if running.cloud is not None and running.cloud.poll() is not None:
                raise DemoError(
                    f"the cloud stopped at start (exit code {running.cloud.returncode}); "
                    f"see {running.cloud_log or 'its output'}"
                )
            with contextlib.suppress(CablepinError):
                cloud.request("GET", "/readyz")  # ready: the database answers too
                return
            if time.monotonic() > deadline:
                raise DemoError(f"the cloud did not answer at {running.url} within 30 s")
            time.sleep(0.2)


def assign_all(url: str, spec: DemoSpec) -> None:
    """The fleet manager assigns each cable to its driver (through the API, like the portal)."""
    manager = spec.person("fleet_manager")
    with CloudClient(url) as cloud:
        cloud.login(manager.email, manager.password)
        for cable in spec.cables:
            if cable.driver is not None:
                cloud.request(
                    "PUT",
                    f"/api/v1/cables/{cable.serial}/assignment",
                    {"driver_email": cable.driver},
                )


def prepare(root: Path, spec: DemoSpec, *, fresh: bool) -> tuple[Layout, str]:
    """Reuse a complete demo folder or build a new one; says which ("reused" | "created" | ...)."""
    layout = Layout(root)
    if layout.marker.exists() and not fresh:
        return layout, "reused"
    how = "recreated" if root.exists() and any(root.iterdir()) else "created"
    if root.exists():
        shutil.rmtree(root)
    seed(root, spec)
    return layout, how


def mark_complete(layout: Layout, spec: DemoSpec) -> None:
    data = {
        "org": spec.org,
        "users": [{"email": p.email, "role": p.role} for p in spec.people],
        "cables": [{"serial": c.serial, "driver": c.driver} for c in spec.cables],
    }
    layout.marker.write_text(json.dumps(data, indent=2) + "\n")


@contextlib.contextmanager
def demo_running(
    root: Path, *, port: int, host: str = "127.0.0.1", fresh: bool = False
) -> Iterator[tuple[Running, Layout, str]]:
    """Prepare the folder, start everything, assign cables on first run; stop on exit."""
    spec = DEFAULT_SPEC
    layout, how = prepare(root, spec, fresh=fresh)
    with mail_sink(layout.mail, free_port(host)) as smtp_port:
        env = {**os.environ, RADIO_ENV: str(layout.radio), **mail_env(smtp_port)}
        running = start(layout, spec, host=host, port=port, env=env, cloud_log=root / "cloud.log")
        try:
            if how != "reused":
                assign_all(running.url, spec)
                billing_setup(running.url, spec)
                mark_complete(layout, spec)
            yield running, layout, how
        finally:
            running.stop()


def mail_env(smtp_port: int) -> dict[str, str]:
    """The cloud's mail settings for the demo's sink (plain SMTP on this machine only)."""
    return {
        "CABLEPIN_SMTP_HOST": "127.0.0.1",
        "CABLEPIN_SMTP_PORT": str(smtp_port),
        "CABLEPIN_SMTP_TLS": "none",
        "CABLEPIN_MAIL_FROM": "cablepin demo <noreply@demo.test>",
        "CABLEPIN_OUTBOX_POLL_S": "1",
    }


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class CableNow:
    """One cable as the cloud has it now (what the banner shows)."""

    serial: str
    driver: str | None
    pin_default: bool | None = None  # None: no app has connected it yet
    pin_reset_pending: bool = False
    wipe: str | None = None  # a pending wipe's purpose: handover | reset
    handing_to: str | None = None  # a pending handover's next driver (None: the pool)

    def describe(self) -> str:
        owner = self.driver or "pool (unassigned)"
        notes = [
            {None: "never connected", True: "PIN 0000", False: "PIN changed"}[self.pin_default]
        ]
        if self.pin_reset_pending:
            notes.append("new PIN allowed")
        if self.wipe == "handover":
            notes.append(f"handover to {self.handing_to or 'the pool'} at its next connection")
        elif self.wipe is not None:
            notes.append("reset at its next connection")
        return f"{owner:<22} {', '.join(notes)}"


def cables_now(url: str, spec: DemoSpec) -> dict[str, CableNow]:
    """The demo's cables as the cloud has them now, asked as the fleet manager."""
    manager = spec.person("fleet_manager")
    found: dict[str, CableNow] = {}
    with CloudClient(url) as cloud:
        cloud.login(manager.email, manager.password)
        for cable in spec.cables:
            detail = cloud.request("GET", f"/api/v1/cables/{cable.serial}")
            wipe = detail.get("pending_handover") or {}
            found[cable.serial] = CableNow(
                serial=cable.serial,
                driver=detail.get("driver_email"),
                pin_default=detail.get("pin_default"),
                pin_reset_pending=bool(detail.get("pin_reset_pending")),
                wipe=wipe.get("purpose"),
                handing_to=wipe.get("to_driver_email"),
            )
    return found


def banner(
    running: Running,
    layout: Layout,
    how: str,
    spec: DemoSpec = DEFAULT_SPEC,
    now: Mapping[str, CableNow] | None = None,
) -> str:
    """What the demo prints: URLs, logins, the cables as they are (``now``; without it, as
    seeded) and app commands that work as printed."""
    anna, ben = spec.person("driver", 0), spec.person("driver", 1)
    home = layout.app_home(anna.email)
    server = running.url
    exe = _shown_command()
    advice = {
        "reused": "kept from the last run; `cablepin demo --fresh` starts over",
        "recreated": "the old folder was incomplete or --fresh was given, so it was rebuilt",
        "created": "new",
    }[how]
    lines = [
        f"cablepin demo: {how} {layout.root} ({advice})",
        "",
        f"  portal   {server}/",
        f"  API      {server}/api/v1   (OpenAPI: {server}/openapi.json)",
        "",
        "  logins (portal and app):",
    ]
    for person in spec.people:
        lines.append(f"    {person.role:<14} {person.email:<22} password: {person.password}")
    lines += [
        "",
        f"  mail     every e-mail the cloud sends lands in {layout.mail}/ as an .eml file",
        "           (invitations, PIN resets, handovers, receipts with their PDF)",
    ]
    lines += ["", f"  cables (radio {layout.radio}):"]
    if now is None:
        lines.append("    (as seeded: the cloud could not be asked how they are now)")
    for cable in spec.cables:
        state = (now or {}).get(cable.serial) or CableNow(cable.serial, cable.driver)
        address = running.addresses.get(cable.serial, "?")
        lines.append(f"    {cable.serial}  {address:<22} {state.describe()}")
    lines += [
        "",
        "  try the driver's app in another terminal (each --home is one phone or tablet,",
        "  and each logs in once; --radio tells it where this demo's cables are):",
        f"    echo {anna.password} | {exe} app login --server {server} "
        f"--email {anna.email} --password-stdin --radio {layout.radio} --home {home}",
        f"    {exe} app scan --home {home}",
        f"    {exe} app connect {spec.cables[0].serial} --home {home}",
        f"    {exe} app sessions --home {home}",
        "",
        f"  then change the PIN ({exe} app change-pin {spec.cables[0].serial} --home {home}),",
        f"  log in a second installation (her tablet: the login line with --home {home}-tablet),",
        f"  or hand the cable over to {ben.email} in the portal as "
        f"{spec.person('fleet_manager').email}.",
        "",
        "  Ctrl-C stops the cloud and the cables.",
    ]
    return "\n".join(lines)

"""Run the fleet under load with faults, settle it, and check that nothing was lost.

``run(Config)`` returns a ``Report``; the test and ``python -m soak`` assert
or print it. The load is ``Config.workers`` threads, each taking a cable that
no other thread holds and doing one operation with it: record sessions on
the cable, sync (the app's connect), change the PIN, a PIN permission from
the fleet manager used by the driver's app, a handover to another driver
(after a last sync of the old one); or, for a driver, submit the previous
month's receipt, and for the fleet manager, reject one. One more thread
injects the faults one after another at fixed fractions of the run
(``faults()``): an app SIGKILLed between two batches of a sync, SMTP down and
back, an API process SIGKILLed and restarted, the database's connections
terminated (twice), a cable losing power mid-wipe (twice: before and after
the wipe's commit point) and mid-record (twice). An operation a fault breaks
fails as it would for a driver (``FAULT_CODES``), is counted, and the cable
is picked again later; any other failure fails the test.

After the load every cable is settled (its driver's app connects until one
connect goes through, a bounded number of times), the outbox is drained, and
``check`` compares the cloud's database with the harness's ledger
(``fleet.SimCable``): for every cable and epoch, the sessions are exactly the
ones the cable holds (each acknowledged recording among them), each once,
with the same fields, on the account of the driver the epoch belongs to;
no receipt line counts a session twice or another driver's; every outbox
message reached the SMTP server exactly once; ``cablepin admin verify-audit``
passes; no server answered a 5xx but the 503 that means "send it again".
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cablepin.app import AppError, CloudClient
from cablepin.app.flow import DEFAULT_BATCH
from cablepin.cable.store import PowerLost
from cablepin.cloud.db import make_engine, make_sessionmaker, migrate
from cablepin.cloud.domain.billing import month_bounds, previous_month
from cablepin.cloud.keys import load_factory_ca
from cablepin.cloud.services import accounts, cables
from cablepin.protocol.pin_policy import is_weak
from soak.fleet import (
    ORG,
    Apps,
    Cloud,
    Database,
    Gate,
    MailSink,
    SimCable,
    SoakError,
    cablepin_command,
    make_cable,
    new_keys,
)

FM = "fleet@soak.test"
SETTLE_ATTEMPTS = 30
#: The only ways an operation may fail during the load: the API process is gone
#: (killed and restarting) or its database connection was cut mid-request.
FAULT_CODES = frozenset({"cloud_unreachable", "database_unavailable"})
# More than one batch of the app's reads, so the kill falls between the first and the second.
KILL_MID_SYNC_SESSIONS = DEFAULT_BATCH + DEFAULT_BATCH // 2


@dataclass(frozen=True)
class Config:
    seconds: float = 60.0
    cables: int = 200
    drivers: int = 20
    workers: int = 8
    seed: int = 12


@dataclass
class Report:
    config: Config
    operations: collections.Counter[str] = field(default_factory=collections.Counter)
    failed: collections.Counter[str] = field(default_factory=collections.Counter)
    faults: list[str] = field(default_factory=list)
    sessions_checked: int = 0
    epochs_checked: int = 0
    lost: int = 0
    duplicated: int = 0
    misattributed: int = 0
    phantom: int = 0
    pre_handover_on_new_driver: int = 0
    receipts: int = 0
    receipt_lines: int = 0
    receipt_double_counted: int = 0
    cable_forgot: int = 0
    audit_events: int = 0
    mails: int = 0
    mails_refused_then_sent: int = 0
    mail_lost: int = 0
    mail_duplicated: int = 0
    mail_unknown: int = 0
    audit_ok: bool = False
    server_errors: list[str] = field(default_factory=list)
    unavailable: int = 0
    problems: list[str] = field(default_factory=list)
    load_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0

    @property
    def clean(self) -> bool:
        return (
            self.lost == self.duplicated == self.misattributed == self.phantom == 0
            and self.pre_handover_on_new_driver == self.receipt_double_counted == 0
            and self.cable_forgot == 0
            and self.mail_lost == self.mail_duplicated == self.mail_unknown == 0
            and self.audit_ok
            and not self.server_errors
            and not self.problems
        )

    def lines(self) -> list[str]:
        c = self.config
        return [
            f"fleet: {c.cables} cables, {c.drivers} drivers, {c.workers} app threads, "
            f"2 `cablepin serve` on one PostgreSQL; load {self.load_s:.0f} s, "
            f"total {self.total_s:.0f} s "
            f"({', '.join(f'{k} {v:.0f} s' for k, v in self.phases.items())})",
            f"operations: {sum(self.operations.values())} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.operations.items()))})",
            f"operations failed by a fault (and redone later): {sum(self.failed.values())} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.failed.items())) or '-'})",
            f"faults injected: {len(self.faults)}",
            *[f"  - {fault}" for fault in self.faults],
            f"sessions checked: {self.sessions_checked} in {self.epochs_checked} cable epochs",
            f"lost = {self.lost}, duplicated = {self.duplicated}, "
            f"misattributed = {self.misattributed}",
            f"not recorded by any cable = {self.phantom}, from before a handover on the new "
            f"driver = {self.pre_handover_on_new_driver}, forgotten by a cable = "
            f"{self.cable_forgot}",
            f"receipts: {self.receipts} with {self.receipt_lines} lines; sessions counted twice "
            f"= {self.receipt_double_counted}",
            f"e-mail: {self.mails} messages in the outbox ({self.mails_refused_then_sent} refused "
            f"while SMTP was down, sent later); received once each: "
            f"{self.mails - self.mail_lost - self.mail_duplicated}, lost = {self.mail_lost}, "
            f"sent twice = {self.mail_duplicated}, unknown = {self.mail_unknown}",
            f"audit chain: {'verifies' if self.audit_ok else 'BROKEN'} "
            f"({self.audit_events} events)",
            f"server errors (5xx other than 503): {len(self.server_errors)}; "
            f"503 database_unavailable (send again) answers: {self.unavailable}",
            *[f"PROBLEM: {p}" for p in self.problems],
        ]


class Soak:
    def __init__(self, config: Config, root: Path) -> None:
        self.config = config
        self.root = root
        self.rnd = random.Random(config.seed)
        self.report = Report(config)
        self.db = Database()
        self.stop = threading.Event()
        self.sims: list[SimCable] = []
        self.drivers = [f"driver{i:03d}@soak.test" for i in range(config.drivers)]
        self.passwords = {e: f"soak {secrets.token_hex(10)} pass" for e in [FM, *self.drivers]}
        self.tokens: dict[str, str] = {}
        self.month = previous_month(dt.datetime.now(dt.UTC))
        self._count_lock = threading.Lock()
        self.restarting: list[threading.Thread] = []
        self.env = {
            **os.environ,
            "CABLEPIN_ARGON2_TIME_COST": "1",
            "CABLEPIN_ARGON2_MEMORY_KIB": "8192",
            "CABLEPIN_PASSWORD_HASH_SLOTS": "4",
            "CABLEPIN_RADIO": str(root / "radio"),
            "LANG": "C.UTF-8",
        }
        self.sink = MailSink()
        self.env.update(self.sink.env())
        self.env.update(
            {
                # Mail goes out from a `cablepin worker` (the API processes are the ones killed),
                # looks for due mail every second, and takes over a message whose sender lost
                # it (a database cut between the claim and its commit) after 15 s, not 5 min.
                "CABLEPIN_MAIL_SENDER": "worker",
                "CABLEPIN_OUTBOX_POLL_S": "1",
                "CABLEPIN_OUTBOX_LEASE_S": "15",
            }
        )
        self.worker_process: subprocess.Popen[bytes] | None = None
        self.env.pop("CABLEPIN_HOME", None)
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    # -- set-up ------------------------------------------------------------------------

    def setup(self) -> None:
        self.db.create()
        migrate(self.db.url)
        self.keys = new_keys(self.root / "keys")
        accounts.configure_password_hashing(time_cost=1, memory_kib=8192)
        now = dt.datetime.now(dt.UTC)
        engine = make_engine(self.db.url)
        ca = load_factory_ca(self.keys)
        first, _ = month_bounds(self.month)
        try:
            with make_sessionmaker(engine)() as db:
                accounts.create_org(db, ORG, now=now)
                db.commit()
                for email in [FM, *self.drivers]:
                    role = "fleet_manager" if email == FM else "driver"
                    name = email.split("@")[0].capitalize()
                    accounts.create_user(
                        db,
                        email=email,
                        name=name,
                        role=role,
                        org_name=ORG,
                        password=self.passwords[email],
                        now=now,
                    )
                db.commit()
                serials = [f"CBL-{70_000_000 + i:08d}" for i in range(self.config.cables)]
                with ThreadPoolExecutor(4) as pool:  # provisioning waits on fsync, not the CPU
                    self.sims = list(
                        pool.map(
                            lambda serial: make_cable(
                                serial,
                                self.keys,
                                self.root / "cables" / serial,
                                self.root / "radio",
                                self.drivers[int(serial[-5:]) % len(self.drivers)],
                            ),
                            serials,
                        )
                    )
                for i, sim in enumerate(self.sims):
                    sim.next_start = first + 3600 * (i % 24)
                    cert = (self.root / "cables" / sim.serial / "device.pem").read_bytes()
                    cables.register_cable(db, cert_pem=cert, org_name=ORG, factory_ca=ca, now=now)
                db.commit()
        finally:
            engine.dispose()
        self.sink.start()
        self.cloud = Cloud(self.root, self.db.url, self.keys, 2, self.env)
        self.cloud.start_all()
        with open(self.root / "worker.log", "ab") as log:
            self.worker_process = subprocess.Popen(
                [*cablepin_command(), "worker", "--db", self.db.url],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        for sim in self.sims:
            sim.serve()
        for email in [FM, *self.drivers]:
            with CloudClient(self.cloud.servers[0].url) as client:
                self.tokens[email] = client.login(email, self.passwords[email]).token
        ca_pem = (self.keys / "factory-ca.pem").read_text()
        self.apps = Apps(self.root / "apps", self.tokens, ca_pem)

        def assign(sim: SimCable) -> None:
            with self.client(FM) as fm:
                fm.request(
                    "PUT", f"/api/v1/cables/{sim.serial}/assignment", {"driver_email": sim.driver}
                )
            sim.epoch_driver[0] = sim.driver

        with self.client(FM) as fm:
            fm.request(
                "PUT",
                f"/api/v1/billing/policy/{self.month[:4]}",
                {"method": "flat", "recipient_email": FM},  # each receipt is mailed to the FM
            )
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(assign, self.sims))

    def teardown(self) -> None:
        for sim in self.sims:
            sim.stop()
        if hasattr(self, "cloud"):
            self.cloud.stop()
        if self.worker_process is not None:
            self.worker_process.send_signal(signal.SIGTERM)
            try:
                self.worker_process.wait(30)
            except subprocess.TimeoutExpired:
                self.worker_process.kill()
                self.worker_process.wait()
        self.sink.stop()
        self.db.drop()

    # -- helpers -----------------------------------------------------------------------

    def client(self, email: str) -> CloudClient:
        return CloudClient(self.cloud.url(self.rnd.choice), self.tokens[email])

    def count(self, op: str, error: AppError | None = None) -> None:
        with self._count_lock:
            self.report.operations[op] += 1
            if error is not None:
                self.report.failed[f"{op}:{error.code}"] += 1

    def connect(self, sim: SimCable, new_pin: str | None = None) -> Any:
        server = self.cloud.url(self.rnd.choice)
        home = self.apps.home(sim.serial, sim.driver, server)
        core, cloud = self.apps.core(home, server, sim, new_pin)
        with cloud:
            return core.connect(sim.serial)

    def settle(self, sim: SimCable) -> Any:
        """Connect as the cable's driver until a connect goes through: all is synced then."""
        last: AppError | None = None
        for _ in range(SETTLE_ATTEMPTS):
            try:
                result = self.connect(sim)
            except AppError as error:
                if error.code not in FAULT_CODES:
                    raise  # not a fault's doing: the harness or the product is wrong
                last = error
                self.cloud.wait_ready()
                continue
            if not result.assigned:
                raise SoakError(f"{sim.serial} is not assigned to {sim.driver} in the cloud")
            sim.observe()
            return result
        raise SoakError(f"{sim.serial} did not sync in {SETTLE_ATTEMPTS} connects: {last}")

    def new_pin(self) -> str:
        while True:
            pin = f"{self.rnd.randrange(10_000):04d}"
            if pin != "0000" and not is_weak(pin):
                return pin

    def take(self, rnd: random.Random) -> SimCable:
        while True:
            sim = rnd.choice(self.sims)
            if sim.lock.acquire(blocking=False):
                return sim

    # -- operations --------------------------------------------------------------------

    def op_record(self, sim: SimCable, rnd: random.Random) -> None:
        sim.record(rnd.randint(1, 4), rnd.randrange(500, 11_000))

    def op_sync(self, sim: SimCable, rnd: random.Random) -> None:
        self.connect(sim)
        sim.observe()

    def op_change_pin(self, sim: SimCable, rnd: random.Random) -> None:
        server = self.cloud.url(rnd.choice)
        home = self.apps.home(sim.serial, sim.driver, server)
        core, cloud = self.apps.core(home, server, sim)
        new = self.new_pin()
        with cloud:
            core.change_pin(sim.serial, sim.pin, new)
        sim.pin = new  # only once the cable said so

    def op_permission(self, sim: SimCable, rnd: random.Random) -> None:
        with self.client(FM) as fm:
            try:
                fm.request("POST", f"/api/v1/cables/{sim.serial}/pin-reset", {})
            except AppError as error:
                if error.code not in ("already_exists", "wipe_pending"):
                    raise
        new = self.new_pin()
        result = self.connect(sim, new_pin=new)
        if result.auth == "allowed":
            sim.pin = new
        sim.observe()

    def op_handover(self, sim: SimCable, rnd: random.Random) -> None:
        self.handover(sim, rnd.choice([d for d in self.drivers if d != sim.driver]))

    def handover(
        self, sim: SimCable, new: str, before_settle: Callable[[], None] | None = None
    ) -> None:
        self.settle(sim)  # the old driver has every session first
        try:
            with self.client(FM) as fm:
                fm.request("POST", f"/api/v1/cables/{sim.serial}/handover", {"driver_email": new})
        except AppError:
            # The answer was lost; whether the handover happened, the cable's page says.
            pending = self.fm_get(f"/api/v1/cables/{sim.serial}").get("pending_handover") or {}
            if pending.get("to_driver_email") != new:
                raise
        sim.driver = new
        if before_settle is not None:
            before_settle()
        self.settle(sim)  # the new driver's app carries the wipe; a new epoch is theirs
        sim.pin = "0000"

    def fm_get(self, path: str) -> Any:
        """A fleet manager's GET, sent again (a bounded number of times) after a fault."""
        last: AppError | None = None
        for _ in range(SETTLE_ATTEMPTS):
            try:
                with self.client(FM) as fm:
                    return fm.request("GET", path)
            except AppError as error:
                if error.code not in FAULT_CODES:
                    raise
                last = error
                self.cloud.wait_ready()
        raise SoakError(f"GET {path} failed {SETTLE_ATTEMPTS} times: {last}")

    def op_receipt(self, driver: str, rnd: random.Random) -> None:
        with self.client(driver) as api:
            try:
                api.request("POST", "/api/v1/me/receipts", {"month": self.month})
            except AppError as error:
                if error.code not in ("already_on_receipt", "no_sessions"):
                    raise

    def op_reject(self, rnd: random.Random) -> None:
        with self.client(FM) as fm:
            listed = fm.request("GET", "/api/v1/receipts", params={"month": self.month})
            items = [r for r in listed.get("items", listed) if r.get("state") == "submitted"]
            if items:
                receipt = rnd.choice(items)
                try:
                    fm.request(
                        "POST",
                        f"/api/v1/receipts/{receipt['id']}/reject",
                        {"reason": "soak test: a receipt rejected under load"},
                    )
                except AppError as error:
                    if error.code != "already_decided":
                        raise

    CABLE_OPS = (
        ("record", 30),
        ("sync", 30),
        ("change_pin", 6),
        ("permission", 6),
        ("handover", 6),
    )
    OTHER_OPS = (("receipt", 6), ("reject", 2))

    def worker(self, index: int) -> None:
        rnd = random.Random(self.config.seed * 1000 + index)
        ops = [*self.CABLE_OPS, *self.OTHER_OPS]
        names, weights = [n for n, _ in ops], [w for _, w in ops]
        while not self.stop.is_set():
            op = rnd.choices(names, weights)[0]
            error: AppError | None = None
            if op in ("receipt", "reject"):
                try:
                    if op == "receipt":
                        self.op_receipt(rnd.choice(self.drivers), rnd)
                    else:
                        self.op_reject(rnd)
                except AppError as e:
                    error = e
                self.count(op, error)
                continue
            sim = self.take(rnd)
            try:
                getattr(self, f"op_{op}")(sim, rnd)
            except AppError as e:
                error = e
            finally:
                sim.lock.release()
            self.count(op, error)

    # -- faults ------------------------------------------------------------------------

    def faults(self) -> list[tuple[float, str, Callable[[], str]]]:
        return [
            (0.10, "app killed mid-sync", self.fault_app_killed_mid_sync),
            (0.20, "SMTP server down", self.fault_smtp_down),
            (0.25, "API process killed", self.fault_kill_api),
            (0.40, "database connections cut", self.fault_cut_db),
            (0.50, "cable killed mid-wipe", lambda: self.fault_cable_mid_wipe(2)),
            (0.60, "cable killed mid-wipe", lambda: self.fault_cable_mid_wipe(4)),
            (0.65, "SMTP server back", self.fault_smtp_back),
            (0.70, "cable killed mid-record", lambda: self.fault_cable_mid_record(1)),
            (0.75, "cable killed mid-record", lambda: self.fault_cable_mid_record(5)),
            (0.85, "database connections cut", self.fault_cut_db),
        ]

    def injector(self, started: float, errors: list[BaseException]) -> None:
        try:
            for at, name, inject in self.faults():
                delay = started + at * self.config.seconds - time.monotonic()
                if self.stop.wait(max(delay, 0)):
                    return
                detail = inject()
                self.report.faults.append(f"{name}: {detail}")
        except BaseException as e:  # reported by run(), after the load stops
            errors.append(e)

    def fault_kill_api(self) -> str:
        self.cloud.kill(0)
        # Restarted at once; it takes requests when it is ready, meanwhile the other one does.
        self.restarting.append(self.cloud.restart(0))
        return f"SIGKILL to `cablepin serve` on port {self.cloud.servers[0].port}, restarted"

    def fault_smtp_down(self) -> str:
        self.sink.stop()
        self.smtp_down_at = time.monotonic()
        return f"the SMTP server on port {self.sink.port} stopped (connections refused)"

    def fault_smtp_back(self) -> str:
        waiting = self.db.query("SELECT count(*) FROM outbox WHERE state <> 'sent'")[0][0]
        self.sink.start()
        return (
            f"the SMTP server back after {time.monotonic() - self.smtp_down_at:.0f} s; "
            f"{waiting} message(s) were waiting in the outbox"
        )

    def fault_cut_db(self) -> str:
        cut = self.db.cut_connections()
        return f"pg_terminate_backend on {cut} backend(s) of the database"

    def fault_app_killed_mid_sync(self) -> str:
        sim = self.take(self.rnd)
        try:
            self.settle(sim)
            for _ in range(SETTLE_ATTEMPTS):
                sim.record(KILL_MID_SYNC_SESSIONS, 7400)  # two batches of the app to come
                synced = self._kill_app_between_batches(sim)
                if synced is not None:
                    break
            else:
                raise SoakError(f"no app reached a second batch of {sim.serial}")
            self.settle(sim)
            return (
                f"`cablepin app connect {sim.serial}` SIGKILLed between two batches "
                f"({synced} of {sum(len(r) for r in sim.ledger.values())} sessions in the cloud "
                "then); the next connect finished the sync"
            )
        finally:
            sim.lock.release()

    def _kill_app_between_batches(self, sim: SimCable) -> int | None:
        """Run `cablepin app connect`, SIGKILL it while the cable holds its second ``read``;
        return the sessions then in the cloud, or None if the app ended before (a fault)."""
        server = self.cloud.url(self.rnd.choice)
        home = self.apps.home(sim.serial, sim.driver, server)
        home.update(lambda state: dataclasses.replace(state, server=server))
        gate = sim.cable.gate = Gate(at=2)
        app = subprocess.Popen(
            [
                *cablepin_command(),
                *("app", "connect", sim.serial, "--address", sim.address),
                *("--home", str(home.path), "--json"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )
        try:
            deadline = time.monotonic() + 120
            while not gate.reached.wait(0.1):  # the cable says when; the app may end first
                if app.poll() is not None:
                    return None
                if time.monotonic() > deadline:
                    raise SoakError(f"the app never asked {sim.serial} for a second batch")
            app.send_signal(signal.SIGKILL)
        finally:
            app.wait(30)
            gate.release.set()
            sim.cable.gate = None
        return int(
            self.db.query(
                "SELECT count(*) FROM charging_sessions s JOIN cables c ON c.id = s.cable_id "
                "WHERE c.serial = %s",
                sim.serial,
            )[0][0]
        )

    def fault_cable_mid_wipe(self, writes: int) -> str:
        sim = self.take(self.rnd)
        try:
            new = self.rnd.choice([d for d in self.drivers if d != sim.driver])
            epoch = sim.observe()
            assert sim.server is not None
            server = sim.server

            def cut() -> None:
                sim.flash.cut_after(writes)
                for _ in range(SETTLE_ATTEMPTS):
                    # Until the app relays the wipe nothing is written: a connect the cloud
                    # failed before that leaves the cut armed for the next one.
                    with contextlib.suppress(AppError):  # the link breaks when the power goes
                        self.connect(sim)
                    if server.power_lost.is_set():
                        break
                    self.cloud.wait_ready()
                else:
                    raise SoakError(f"{sim.serial} did not lose power during the wipe")
                sim.reboot()

            self.handover(sim, new, before_settle=cut)
            after = sim.observe()
            return (
                f"{sim.serial} lost power after {writes} flash writes of its handover wipe "
                f"(epoch {epoch} -> {after}); rebooted, the next connect completed the handover"
            )
        finally:
            sim.lock.release()

    def fault_cable_mid_record(self, writes: int) -> str:
        sim = self.take(self.rnd)
        try:
            had = sum(len(r) for r in sim.ledger.values())
            sim.flash.cut_after(writes)
            try:
                sim.record(3, 5000)
            except PowerLost:
                pass
            else:
                raise SoakError(f"{sim.serial} recorded without losing power")
            sim.reboot()
            sim.observe()
            now = sum(len(r) for r in sim.ledger.values())
            sim.record(1, 5000)
            self.settle(sim)
            return (
                f"{sim.serial} lost power after {writes} flash writes of a recording of 3 "
                f"sessions (kept {now - had} of them, none acknowledged); rebooted, recorded and "
                "synced on"
            )
        finally:
            sim.lock.release()

    # -- the run -----------------------------------------------------------------------

    def load(self) -> None:
        started = time.monotonic()
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=self._guarded, args=(i, errors), daemon=True)
            for i in range(self.config.workers)
        ]
        injector = threading.Thread(target=self.injector, args=(started, errors), daemon=True)
        for thread in [*threads, injector]:
            thread.start()
        self.stop.wait(self.config.seconds)
        injector.join()  # every fault is injected, even on a slow machine
        for restart in self.restarting:  # the killed server is back before the load ends
            restart.join()
            errors.extend(restart.errors)  # type: ignore[attr-defined]
        self.stop.set()
        for thread in threads:
            thread.join()
        self.report.load_s = time.monotonic() - started
        if errors:
            raise errors[0]

    def _guarded(self, index: int, errors: list[BaseException]) -> None:
        try:
            self.worker(index)
        except BaseException as e:
            errors.append(e)
            self.stop.set()

    def settle_all(self) -> None:
        self.cloud.wait_ready()
        pending = list(self.sims)
        lock = threading.Lock()
        errors: list[BaseException] = []

        def settler() -> None:
            while True:
                with lock:
                    if not pending or errors:
                        return
                    sim = pending.pop()
                try:
                    self.settle(sim)
                except BaseException as e:
                    errors.append(e)

        threads = [threading.Thread(target=settler) for _ in range(self.config.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def drain_mail(self) -> None:
        """Let the outbox empty: every message sent (bounded)."""
        # The outbox waits 30 s, then 60 s, ... after a refused connection; the clock of
        # those waits is fast-forwarded here (as the e2e tests move the cables' clock).
        self.db.query(
            "UPDATE outbox SET next_attempt_at = now() WHERE state = 'pending' RETURNING id"
        )
        deadline = time.monotonic() + 180
        while True:
            left = self.db.query(
                "SELECT state, count(*) FROM outbox WHERE state <> 'sent' GROUP BY state"
            )
            if not left:
                return
            if any(state == "failed" for state, _ in left) or time.monotonic() > deadline:
                self.report.problems.append(f"outbox not delivered: {dict(left)}")
                return
            if self.worker_process is not None and self.worker_process.poll() is not None:
                raise SoakError("cablepin worker exited; see worker.log")
            time.sleep(0.2)  # polling a condition, with a bound

    # -- the checks --------------------------------------------------------------------

    def check(self) -> None:
        report = self.report
        rows = self.db.query(
            "SELECT c.serial, s.epoch, s.seq, u.email, s.start_s, s.end_s, s.wh, "
            "s.meter_start_wh, s.meter_end_wh, s.max_w FROM charging_sessions s "
            "JOIN cables c ON c.id = s.cable_id JOIN users u ON u.id = s.driver_id"
        )
        cloud: dict[tuple[str, int], list[tuple[int, str, list[int]]]] = collections.defaultdict(
            list
        )
        for serial, epoch, seq, email, *fields in rows:
            cloud[(serial, int(epoch))].append((int(seq), str(email), [int(seq), *fields]))
        for sim in self.sims:
            report.cable_forgot += len(sim.forgotten)
            held = {(e, int(r[0])) for e, records in sim.ledger.items() for r in records}
            report.cable_forgot += len(sim.acknowledged - held)
            handovers = sorted(e for e in sim.epoch_driver if e > 0)
            for epoch, records in sim.ledger.items():
                report.epochs_checked += 1
                expected = {int(r[0]): r for r in records}
                got = cloud.pop((sim.serial, epoch), [])
                seen: collections.Counter[int] = collections.Counter(s for s, _, _ in got)
                report.sessions_checked += len(expected)
                report.lost += len(set(expected) - set(seen))
                report.duplicated += sum(n - 1 for n in seen.values() if n > 1)
                owner = sim.epoch_driver.get(epoch)
                for seq, email, wire in got:
                    if seq not in expected or expected[seq] != wire:
                        report.phantom += 1
                    elif email != owner:
                        report.misattributed += 1
                        if any(h > epoch and sim.epoch_driver[h] == email for h in handovers):
                            report.pre_handover_on_new_driver += 1
        report.phantom += sum(len(v) for v in cloud.values())  # epochs no cable had
        lines = self.db.query(
            "SELECT l.session_id, count(*) FROM receipt_lines l WHERE NOT l.rejected "
            "GROUP BY l.session_id HAVING count(*) > 1"
        )
        report.receipt_double_counted = sum(int(n) - 1 for _, n in lines)
        wrong_owner = self.db.query(
            "SELECT count(*) FROM receipt_lines l JOIN receipts r ON r.id = l.receipt_id "
            "JOIN charging_sessions s ON s.id = l.session_id "
            "WHERE s.driver_id <> r.driver_id OR s.wh <> l.wh"
        )[0][0]
        if wrong_owner:
            report.problems.append(f"{wrong_owner} receipt line(s) not matching their session")
        totals = self.db.query(
            "SELECT r.id FROM receipts r JOIN receipt_lines l ON l.receipt_id = r.id "
            "GROUP BY r.id, r.total_wh HAVING sum(l.wh) <> r.total_wh"
        )
        if totals:
            report.problems.append(f"{len(totals)} receipt(s) whose total is not their lines'")
        outbox = {
            str(message_id): int(attempts)
            for message_id, attempts in self.db.query("SELECT message_id, attempts FROM outbox")
        }
        received = collections.Counter(self.sink.recorder.ids())
        report.mails = len(outbox)
        report.mails_refused_then_sent = sum(1 for a in outbox.values() if a > 1)
        report.mail_lost = sum(1 for m in outbox if received[m] == 0)
        report.mail_duplicated = sum(n - 1 for n in received.values() if n > 1)
        report.mail_unknown = sum(n for m, n in received.items() if m not in outbox)
        report.receipts = int(self.db.query("SELECT count(*) FROM receipts")[0][0])
        report.receipt_lines = int(self.db.query("SELECT count(*) FROM receipt_lines")[0][0])
        verify = subprocess.run(
            [*cablepin_command(), "admin", "verify-audit", "--db", self.db.url, "--json"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
            check=False,
        )
        report.audit_ok = verify.returncode == 0
        if verify.returncode == 0:
            report.audit_events = int(json.loads(verify.stdout.splitlines()[-1])["checked"])
        else:
            report.problems.append(f"verify-audit: {verify.stdout.strip()} {verify.stderr[-500:]}")
        # 503 is the answer for a database connection cut mid-request: "send it again".
        report.server_errors = [
            f"{e.get('method')} {e.get('route')} -> {e.get('status')}"
            for e in self.cloud.answers(lambda status: status >= 500 and status != 503)
        ]
        report.unavailable = len(self.cloud.answers(lambda status: status == 503))


def run(config: Config, root: Path | None = None) -> Report:
    """Build the world, load it with faults, settle, check; always tear down."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cablepin-soak-") as temp:
        soak = Soak(config, root or Path(temp))
        try:
            for phase in (soak.setup, soak.load, soak.settle_all, soak.drain_mail, soak.check):
                began = time.monotonic()
                phase()
                soak.report.phases[phase.__name__] = time.monotonic() - began
        finally:
            soak.teardown()
    soak.report.total_s = time.monotonic() - started
    return soak.report

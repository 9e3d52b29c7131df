"""Issue 11, findings 1, 2, 4 (login) and 8 (lockout): the red team's login attacks, again,
against real `cablepin serve` processes over HTTP.

Nothing here depends on how fast the machine is: a request waits for its answer
however long argon2 takes on a loaded machine (``timeout=None``; pytest-timeout ends a
real hang), and what is asserted is what came back, never how long it took. Where a
moment matters (a password being hashed), the test waits for the event itself and
freezes the server in it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from cablepin.cloud.db import make_engine

from .conftest import DRIVER_A1, FM_A, PASSWORD, Clock, empty_pg, seed
from .fakes import Keys
from .test_race_pg import CABLEPIN, free_port

pytestmark = pytest.mark.slow


@contextmanager
def server_process(
    db: str, keys: Keys, log: Path, *, workers: int = 1, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    env = {**os.environ, **{f"CABLEPIN_{k.upper()}": v for k, v in settings.items()}}
    port = free_port()
    args = [CABLEPIN, "serve", "--db", db, "--keys", str(keys.directory), "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*args, "--workers", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(base, proc, log))
        yield base, proc
    finally:
        proc.send_signal(signal.SIGCONT)  # in case a test froze it
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def serving(db: str, keys: Keys, log: Path, *, workers: int = 1, **settings: str) -> Iterator[str]:
    with server_process(db, keys, log, workers=workers, **settings) as (base, _):
        yield base


def wait_until(condition: Callable[[], bool]) -> None:
    """Wait for an event, however long the loaded machine takes (pytest-timeout ends a hang)."""
    pause = threading.Event()
    while not condition():
        pause.wait(0.01)


def _ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"cablepin serve exited: {log.read_text()}")
    try:
        return httpx.get(f"{base}/readyz", timeout=None).status_code == 200
    except httpx.TransportError:
        return False  # not listening yet


def wrong_logins(base: str, emails: list[str]) -> Counter[int]:
    def attempt(email: str) -> int:
        r = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"email": email, "password": "not the password at all"},
            timeout=None,
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=len(emails)) as pool:
        return Counter(pool.map(attempt, emails))


@pytest.mark.postgres
def test_parallel_guesses_on_two_workers_check_only_the_free_attempts(
    pg_database: str, keys: Keys, tmp_path: Path
) -> None:
    """Finding 1: 60 wrong passwords for one address at once, to `serve --workers 2` on
    PostgreSQL. Every password checked answers 401; one refused before argon2 answers 429.
    Only the 5 free attempts may be checked, however the requests interleave."""
    empty_pg(pg_database)
    seed(pg_database, keys, Clock())
    cost = {"argon2_time_cost": "2", "argon2_memory_kib": "8192"}
    with serving(pg_database, keys, tmp_path / "serve.log", workers=2, **cost) as base:
        answers = wrong_logins(base, [FM_A] * 60)
        assert answers == Counter({401: 5, 429: 55}), answers
        # The owner still gets in after the wait, and not before: the count is real.
        r = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": FM_A, "password": PASSWORD}, timeout=None
        )
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0


def _sqlite_with_a_driver(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    subprocess.run(
        [CABLEPIN, "admin", "create-org", "Org", "--db", db], check=True, capture_output=True
    )
    args = [CABLEPIN, "admin", "create-user", "--org", "Org", "--role", "driver"]
    args += ["--email", DRIVER_A1, "--name", "D", "--password-stdin", "--db", db]
    subprocess.run(args, input=f"{PASSWORD}\n".encode(), check=True, capture_output=True)
    return db


# argon2id at 64 MiB, slower than the default, so a hash is long enough to be caught in
SLOW_HASH = {"argon2_time_cost": "10", "argon2_memory_kib": "65536"}
HASH_BYTES = 65536 * 1024


def _resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def _write_lock_free(path: Path) -> bool:
    """Could a writer take SQLite's write lock right now (no waiting at all)?"""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as e:
        if "locked" not in str(e):
            raise
        return False
    finally:
        conn.close()


def test_no_write_transaction_is_open_while_a_password_is_hashed_on_sqlite(
    keys: Keys, tmp_path: Path
) -> None:
    """Finding 2, its cause, with no clock: the server is frozen (SIGSTOP) in the middle
    of a password hash, which shows in its memory (argon2id fills 64 MiB, and frees it
    when it returns), and SQLite's write lock must then be free without waiting. Before,
    every login held the lock while argon2 ran, so every other request queued behind it."""
    db = _sqlite_with_a_driver(tmp_path)
    log = tmp_path / "serve.log"
    with server_process(db, keys, log, **SLOW_HASH) as (base, proc):
        login = {"email": DRIVER_A1, "password": PASSWORD}
        assert httpx.post(f"{base}/api/v1/auth/login", json=login, timeout=None).is_success
        resting = _resident_bytes(proc.pid)  # after one hash: the allocator has settled

        def hashing() -> bool:
            return _resident_bytes(proc.pid) > resting + HASH_BYTES // 2

        caught: list[bool] = []
        tries = 0
        with ThreadPoolExecutor(max_workers=1) as pool:
            while not caught:  # a try counts only if the freeze lands inside a hash
                tries += 1  # each try another address: no account's throttle ends the hashing
                wrong = {"email": f"try{tries}@flood.example", "password": "not the password"}
                answer = pool.submit(
                    httpx.post, f"{base}/api/v1/auth/login", json=wrong, timeout=None
                )
                wait_until(lambda: answer.done() or hashing())  # noqa: B023
                proc.send_signal(signal.SIGSTOP)
                try:
                    if not answer.done() and hashing():
                        caught.append(_write_lock_free(tmp_path / "cloud.db"))
                finally:
                    proc.send_signal(signal.SIGCONT)
                assert answer.result().status_code == 401
    assert caught == [True], "a login held SQLite's write lock while argon2 ran"


def test_login_flood_with_made_up_addresses_does_not_stall_sqlite(
    keys: Keys, tmp_path: Path
) -> None:
    """Finding 2: 16 threads log in with made-up addresses (full argon2id cost) while a
    signed-in driver keeps asking `GET /me` on the default SQLite. Before, every login
    held SQLite's write lock while argon2 ran: `/me` waited, then answered 500 with
    "database is locked". Now every `/me` is answered 200, and the flood is slowed per
    client address, not only per account. (That no lock is held during a hash is proved
    by the test above, without a clock.)"""
    db = _sqlite_with_a_driver(tmp_path)
    log = tmp_path / "serve.log"
    with serving(db, keys, log, login_client_free_attempts="20", **SLOW_HASH) as base:
        token = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"email": DRIVER_A1, "password": PASSWORD},
            timeout=None,
        ).json()["token"]
        me_answers: list[int] = []
        stop = threading.Event()

        def keep_working() -> None:
            with httpx.Client(base_url=base, timeout=None) as c:
                while not me_answers or not stop.is_set():  # at least one, however slow
                    r = c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
                    me_answers.append(r.status_code)

        worker = threading.Thread(target=keep_working)
        worker.start()
        try:
            made_up = [f"nobody{i}@flood.example" for i in range(32)]
            flood = wrong_logins(base, made_up[:16]) + wrong_logins(base, made_up[16:])
        finally:
            stop.set()
            worker.join()
    assert me_answers
    assert set(me_answers) == {200}, Counter(me_answers)
    assert "database is locked" not in log.read_text()
    # 20 free failures per client address, then waits: made-up addresses do not help.
    # (A login that waited too long for a hashing slot is also a 429, counted all the same.)
    assert flood[401] <= 20, flood
    assert flood[429] >= 12, flood
    assert not set(flood) - {401, 429}, flood


def test_what_is_not_an_address_reaches_neither_throttle_nor_audit_log(
    keys: Keys, tmp_path: Path
) -> None:
    """Finding 4: text typed into the e-mail field at login used to land in support's
    audit log (``login.failure_burst``) after five tries. It is refused first now."""
    path = tmp_path / "cloud.db"
    typed = "<b>call +49 30 1234 to unlock</b>"
    cost = {"argon2_time_cost": "1", "argon2_memory_kib": "1024"}
    with serving(f"sqlite:///{path}", keys, tmp_path / "serve.log", **cost) as base:
        answers = [
            httpx.post(
                f"{base}/api/v1/auth/login",
                json={"email": typed, "password": "x" * 16},
                timeout=None,
            )
            for _ in range(7)
        ]
    assert {r.status_code for r in answers} == {422}
    assert answers[0].json()["error"] == "invalid_request"
    assert "email" in answers[0].json()["message"]  # the field that is wrong
    with sqlite3.connect(path) as conn:
        dump = "\n".join(conn.iterdump())
    assert "call +49" not in dump
    assert "unlock" not in dump


def test_p_known_browser_signs_in_while_strangers_lock_the_account(
    keys: Keys, tmp_path: Path, db_url: str
) -> None:
    """Finding 8: a stranger's wrong guesses lock the account for everyone else, but the
    owner's browser, which signed in before, still gets in (and a wrong guess from that
    browser is throttled on its own)."""
    seed(db_url, keys, Clock())
    cost = {"argon2_time_cost": "1", "argon2_memory_kib": "1024"}
    with (
        serving(db_url, keys, tmp_path / "serve.log", **cost) as base,
        httpx.Client(base_url=base, timeout=None) as owner,
        httpx.Client(base_url=base, timeout=None) as stranger,
    ):
        assert _portal_sign_in(owner, FM_A, PASSWORD) == 303
        owner.post("/signout", data={"csrf_token": _csrf(owner.get("/").text)})
        for _ in range(8):
            _portal_sign_in(stranger, FM_A, "a guess that is wrong")
        assert _portal_sign_in(stranger, FM_A, PASSWORD) == 429
        api = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": FM_A, "password": PASSWORD}, timeout=None
        )
        assert api.status_code == 429
        assert _portal_sign_in(owner, FM_A, PASSWORD) == 303
    engine = make_engine(db_url)
    with engine.connect() as conn:
        keys_left = conn.execute(text("SELECT email FROM login_throttle")).scalars().all()
    engine.dispose()
    assert FM_A in keys_left  # the stranger's lock on the account stays


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def _portal_sign_in(client: httpx.Client, email: str, password: str) -> int:
    page = client.get("/signin")
    r = client.post(
        "/signin",
        data={"email": email, "password": password, "csrf_token": _csrf(page.text), "next": "/"},
    )
    return r.status_code


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password", "too_short"),
        ("aaaaaaaaaaaaaaaaaaaa", "common"),
        ("passwordpassword1", "common"),
        ("ada.lovelace.example", "personal"),
    ],
)
def test_admin_create_user_applies_the_same_password_policy(
    tmp_path: Path, password: str, reason: str
) -> None:
    """Finding 8: `admin create-user` accepted `password`; it now applies the one policy
    the invitation page applies, and says why."""
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    subprocess.run([CABLEPIN, "admin", "create-org", "Org", "--db", db], check=True)
    args = [CABLEPIN, "admin", "create-user", "--org", "Org", "--role", "fleet_manager"]
    args += ["--email", "ada@lovelace.example", "--name", "Ada Lovelace", "--password-stdin"]
    refused = subprocess.run(
        [*args, "--db", db, "--json"], input=f"{password}\n", capture_output=True, text=True
    )
    assert refused.returncode != 0
    answer = json.loads(refused.stdout)
    assert answer["error"] == "weak_password"
    assert answer["reason"] == reason
    accepted = subprocess.run(
        [*args, "--db", db, "--json"],
        input="lantern orchard whistle\n",
        capture_output=True,
        text=True,
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


@pytest.mark.parametrize("name", ["Fleet\nBcc: spy@evil.example", "F" * 201])
def test_m7_admin_create_org_refuses_a_name_a_mail_subject_cannot_carry(
    tmp_path: Path, name: str
) -> None:
    """The organisation's name is the Subject of its invitations: with a line break every
    invitation of the organisation failed (500) when its mail was composed."""
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    refused = subprocess.run(
        [CABLEPIN, "admin", "create-org", name, "--db", db, "--json"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert json.loads(refused.stdout)["error"] == "invalid_request"
    listed = sqlite3.connect(tmp_path / "cloud.db").execute("SELECT name FROM organisations")
    assert listed.fetchall() == []


@pytest.mark.parametrize(("trusted", "secure"), [("192.0.2.7", False), ("127.0.0.1", True)])
def test_serve_believes_forwarded_headers_only_from_the_configured_proxies(
    keys: Keys, tmp_path: Path, trusted: str, secure: bool
) -> None:
    """Finding 10: `serve --forwarded-allow-ips` names the proxies whose X-Forwarded-Proto
    (and -For, for the per-client throttle) count; from anyone else they are ignored."""
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    with serving(db, keys, tmp_path / "serve.log", forwarded_allow_ips=trusted) as base:
        page = httpx.get(f"{base}/signin", headers={"X-Forwarded-Proto": "https"}, timeout=None)
    cookie = page.headers["set-cookie"]
    assert ("Secure" in cookie) is secure, cookie

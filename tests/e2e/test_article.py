"""The help-centre article, paragraph by paragraph, with real processes.

Every `cablepin app` call is a new process with its own `--home` (one app
installation each); the cloud and the cables are `cablepin serve` and
`cablepin cable run` processes. Fleet-manager and support actions go through
the cloud's HTTP API, as the portal's buttons do.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
from typing import Any

import pytest

from cablepin.app.cloud import CloudClient
from cablepin.app.errors import CableRefused, CloudRefused, CloudUnreachable, LinkError
from cablepin.app.flow import AppCore, PinAsk
from cablepin.app.home import Home
from cablepin.app.link import CableLink
from cablepin.demo import cablepin_command
from cablepin.protocol.batch import unpack_records
from cablepin.protocol.chain import Record

from .conftest import ANNA, BEN, FLEET, PINS_USED, SUPPORT, World

pytestmark = pytest.mark.slow


def pins(*values: str) -> str:
    PINS_USED.update(v for v in values if v)
    return "".join(v + "\n" for v in values)


@pytest.fixture(scope="module", autouse=True)
def logged_in(world: World) -> None:
    world.login("anna", ANNA)
    world.login("anna-tablet", ANNA)  # a second installation of the same driver
    world.login("ben", BEN)


# -- "Standard-Pin-Code" / "Verbindung mit einem Kabel herstellen" ------------------


def test_p1_p3_p6_default_pin_connects_without_prompt_and_syncs_to_the_driver(
    world: World,
) -> None:
    serial = world.cable(ANNA, sessions=3)
    result = world.app("connect", serial, home="anna")  # no --pin-stdin, no terminal
    assert result.ok, result
    out = result.out
    assert (out["auth"], out["pin_default"], out["synced"], out["epoch"]) == ("default", True, 3, 0)
    assert "change_default_pin" in out["notices"]
    assert any("change the default PIN 0000" in m for m in out["messages"])
    assert world.sessions_of(ANNA, serial) == [(0, 1), (0, 2), (0, 3)]
    assert world.detail(serial)["pin_default"] is True  # P6: the portal can show it


def test_p3_p4_changed_pin_is_asked_counted_and_bonds(world: World) -> None:
    serial = world.cable(ANNA, sessions=1)
    assert world.app("change-pin", serial, "--pins-stdin", home="anna", stdin=pins("", "4826")).ok

    def bonded_in_scan(home: str) -> bool:
        found = {c["serial"]: c for c in world.app("scan", home=home).out["cables"]}
        return bool(found[serial]["bonded"])  # the cable is in range: its advert is found

    assert not bonded_in_scan("anna-tablet")
    unknown = world.app("connect", serial, home="anna-tablet")
    assert (unknown.rc, unknown.out["error"]) == (1, "pin_required")

    wrong = world.app("connect", serial, "--pin-stdin", home="anna-tablet", stdin=pins("1357"))
    assert wrong.out["error"] == "wrong_pin"
    assert (wrong.out["attempts_before_wait"], wrong.out["wait_s"]) == (4, 0)
    german = world.app(
        "connect", serial, "--pin-stdin", "--lang", "de",
        home="anna-tablet", stdin=pins("1358"), json_out=False,
    )  # fmt: skip
    assert german.rc == 1
    assert "Falscher PIN. Noch 3 Versuche" in german.stderr

    right = world.app("connect", serial, "--pin-stdin", home="anna-tablet", stdin=pins("4826"))
    assert (right.out["auth"], right.out["synced"]) == ("pin", 1), right
    assert bonded_in_scan("anna-tablet")
    again = world.app("connect", serial, home="anna-tablet")
    assert again.out["auth"] == "bond"
    assert world.app("connect", serial, home="anna").out["auth"] == "bond"  # the changer's bond


# -- "Pin-Code ändern" ------------------------------------------------------------------


def test_p5_change_pin_needs_the_current_one_except_from_0000(world: World) -> None:
    serial = world.cable(ANNA)
    first = world.app("change-pin", serial, "--pins-stdin", home="anna", stdin=pins("", "4826"))
    assert (first.out["auth"], first.out["changed"]) == ("default", True)

    missing = world.app("change-pin", serial, "--pins-stdin", home="anna", stdin=pins("", "5937"))
    assert (missing.out["error"], missing.out["purpose"]) == ("pin_required", "current")
    wrong = world.app("change-pin", serial, "--pins-stdin", home="anna", stdin=pins("1357", "5937"))
    assert wrong.out["error"] == "wrong_pin"
    weak = world.app("change-pin", serial, "--pins-stdin", home="anna", stdin=pins("4826", "1234"))
    assert weak.out["error"] == "weak_pin"
    right = world.app("change-pin", serial, "--pins-stdin", home="anna", stdin=pins("4826", "5937"))
    assert right.ok, right
    old = world.app("connect", serial, "--pin-stdin", home="anna-tablet", stdin=pins("4826"))
    assert old.out["error"] == "wrong_pin"


# -- "Pin-Code vergessen?" -------------------------------------------------------------------


def test_p8_p9_forgotten_pin_fleet_manager_allows_a_new_one_once(world: World) -> None:
    serial = world.cable(ANNA, sessions=2)
    assert world.app("change-pin", serial, "--pins-stdin", home="anna", stdin=pins("", "4826")).ok
    answers = [
        world.app("connect", serial, "--pin-stdin", home="anna-tablet", stdin=pins(guess)).out
        for guess in ("1357", "2468", "3579", "9753", "8642")
    ]
    assert [a["error"] for a in answers] == ["wrong_pin"] * 5
    assert [a["attempts_before_wait"] for a in answers[:4]] == [4, 3, 2, 1]
    assert answers[4]["wait_s"] == 60  # P9: the 5th wrong PIN costs a minute
    waiting = world.app("connect", serial, "--pin-stdin", home="anna-tablet", stdin=pins("4826"))
    assert waiting.out["error"] == "locked"
    assert 0 < waiting.out["wait_s"] <= 60  # even the right PIN must wait; the app says how long

    allowed = world.as_(FLEET).request("POST", f"/api/v1/cables/{serial}/pin-reset", {})
    assert allowed["state"] == "pending"
    assert world.detail(serial)["pin_reset_pending"] is True

    fresh = world.app(
        "change-pin", serial, "--pins-stdin", home="anna-tablet", stdin=pins("", "5937")
    )
    assert (fresh.out["auth"], fresh.out["commands"]) == ("allowed", ["allow_pin_set"]), fresh
    assert world.detail(serial)["pin_reset_pending"] is False

    world.charge(serial, 1)
    synced = world.app("connect", serial, home="anna-tablet")
    assert (synced.out["auth"], synced.out["synced"]) == ("bond", 3)  # sessions intact
    assert world.sessions_of(ANNA, serial) == [(0, 1), (0, 2), (0, 3)]

    # Single use: the permission is gone; the old PIN and the old bond are dead.
    twice = world.app("change-pin", serial, "--pins-stdin", home="anna", stdin=pins("", "3816"))
    assert (twice.out["error"], twice.out["purpose"]) == ("pin_required", "current")
    old_pin = world.app("connect", serial, "--pin-stdin", home="anna", stdin=pins("4826"))
    assert old_pin.out["error"] == "wrong_pin"


def test_p9_ten_wrong_pins_lock_the_cable_until_the_fleet_manager_allows_a_new_pin(
    world: World,
) -> None:
    serial = world.cable(ANNA, sessions=1)
    assert world.app("change-pin", serial, "--pins-stdin", home="anna", stdin=pins("", "4826")).ok
    guesses = ["1357", "2468", "3579", "9753", "8642", "1470", "2581", "3692", "7410", "8520"]
    waits, offset = [], 0
    try:
        for guess in guesses:
            answer = world.app(
                "connect", serial, "--pin-stdin", home="anna-tablet", stdin=pins(guess)
            ).out
            waits.append((answer["error"], answer.get("wait_s", 0)))
            offset += int(answer.get("wait_s") or 0) + 1  # let the wait pass on the cable's clock
            world.set_cable_clock(offset)
        # The schedule of DESIGN.md: 4 free tries, then 1 min, 5 min, 15 min, 15 min, 1 h,
        # and the 10th wrong PIN locks the cable for good.
        assert waits == [
            *[("wrong_pin", 0)] * 4,
            *[("wrong_pin", s) for s in (60, 300, 900, 900, 3600)],
            ("locked", 0),
        ]
        right = world.app("connect", serial, "--pin-stdin", home="anna-tablet", stdin=pins("4826"))
        assert right.out["error"] == "locked", right
        assert right.out.get("reason") == "permanent"
        assert "fleet manager" in right.out["message"]
    finally:
        world.set_cable_clock(0)  # cloud-signed commands live 10 minutes on the real clock
    still = world.app("connect", serial, "--pin-stdin", home="anna-tablet", stdin=pins("4826"))
    assert still.out["error"] == "locked"  # turning the clock back buys no guesses

    world.as_(FLEET).request("POST", f"/api/v1/cables/{serial}/pin-reset", {})
    fresh = world.app(
        "change-pin", serial, "--pins-stdin", home="anna-tablet", stdin=pins("", "5937")
    )
    assert (fresh.out["auth"], fresh.out["commands"]) == ("allowed", ["allow_pin_set"]), fresh
    synced = world.app("connect", serial, home="anna-tablet")
    assert (synced.out["auth"], synced.out["synced"]) == ("bond", 1)  # P8: sessions intact


# -- "Übergabe eines Kabels an einen anderen Nutzer" ----------------------------------------------


def test_h1_h4_s1_handover_wipes_before_sync_and_only_the_new_driver_syncs(world: World) -> None:
    serial = world.cable(ANNA, sessions=2)
    assert world.app("connect", serial, home="anna").out["synced"] == 2
    world.charge(serial, 2)  # Anna's sessions that never reach the cloud
    before = world.detail(serial)
    assert before["last_sync_at"] is not None  # H4: shown before the handover starts

    started = world.as_(FLEET).request(
        "POST", f"/api/v1/cables/{serial}/handover", {"driver_email": BEN.email}
    )
    assert (started["state"], started["to_driver_email"]) == ("pending", BEN.email)
    assert world.detail(serial)["handover_pending"] is True

    ben = world.app("connect", serial, home="ben")
    assert ben.ok, ben
    assert (ben.out["commands"], ben.out["epoch"], ben.out["synced"]) == (["wipe"], 1, 0)
    assert (ben.out["auth"], ben.out["pin_default"]) == ("default", True)
    assert "cable_reset" in ben.out["notices"]
    assert any("reset for a handover" in m for m in ben.out["messages"]), ben
    assert world.sessions_of(BEN, serial) == []  # H3: nothing of Anna's reaches Ben
    detail = world.detail(serial)
    assert (detail["handover_pending"], detail["driver_email"], detail["epoch"]) == (
        False,
        BEN.email,
        1,
    )  # H4: the cable's receipt closed it

    world.charge(serial, 2)
    assert world.app("connect", serial, home="ben").out["synced"] == 2
    assert world.sessions_of(BEN, serial) == [(1, 1), (1, 2)]
    assert world.sessions_of(ANNA, serial) == [(0, 1), (0, 2)]

    anna = world.app("connect", serial, home="anna")
    assert (anna.rc, anna.out["error"]) == (1, "not_assigned")
    assert world.all_sessions(serial) == [
        (0, 1, ANNA.email),
        (0, 2, ANNA.email),
        (1, 1, BEN.email),
        (1, 2, BEN.email),
    ]


def test_h2_h3_old_drivers_app_carries_the_wipe_and_charges_again_yet_ben_starts_clean(
    world: World,
) -> None:
    """Any app may carry the wipe (H2); what is charged after it is still not Ben's (H3)."""
    serial = world.cable(ANNA, sessions=1)
    assert world.app("connect", serial, home="anna").out["synced"] == 1
    world.as_(FLEET).request(
        "POST", f"/api/v1/cables/{serial}/handover", {"driver_email": BEN.email}
    )
    anna = world.app("connect", serial, home="anna")  # Anna's app is first: it wipes
    assert (anna.out["commands"], anna.out["error"]) == (["wipe"], "not_assigned")
    world.charge(serial, 2)  # Anna still has the cable and charges twice more

    ben = world.app("connect", serial, home="ben")
    assert ben.ok, ben
    assert (ben.out["commands"], ben.out["epoch"], ben.out["synced"]) == (["wipe"], 2, 0)
    assert world.sessions_of(BEN, serial) == []
    world.charge(serial, 1)
    assert world.app("connect", serial, home="ben").out["synced"] == 1
    assert world.all_sessions(serial) == [(0, 1, ANNA.email), (2, 1, BEN.email)]


def test_h1_r2_support_full_reset_needs_a_reason_and_is_audited(world: World) -> None:
    serial = world.cable(BEN, sessions=1)
    support = world.as_(SUPPORT)
    with pytest.raises(CloudRefused) as no_reason:
        support.request("POST", f"/api/v1/cables/{serial}/reset", {"reason": ""})
    assert no_reason.value.code in ("reason_required", "invalid_request")
    reason = "ticket 4711: driver left, cable returned damaged"
    support.request("POST", f"/api/v1/cables/{serial}/reset", {"reason": reason})

    ben = world.app("connect", serial, home="ben")
    assert (ben.out["commands"], ben.out["epoch"], ben.out["synced"]) == (["wipe"], 1, 0), ben
    assert ben.out["notices"][0] == "cable_reset_support"  # not "for a handover" (issue 13)
    assert "reset by the vendor's support" in ben.out["messages"][0]
    assert not any("reset for a handover" in m for m in ben.out["messages"]), ben
    events = world.as_(FLEET).request("GET", "/api/v1/audit", params={"limit": 500})["items"]
    mine = [e for e in events if e.get("target") == serial]
    started = [e for e in mine if e["action"] == "reset.started"]
    assert started, mine
    assert (started[0]["reason"], started[0]["actor_email"]) == (reason, SUPPORT.email)
    assert any(e["action"] == "reset.done" for e in mine), mine


# -- H5 / S2: a tampering app, built from the app core's own pieces ------------------------------


def _tamper_kit(world: World, person: Any) -> tuple[CloudClient, bytes]:
    cloud = CloudClient(world.url)
    cloud.login(person.email, person.password)
    ca = cloud.factory_ca().encode()
    return cloud, ca


def _read_all(link: CableLink) -> tuple[list[list[int]], bytes]:
    link.request("auth", pin="0000")
    answer = link.request("read", after_seq=0, limit=500)
    return [r.to_wire() for r in unpack_records(answer["batch"])], answer["head_sig"]


def test_h5_s2_tampering_app_gains_nothing(world: World) -> None:
    serial = world.cable(ANNA, sessions=3)
    address = world.running.addresses[serial]
    cloud, ca = _tamper_kit(world, ANNA)
    with CableLink(address, serial, ca) as link:
        link.request("hello")
        records, head_sig = _read_all(link)
        # S2: altered, dropped-from-the-middle and reordered records are refused.
        altered = [list(r) for r in records]
        altered[1][3] += 1000
        for forged in (altered, [records[0], records[2]], [records[1], records[0], records[2]]):
            with pytest.raises(CloudRefused) as refused:
                cloud.upload_sessions(serial, 0, forged, head_sig)
            assert refused.value.code in ("chain_broken", "invalid_request")
        assert world.sessions_of(ANNA, serial) == []

    # H2/H5: a reset is pending; skipping the wipe gains nothing.
    world.as_(SUPPORT).request(
        "POST", f"/api/v1/cables/{serial}/reset", {"reason": "ticket 4712: test tampering"}
    )
    with CableLink(address, serial, ca) as link:
        hello = link.request("hello", challenge=cloud.challenge(serial))
        stale = cloud.connect(serial, hello).commands
        assert [c.kind for c in stale] == ["wipe"]
        records, head_sig = _read_all(link)
        with pytest.raises(CloudRefused) as skipped:
            cloud.upload_sessions(serial, 0, records, head_sig)
        assert skipped.value.code == "wipe_pending"
    # H5: the wipe signed for that connection does nothing on the next one.
    with CableLink(address, serial, ca) as link:
        link.request("hello")
        with pytest.raises(CableRefused) as replayed:
            link.request("command", cmd=stale[0].blob)
        assert replayed.value.code == "command_rejected"
        assert replayed.value.details.get("reason") == "wrong_nonce"
    assert world.sessions_of(ANNA, serial) == []
    cloud.close()

    honest = world.app("connect", serial, home="anna")
    assert (honest.out["commands"], honest.out["epoch"], honest.out["synced"]) == (["wipe"], 1, 0)
    assert Record.from_wire(records[0]).seq == 1  # they were real records, and they stayed out


def test_h3_h5_colluding_drivers_cannot_hand_a_fresh_hello_across_accounts(world: World) -> None:
    """Red team, finding 9, with real processes: after a handover Anna keeps the cable,
    gets an "empty" hello for a challenge of hers, charges, and gives the hello to Ben.
    Ben's connect with it is refused; Ben's own app wipes Anna's sessions."""
    serial = world.cable(ANNA, sessions=1)
    assert world.app("connect", serial, home="anna").ok
    world.as_(FLEET).request(
        "POST", f"/api/v1/cables/{serial}/handover", {"driver_email": BEN.email}
    )
    anna_app = world.app("connect", serial, home="anna")  # Anna's app carries the wipe
    assert (anna_app.out["commands"], anna_app.out["epoch"]) == (["wipe"], 1), anna_app
    address = world.running.addresses[serial]
    anna, ca = _tamper_kit(world, ANNA)
    with CableLink(address, serial, ca) as link:
        empty = link.request("hello", challenge=anna.challenge(serial))
    assert (empty["epoch"], empty["head"]["seq"]) == (1, 0)
    world.charge(serial, 2)  # Anna charges on, in Ben's epoch
    ben, _ca = _tamper_kit(world, BEN)
    with pytest.raises(CloudRefused) as refused:
        ben.connect(serial, empty)
    assert refused.value.code == "bad_hello"
    assert "fetched by your account" in str(refused.value)
    honest = world.app("connect", serial, home="ben")
    assert (honest.out["commands"], honest.out["epoch"], honest.out["synced"]) == (["wipe"], 2, 0)
    assert world.sessions_of(BEN, serial) == []
    anna.close()
    ben.close()


# -- S1: resumable sync -------------------------------------------------------------------


class DroppingLink:
    """A real link that breaks after ``reads`` reads, like a driver walking away."""

    def __init__(self, link: CableLink, reads: int) -> None:
        self.link, self.reads = link, reads

    def request(self, op: str, **fields: Any) -> Any:
        [answer] = self.pipeline([(op, fields)])
        if isinstance(answer, CableRefused):
            raise answer
        return answer

    def pipeline(self, requests: list[tuple[str, dict[str, Any]]]) -> Any:
        reads = sum(op == "read" for op, _ in requests)
        if reads > self.reads:  # the link breaks in this flight
            self.link.close()
            raise LinkError("the link broke; connect again")
        self.reads -= reads
        return self.link.pipeline(requests)

    def close(self) -> None:
        self.link.close()


@pytest.mark.timeout(600)  # 1,100 sessions through real processes: minutes on a busy machine
def test_s1_interrupted_sync_finishes_next_time_without_loss_or_duplicates(world: World) -> None:
    serial = world.cable(ANNA, sessions=600)
    address = world.running.addresses[serial]

    # 1. Kill the app process somewhere in the middle (wherever it is, nothing may break).
    app = subprocess.Popen(
        [
            *cablepin_command(),
            "app",
            "connect",
            serial,
            "--home",
            str(world.home("anna")),
            "--json",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=world.env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and app.poll() is None:
        if world.detail(serial)["synced_seq"] > 0:
            break
        time.sleep(0.05)
    app.kill()
    app.wait()

    # The killed app may have had an upload in flight that the cloud commits only now, and
    # on a fast machine it may have synced everything: how far it got is unknowable here.
    # So each later step gets new sessions of its own, more than it can finish: the app
    # never syncs past the head the cable showed in its hello.
    world.charge(serial, 300)  # head 900, the cloud has at most 600

    # 2. Drop the link after two batches; 3. stop the cloud in the middle of a sync.
    state = Home(world.home("anna")).load()
    assert state.server is not None
    ca = (state.factory_ca_pem or "").encode()

    def core(reads: int | None, progress: Any = None) -> AppCore:
        def open_link(s: str, a: str | None) -> Any:
            link = CableLink(address, s, ca).open()
            return link if reads is None else DroppingLink(link, reads)

        def no_pin(ask: PinAsk) -> None:
            return None

        return AppCore(
            Home(world.home("anna")),
            CloudClient(state.server or "", state.token),
            open_link,
            pin_prompt=no_pin,
            progress=progress or (lambda done, total: None),
            batch=100,
        )

    with pytest.raises(LinkError):  # at least 300 to read, in batches of 100
        core(reads=2).connect(serial)
    assert world.detail(serial)["synced_seq"] <= 800
    world.charge(serial, 200)  # head 1100: at least 300 left, so the cloud stops mid-sync

    stopped: list[bool] = []

    def stop_cloud_once(done: int, total: int) -> None:
        if done > 0 and not stopped:
            stopped.append(True)
            world.running.stop_cloud()

    with pytest.raises(CloudUnreachable):
        core(reads=None, progress=stop_cloud_once).connect(serial)
    world.running.start_cloud()
    for client in world.clients.values():
        client.close()
    world.clients.clear()

    final = world.app("connect", serial, home="anna")
    assert final.ok, final
    assert final.out["duplicates"] == 0
    assert world.stored_sessions(serial) == [(0, s, ANNA.email) for s in range(1, 1101)]
    assert world.app("connect", serial, home="anna").out["synced"] == 0


# -- P7: no PIN anywhere in the cloud ------------------------------------------------------


def test_p7_no_pin_in_any_table_or_the_server_log(world: World) -> None:
    assert len(PINS_USED) >= 8  # the scenarios above typed these, inside TLS, to the cables
    # One more login whose token must not reach the log either.
    with CloudClient(world.running.url) as cloud:
        cloud.login(SUPPORT.email, SUPPORT.password)
        cloud.request("GET", "/api/v1/me")
        tokens = {str(cloud.token)}
    db_path = world.layout.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(db_path) as db:
        dump = "\n".join(db.iterdump())
    log = (world.root / "cloud.log").read_text(errors="replace")
    # The log is JSON lines (beside `serve`'s own "cablepin cloud on ..." on stdout); every
    # line the cloud wrote while answering a request names that request.
    lines = [line for line in log.splitlines() if line.strip()]
    assert all(line.startswith(("{", "cablepin cloud on http://")) for line in lines)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    ours = [r for r in records if r["logger"].startswith("cablepin")]
    assert len([r for r in ours if r["logger"] == "cablepin.cloud.request"]) > 100
    assert all(r["request_id"] for r in ours)
    for home in (world.root / "apps").iterdir():
        token = json.loads((home / "state.json").read_text()).get("token")
        tokens |= {token} if token else set()
    for secret in (*tokens, *(p.password for p in (ANNA, BEN, FLEET, SUPPORT))):
        assert secret not in log, "a token or password found in the server log"
    for pin in sorted(PINS_USED - {"0000"}):
        # A PIN would show as a value of its own; digits inside hashes, tokens or
        # timestamps are neighbours of other digits or letters and do not count.
        alone = re.compile(rf"(?<![0-9A-Za-z+/]){pin}(?![0-9A-Za-z+/])")
        assert not alone.search(dump), f"PIN {pin} found in the database"
        assert not alone.search(log), f"PIN {pin} found in the server log"
    for home in (world.root / "apps").iterdir():
        state = (home / "state.json").read_text()
        assert all(not re.search(rf"\b{pin}\b", state) for pin in PINS_USED - {"0000"})

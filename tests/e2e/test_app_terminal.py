"""What a driver sees of `cablepin app` in a terminal and in its messages (issue 13).

The commands run as processes against the real cloud and cables; those whose
behaviour depends on the terminal run in a pseudo-terminal (``Terminal``), so
``getpass`` and the progress bar behave as in a shell window.
"""

from __future__ import annotations

import pytest

from cablepin.demo import cablepin_command

from .conftest import ANNA, World, free_port
from .terminal import Terminal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def logged_in(world: World) -> None:
    world.login("anna", ANNA)
    world.login("anna-tablet", ANNA)


def in_terminal(world: World, *args: str, home: str) -> Terminal:
    argv = [*cablepin_command(), "app", *args, "--home", str(world.home(home))]
    return Terminal(argv, world.env)


def test_p3_the_pin_prompt_stays_visible_and_no_bar_runs_while_it_waits(world: World) -> None:
    serial = world.cable(ANNA, sessions=3)
    assert world.app("change-pin", serial, "--pins-stdin", home="anna", stdin="\n4826\n").ok

    term = in_terminal(world, "connect", serial, home="anna-tablet")
    before = term.expect(f"PIN of cable {serial}: ")
    waiting = term.shown_within(1.5)  # the driver reads the prompt; nothing may draw over it
    assert "Syncing" not in before + waiting, term.screen
    assert waiting.strip() == "", term.screen
    term.type("4826")
    term.expect(f"Connected to {serial}: 3 new sessions synced.")
    assert term.wait() == 0, term.screen


def test_p5_change_pin_in_a_terminal_asks_again_until_the_new_pin_is_good(world: World) -> None:
    serial = world.cable(ANNA)  # PIN 0000: no current PIN is asked
    term = in_terminal(world, "change-pin", serial, home="anna")
    new_pin = f"New PIN for cable {serial} (four digits): "
    term.expect(new_pin)
    term.type("12")
    term.expect("A PIN is exactly four digits")  # at once, not after "Repeat"
    term.expect(new_pin)
    term.type("1111")
    term.expect("too easy to guess")
    term.expect(new_pin)
    term.type("4827")
    term.expect("Repeat the new PIN: ")
    term.type("4828")
    term.expect("The two PINs differ. Choose the new PIN again.")
    term.expect(new_pin)
    term.type("4827")
    term.expect("Repeat the new PIN: ")
    term.type("4827")
    term.expect(f"The PIN of cable {serial} was changed.")
    assert term.wait() == 0, term.screen

    bonded = world.app("connect", serial, "--pin-stdin", home="anna-tablet", stdin="4827\n")
    assert (bonded.ok, bonded.out.get("auth")) == (True, "pin"), bonded


def test_p5_change_pin_without_a_terminal_names_the_option_that_exists(world: World) -> None:
    fresh = world.cable(ANNA)  # PIN 0000: the new PIN is missing
    new = world.app("change-pin", fresh, home="anna")
    assert (new.rc, new.out["error"], new.out["purpose"]) == (1, "pin_required", "new")

    protected = world.cable(ANNA)
    assert world.app("change-pin", protected, "--pins-stdin", home="anna", stdin="\n5931\n").ok
    current = world.app("change-pin", protected, home="anna-tablet")
    assert (current.rc, current.out["error"]) == (1, "pin_required")
    assert current.out["purpose"] == "current"

    for result in (new, current):
        assert "--pins-stdin" in result.out["message"]
        assert "--pin-stdin" not in result.out["message"]
    plain = world.app("change-pin", protected, home="anna-tablet", json_out=False)
    assert "--pins-stdin" in plain.stderr
    assert "--pin-stdin" not in plain.stderr


def test_u2_a_wrong_password_says_so_and_what_to_do(world: World) -> None:
    result = world.app(
        "login", "--server", world.url, "--email", ANNA.email, "--password-stdin",
        home="wrong-password", stdin="not-her-password\n", json_out=False,
    )  # fmt: skip
    assert result.rc == 1
    assert "Wrong e-mail or password" in result.stderr
    assert "new invitation" in result.stderr
    assert "not logged in" not in result.stderr
    assert "cablepin app login" not in result.stderr  # not the command just typed
    as_json = world.app(
        "login", "--server", world.url, "--email", ANNA.email, "--password-stdin",
        home="wrong-password", stdin="not-her-password\n",
    )  # fmt: skip
    assert (as_json.rc, as_json.out["error"]) == (1, "wrong_login")


def test_u2_a_port_that_never_answered_is_not_a_lost_connection(world: World) -> None:
    serial = world.cable(ANNA)
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = world.app("connect", serial, "--address", address, home="anna", json_out=False)
    assert result.rc == 1
    assert f"Could not reach the cable at {address}" in result.stderr
    assert "was lost" not in result.stderr
    as_json = world.app("connect", serial, "--address", address, home="anna")
    assert (as_json.out["error"], as_json.out["reason"]) == ("link_failed", "unreachable")


def test_u2_a_serial_is_taken_in_any_case_and_a_malformed_one_is_named(world: World) -> None:
    serial = world.cable(ANNA, sessions=1)
    lower = world.app("connect", serial.lower(), home="anna")
    assert lower.ok, lower
    assert (lower.out["serial"], lower.out["synced"]) == (serial, 1)

    typo = world.app("connect", "CBL-0001", home="anna", json_out=False)
    assert typo.rc == 1
    assert "'CBL-0001' is not a cable serial" in typo.stderr
    assert "genuine" not in typo.stderr


def test_the_radio_given_at_login_is_where_the_app_finds_cables(world: World) -> None:
    serial = world.cable(ANNA)
    radio = world.env["CABLEPIN_RADIO"]
    elsewhere = {"CABLEPIN_RADIO": str(world.root / "another-radio")}  # another demo's, empty
    deaf = world.app("scan", home="anna", env=elsewhere)
    assert serial not in {c["serial"] for c in deaf.out["cables"]}

    result = world.app(
        "login", "--server", world.url, "--email", ANNA.email, "--password-stdin",
        "--radio", radio, home="anna-radio", stdin=ANNA.password + "\n", env=elsewhere,
    )  # fmt: skip
    assert result.ok, result
    heard = world.app("scan", home="anna-radio", env=elsewhere)
    assert serial in {c["serial"] for c in heard.out["cables"]}
    connected = world.app("connect", serial, home="anna-radio", env=elsewhere)
    assert connected.ok, connected

"""Red team finding 5: revoking a PIN permission whose signed copy an app already holds.

The cloud cannot call a copy back from an app, so it says the truth instead: the
portal shows that a copy is with an app and until when; when the cable takes it
anyway, the audit log says ``pin_reset.used_after_revoke`` and the command ends
``revoked_used`` (not ``done``); and a copy lives two minutes of the cable's own
count, whatever its clock says. Real processes: ``cablepin serve``, ``cablepin
cable run`` and the driver's ``cablepin app`` in a pseudo-terminal, which holds the
copy while it asks for the new PIN; the fleet manager uses the portal over HTTP.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import httpx
import pytest

from cablepin.cloud.portal.i18n import format_time
from cablepin.demo import cablepin_command
from cablepin.protocol.commands import COMMAND_LIFETIME_S

from .conftest import ANNA, FLEET, World
from .terminal import Terminal

pytestmark = pytest.mark.slow

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module", autouse=True)
def logged_in(world: World) -> None:
    world.login("anna", ANNA)
    world.login("anna-phone", ANNA)


@pytest.fixture
def portal(world: World) -> Iterator[httpx.Client]:
    """The fleet manager's browser, in English, signed in to the portal."""
    with httpx.Client(base_url=world.url) as client:
        page = client.get("/signin")
        signed_in = client.post(
            "/signin",
            data={
                "email": FLEET.email,
                "password": FLEET.password,
                "csrf_token": csrf(page.text),
                "next": "/",
            },
        )
        assert signed_in.status_code == 303, signed_in.text
        home = client.get("/").text
        english = client.post("/lang", data={"lang": "en", "back": "/", "csrf_token": csrf(home)})
        assert english.status_code == 303, english.text
        yield client


def csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def forgotten_pin(world: World) -> str:
    """A cable of Anna's with a PIN she set and forgot, and a permission to choose a new one."""
    serial = world.cable(ANNA, sessions=1)
    assert world.app("change-pin", serial, "--pins-stdin", home="anna", stdin="\n4826\n").ok
    world.as_(FLEET).request("POST", f"/api/v1/cables/{serial}/pin-reset", {})
    return serial


def at_the_new_pin_prompt(world: World, serial: str) -> Terminal:
    """Anna's phone has fetched the signed copy and waits for her to type the new PIN."""
    home = str(world.home("anna-phone"))
    term = Terminal([*cablepin_command(), "app", "change-pin", serial, "--home", home], world.env)
    term.expect(f"New PIN for cable {serial} (four digits): ")
    return term


def shown(moment: str) -> str:
    """A moment as the English portal writes it, e.g. "11/30/26, 10:42 AM CET"."""
    return format_time(dt.datetime.fromisoformat(moment), "en")


def audit_actions(world: World, serial: str) -> list[str]:
    items = world.as_(FLEET).request("GET", "/api/v1/audit", params={"limit": 500})["items"]
    return [str(i["action"]) for i in items if i.get("target") == serial]


def test_p8_revoked_after_the_app_took_a_copy_the_portal_says_until_when_and_use_is_named(
    world: World, portal: httpx.Client
) -> None:
    serial = forgotten_pin(world)
    term = at_the_new_pin_prompt(world, serial)

    pending = world.detail(serial)["pending_pin_reset"]
    until = pending["with_app_until"]
    assert until is not None, pending
    lifetime = dt.datetime.fromisoformat(until) - dt.datetime.now(dt.UTC)
    assert lifetime <= dt.timedelta(seconds=COMMAND_LIFETIME_S)
    page = portal.get(f"/cables/{serial}").text
    assert f"A copy is already with an app until {shown(until)}" in page, page

    revoked = portal.post(f"/cables/{serial}/pin-reset/revoke", data={"csrf_token": csrf(page)})
    assert revoked.status_code == 303, revoked.text
    page = portal.get(f"/cables/{serial}").text
    assert f"a copy is already with an app until {shown(until)}" in page, page
    assert world.detail(serial)["permission_with_app"]["with_app_until"] == until

    # Anna types her new PIN within the copy's two minutes: the cable takes it.
    term.type("5937")
    term.expect("Repeat the new PIN: ")
    term.type("5937")
    term.expect(f"The PIN of cable {serial} was changed.")
    assert term.wait() == 0, term.screen

    command = world.detail(serial)["commands"][0]
    assert (command["purpose"], command["state"]) == ("pin_reset", "revoked_used"), command
    actions = audit_actions(world, serial)
    assert "pin_reset.used_after_revoke" in actions, actions
    assert "pin_reset.used" not in actions, actions  # not recorded as a normal use
    page = portal.get(f"/cables/{serial}").text
    assert "used after revocation" in page
    assert "already with an app" not in page  # the copy is spent: the cable applies it once


def test_p8_a_copy_is_dead_two_minutes_after_the_connection_opened_by_the_cables_own_count(
    world: World,
) -> None:
    """The cable's clock runs 5 minutes behind the cloud's. By its wall clock the copy is
    still young when two minutes of the connection have passed; by its own count it is not."""
    serial = forgotten_pin(world)
    behind = -300
    try:
        world.set_cable_clock(behind)
        term = at_the_new_pin_prompt(world, serial)
        world.set_cable_clock(behind + COMMAND_LIFETIME_S)  # two minutes pass on the cable
        term.type("5937")
        term.expect("Repeat the new PIN: ")
        term.type("5937")
        assert term.wait() != 0, term.screen
        assert "was changed" not in term.screen
        assert "expired" in term.screen.lower(), term.screen
    finally:
        world.set_cable_clock(0)
    assert world.detail(serial)["pending_pin_reset"] is not None  # still allowed, not spent

    # The app handed the refused copy back: the next try gets the permission at once.
    again = world.app("change-pin", serial, "--pins-stdin", home="anna-phone", stdin="\n5937\n")
    assert (again.ok, again.out.get("auth")) == (True, "allowed"), again
    assert "pin_reset.used" in audit_actions(world, serial)

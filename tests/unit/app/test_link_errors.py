"""The app's link: how a cable's refusal and an address are turned into the app's terms."""

from __future__ import annotations

import pytest

from cablepin.app.errors import AppError, CableRefused, LinkError
from cablepin.app.link import parse_address


def test_u2_a_refusal_keeps_the_cables_code_message_and_details() -> None:
    error = CableRefused.from_response(
        {
            "error": "wrong_pin",
            "message": "wrong PIN; wait 60 seconds",
            "wait_s": 60,
            "attempts_before_wait": 1,
        }
    )
    assert isinstance(error, CableRefused)
    assert isinstance(error, AppError)
    assert error.code == "wrong_pin"
    assert error.to_dict() == {
        "error": "wrong_pin",
        "message": "wrong PIN; wait 60 seconds",
        "wait_s": 60,
        "attempts_before_wait": 1,
    }
    assert type(error) is CableRefused.kind("wrong_pin")  # one class per code, reused


def test_refusals_of_different_codes_do_not_share_a_code() -> None:
    locked = CableRefused.from_response({"error": "locked", "message": "m", "reason": "permanent"})
    assert locked.code == "locked"
    assert locked.details == {"reason": "permanent"}
    assert CableRefused.code == "cable_refused"


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:4000", ("127.0.0.1", 4000)), ("[::1]:9", ("::1", 9)), ("cable:1", ("cable", 1))],
)
def test_link_addresses_are_host_and_port(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["", "4000", "host:", ":4000", "host:port", "host:70000"])
def test_a_malformed_address_says_how_to_write_it(address: str) -> None:
    with pytest.raises(LinkError, match="HOST:PORT"):
        parse_address(address)

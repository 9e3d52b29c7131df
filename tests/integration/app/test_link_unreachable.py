"""A cable address where nothing (or something silent) answers: "could not reach", not "lost"."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from cablepin.app.errors import LinkError
from cablepin.app.i18n import Translator, explain
from cablepin.app.link import CableLink
from cablepin.protocol.pki import certificate_pem, generate_key, make_factory_ca

SERIAL = "CBL-00000001"


@pytest.fixture(scope="module")
def ca_pem() -> bytes:
    return certificate_pem(make_factory_ca(generate_key(), dt.datetime.now(dt.UTC)))


def test_u2_a_port_that_accepts_but_never_answers_could_not_be_reached(ca_pem: bytes) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never speaks TLS
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(LinkError) as caught:
            CableLink(address, SERIAL, ca_pem, timeout=0.3).open()
    error = caught.value
    assert (error.details["reason"], error.details["address"]) == ("unreachable", address)
    assert explain(error, Translator("en")).startswith(f"Could not reach the cable at {address}.")
    assert explain(error, Translator("de")).startswith(f"Das Kabel unter {address} ist nicht")


def test_u2_a_closed_port_could_not_be_reached(ca_pem: bytes) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(LinkError) as caught:
        CableLink(address, SERIAL, ca_pem, timeout=1.0).open()
    assert caught.value.details == {"reason": "unreachable", "address": address}

from __future__ import annotations

import datetime as dt

import pytest

from cablepin.protocol import pki
from cablepin.protocol.errors import CertificateError, MessageError, ProtocolError
from cablepin.protocol.events import HandshakeComplete, RequestReceived, ResponseReceived
from cablepin.protocol.messages import Request

from .conftest import NOW, SERIAL, ConnectionPair, Factory


def drain(conn):  # type: ignore[no-untyped-def]
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def test_handshake_proves_the_serial_to_the_app(pair: ConnectionPair) -> None:
    assert drain(pair.app) == [HandshakeComplete(SERIAL)]
    assert drain(pair.cable) == [HandshakeComplete(None)]


def test_request_and_response_travel_inside_tls(pair: ConnectionPair) -> None:
    drain(pair.app), drain(pair.cable)
    rid = pair.app.send_request("read", after_seq=3, limit=10)
    pair.pump()
    [event] = drain(pair.cable)
    assert event == RequestReceived(Request("read", rid, {"after_seq": 3, "limit": 10}))
    pair.cable.send_response(rid, batch=[4, 1, 1, 3, 4, 0, 5], head_sig=b"s" * 64, more=False)
    pair.pump()
    [answer] = drain(pair.app)
    assert isinstance(answer, ResponseReceived)
    assert answer.op == "read"
    assert answer.response.ok
    assert answer.response.fields["batch"] == [4, 1, 1, 3, 4, 0, 5]


def test_pin_never_appears_in_clear_on_the_wire(factory: Factory) -> None:
    pair = ConnectionPair(factory)
    pair.app.initiate()
    captured = bytearray()
    original = pair.app.data_to_send

    def tap() -> bytes:
        data = original()
        captured.extend(data)
        return data

    pair.app.data_to_send = tap  # type: ignore[method-assign]
    pair.pump()
    pair.app.send_request("auth", pin="7391")
    pair.pump()
    assert b"7391" not in captured


def test_app_refuses_a_cable_with_another_serial(factory: Factory) -> None:
    pair = ConnectionPair(factory, serial="CBL-99999999")
    with pytest.raises(CertificateError, match="not a genuine cable"):
        pair.open()


def test_app_refuses_a_cable_not_signed_by_the_factory(factory: Factory) -> None:
    rogue_key = pki.generate_key()
    rogue_ca = pki.make_factory_ca(rogue_key, NOW + dt.timedelta(seconds=1))
    pair = ConnectionPair(factory, ca_pem=pki.certificate_pem(rogue_ca))
    with pytest.raises(CertificateError):
        pair.open()


def test_unsolicited_response_is_refused(pair: ConnectionPair) -> None:
    drain(pair.app), drain(pair.cable)
    pair.cable.send_response(77, kind="wipe", receipt=b"r")
    with pytest.raises(MessageError, match="never sent"):
        pair.pump()


def test_response_with_wrong_fields_is_refused(pair: ConnectionPair) -> None:
    drain(pair.app), drain(pair.cable)
    rid = pair.app.send_request("hello")
    pair.pump()
    drain(pair.cable)
    pair.cable.send_response(rid, serial=SERIAL)
    with pytest.raises(MessageError, match="missing field"):
        pair.pump()


def test_cannot_send_before_the_handshake(factory: Factory) -> None:
    pair = ConnectionPair(factory)
    with pytest.raises(ProtocolError, match="handshaking"):
        pair.app.send_request("hello")


def test_unreadable_request_with_an_id_is_answered_not_fatal(pair: ConnectionPair) -> None:
    drain(pair.app), drain(pair.cable)
    # a newer app asks for an op this cable does not know
    pair.app._pending[41] = "hello"
    pair.app._send_frame({"op": "teleport", "id": 41})
    pair.pump()
    assert drain(pair.cable) == []
    [answer] = drain(pair.app)
    assert isinstance(answer, ResponseReceived)
    assert answer.response.error == "bad_message"
    assert "teleport" in answer.response.fields["message"]
    # and the connection still works
    rid = pair.app.send_request("hello")
    pair.pump()
    assert [e.request.id for e in drain(pair.cable)] == [rid]


def test_request_without_readable_id_ends_the_connection(pair: ConnectionPair) -> None:
    drain(pair.app), drain(pair.cable)
    pair.app._send_frame({"op": "hello", "id": "x"})
    with pytest.raises(MessageError):
        pair.pump()

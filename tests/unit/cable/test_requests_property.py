"""Property: whatever a (hostile) app sends, the cable answers or refuses; it never crashes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cablepin.cable.errors import CableError
from cablepin.cable.firmware import Cable
from cablepin.cable.session import CableSession
from cablepin.protocol.commands import CommandKind
from cablepin.protocol.errors import ProtocolError
from cablepin.protocol.messages import OPS, parse_request

from .conftest import NONCE, NOW, Keys, counter_random, new_flash

FIELD_NAMES = ["bond", "pin", "new", "current", "cmd", "after_seq", "limit", "junk"]
values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.binary(max_size=80),
    st.text(max_size=8),
    st.sampled_from(["0000", "4711", "1234", "12345", "١٢٣٤"]),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)
requests = st.fixed_dictionaries(
    {"op": st.sampled_from([*sorted(OPS), "wipe", ""]), "id": st.integers(-1, 2**33)},
    optional={name: values for name in FIELD_NAMES},
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=st.lists(requests, min_size=1, max_size=6), keys_now=st.integers(0, 2**40))
def test_arbitrary_requests_raise_only_cable_or_protocol_errors(
    keys: Keys, script: list[dict[str, Any]], keys_now: int
) -> None:
    cable = Cable(keys.identity, new_flash(keys.identity), counter_random())
    cable.record_session(NOW, NOW + 60, 1000, 11000)
    session = CableSession(cable, NONCE)
    for raw in script:
        if raw["op"] == "command" and raw.get("cmd") == b"":
            raw["cmd"] = keys.command(CommandKind.WIPE)  # sometimes a genuine command too
        try:
            request = parse_request(raw)
            answer = session.handle(request, keys_now)
        except (CableError, ProtocolError):
            continue
        assert isinstance(answer, dict)
    cable.state()  # the flash still holds a readable state

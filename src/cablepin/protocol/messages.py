"""The messages of protocol v1, as a table of fields per operation.

Rules kept here:

* A request is ``{"op": str, "id": int, ...fields}``; a response is
  ``{"id": int, "ok": true, ...fields}`` or
  ``{"id": int, "ok": false, "error": code, "message": text, ...details}``.
* Which fields each op takes and returns is data (``REQUEST_FIELDS``,
  ``RESPONSE_FIELDS``), not code: a new op is a new row.
* Unknown ops, missing required fields, wrong types, out-of-range integers
  and unknown fields raise ``MessageError``.
* Records travel as one flat array of integers per batch, delta-coded
  (``batch.py``): keys, or seven absolute integers a record, would cost
  more bytes than the information.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cablepin.protocol.errors import MessageError

__all__ = [
    "CHALLENGE_SIZE",
    "MAX_READ_LIMIT",
    "NONCE_SIZE",
    "OPS",
    "REQUEST_FIELDS",
    "RESPONSE_FIELDS",
    "Request",
    "Response",
    "parse_request",
    "parse_response",
    "request_to_wire",
    "response_to_wire",
]

NONCE_SIZE: Final = 16
CHALLENGE_SIZE: Final = 16
MAX_READ_LIMIT: Final = 500
# A read's batch (batch.py): seven integers for the first record, six for each one after.
BATCH_FIRST_SIZE: Final = 7
BATCH_NEXT_SIZE: Final = 6
MAX_BATCH_INTS: Final = BATCH_FIRST_SIZE + BATCH_NEXT_SIZE * (MAX_READ_LIMIT - 1)
MAX_ID: Final = 2**32 - 1
MAX_UINT: Final = 2**63 - 1


@dataclass(frozen=True)
class Spec:
    """One field: its Python type, whether it must be present, and bounds."""

    type: type
    required: bool = True
    min_len: int = 0
    max_len: int = 1024


def _req(t: type, **kw: Any) -> Spec:
    return Spec(t, True, **kw)


def _opt(t: type, **kw: Any) -> Spec:
    return Spec(t, False, **kw)


# The exact format (4 digits, P2) is the cable's rule: it answers invalid_pin or weak_pin.
_PIN = Spec(str, True, 0, 16)
_BYTES32 = Spec(bytes, True, 32, 32)
_SIG = Spec(bytes, True, 64, 64)

REQUEST_FIELDS: Final[Mapping[str, Mapping[str, Spec]]] = {
    "hello": {"challenge": Spec(bytes, False, CHALLENGE_SIZE, CHALLENGE_SIZE)},
    "command": {"cmd": _req(bytes, min_len=1, max_len=1024)},
    "auth": {"bond": _opt(bytes, min_len=32, max_len=32), "pin": Spec(str, False, 0, 16)},
    "set_pin": {"new": _PIN, "current": Spec(str, False, 0, 16)},
    "read": {"after_seq": _req(int), "limit": _req(int)},
}

RESPONSE_FIELDS: Final[Mapping[str, Mapping[str, Spec]]] = {
    "hello": {
        "serial": _req(str, max_len=64),
        "fw": _req(str, max_len=64),
        "epoch": _req(int),
        "pin_default": _req(bool),
        "nonce": Spec(bytes, True, NONCE_SIZE, NONCE_SIZE),
        "head": _req(dict),
        "wait_s": _req(int),
        "locked": _req(bool),
        "challenge": Spec(bytes, False, CHALLENGE_SIZE, CHALLENGE_SIZE),
        "sig": _SIG,
        "receipt": _opt(bytes, min_len=1, max_len=1024),
    },
    "command": {"receipt": _req(bytes, min_len=1, max_len=1024), "kind": _req(str, max_len=32)},
    "auth": {"bond": _opt(bytes, min_len=32, max_len=32), "via": _req(str, max_len=16)},
    "set_pin": {"bond": _opt(bytes, min_len=32, max_len=32)},
    "read": {"batch": _req(list, max_len=MAX_BATCH_INTS), "head_sig": _SIG, "more": _req(bool)},
}

OPS: Final = frozenset(REQUEST_FIELDS)
_ERROR_FIELDS: Final = {"error": _req(str, max_len=64), "message": _req(str, max_len=1024)}
_ERROR_DETAILS: Final = {"wait_s": int, "attempts_before_wait": int, "reason": str}


@dataclass(frozen=True)
class Request:
    op: str
    id: int
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    id: int
    ok: bool
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        return None if self.ok else str(self.fields["error"])


def _check_value(name: str, spec: Spec, value: Any) -> None:
    # bool is an int subclass in Python; keep the two apart on the wire.
    if isinstance(value, bool) and spec.type is not bool:
        raise MessageError(f"field {name!r} must be {spec.type.__name__}, not bool")
    if not isinstance(value, spec.type):
        raise MessageError(f"field {name!r} must be {spec.type.__name__}")
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_UINT:
        raise MessageError(f"field {name!r} is out of range")
    if isinstance(value, bytes | str | list | dict) and not (
        spec.min_len <= len(value) <= spec.max_len
    ):
        raise MessageError(f"field {name!r} has a length outside {spec.min_len}..{spec.max_len}")


def _check_fields(specs: Mapping[str, Spec], given: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(given) - set(specs)
    if unknown:
        raise MessageError(f"unknown fields: {', '.join(sorted(unknown))}")
    for name, spec in specs.items():
        if name in given:
            _check_value(name, spec, given[name])
        elif spec.required:
            raise MessageError(f"missing field {name!r}")
    return dict(given)


def _message_id(obj: Mapping[str, Any]) -> int:
    mid = obj.get("id")
    if not isinstance(mid, int) or isinstance(mid, bool) or not 0 <= mid <= MAX_ID:
        raise MessageError("'id' must be an integer in 0..2^32-1")
    return mid


def parse_request(obj: Mapping[str, Any]) -> Request:
    op = obj.get("op")
    if not isinstance(op, str) or op not in REQUEST_FIELDS:
        raise MessageError(f"unknown op {op!r}")
    mid = _message_id(obj)
    given = {k: v for k, v in obj.items() if k not in ("op", "id")}
    return Request(op, mid, _check_fields(REQUEST_FIELDS[op], given))


def parse_response(obj: Mapping[str, Any], op: str) -> Response:
    """Validate a response to a request of ``op`` (the caller knows which op an id belongs to)."""
    mid = _message_id(obj)
    ok = obj.get("ok")
    if not isinstance(ok, bool):
        raise MessageError("'ok' must be a boolean")
    given = {k: v for k, v in obj.items() if k not in ("id", "ok")}
    if ok:
        return Response(mid, True, _check_fields(RESPONSE_FIELDS[op], given))
    details = {k: v for k, v in given.items() if k not in _ERROR_FIELDS}
    fields = _check_fields(_ERROR_FIELDS, {k: given[k] for k in given if k in _ERROR_FIELDS})
    for name, value in details.items():
        expected = _ERROR_DETAILS.get(name)
        if expected is None:
            raise MessageError(f"unknown error detail {name!r}")
        _check_value(name, Spec(expected, False), value)
    return Response(mid, False, {**fields, **details})


def request_to_wire(request: Request) -> dict[str, Any]:
    _check_fields(REQUEST_FIELDS[request.op], request.fields)
    return {"op": request.op, "id": request.id, **request.fields}


def response_to_wire(response: Response) -> dict[str, Any]:
    return {"id": response.id, "ok": response.ok, **response.fields}

"""Canonical CBOR and the length-prefixed frame format.

Rules kept here:

* Every frame is a 4-byte big-endian length followed by that many bytes of
  canonical CBOR (RFC 8949 §4.2.1) holding one map.
* No frame is larger than ``MAX_FRAME``; a length prefix above it is refused
  as soon as its 4 bytes arrive, so a peer can never make us buffer more.
* Decoded values are plain data only: int, bytes, str, bool, None, lists
  and maps with string keys. CBOR tags are refused (no datetimes, no
  bignums, no surprises), and trailing bytes after the item are refused.
* Any malformed input raises ``FrameError``; nothing else escapes.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import cbor2

from cablepin.protocol.errors import FrameError

__all__ = ["MAX_FRAME", "FrameDecoder", "cbor_dumps", "cbor_loads", "encode_frame"]

MAX_FRAME = 64 * 1024
MAX_DEPTH = 8
_LENGTH = struct.Struct(">I")


def cbor_dumps(value: Any) -> bytes:
    """Canonical CBOR: the same value always gives the same bytes (signatures rely on it)."""
    try:
        return cbor2.dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as e:
        raise FrameError(f"cannot encode value: {e}") from e


def _refuse_tag(_decoder: Any, tag: Any) -> Any:
    raise FrameError(f"CBOR tag {tag.tag} is not allowed")


def _check_plain(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise FrameError("CBOR value is nested too deeply")
    if value is None or isinstance(value, bool | int | bytes | str):
        return
    if isinstance(value, list):
        for item in value:
            _check_plain(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise FrameError("CBOR map keys must be text")
            _check_plain(item, depth + 1)
        return
    raise FrameError(f"CBOR value of type {type(value).__name__} is not allowed")


def cbor_loads(data: bytes, *, max_size: int = MAX_FRAME) -> Any:
    """Decode exactly one plain CBOR item; raise ``FrameError`` on anything else.

    ``max_size`` defaults to the frame limit: what arrives from a peer. Local
    data with its own, larger bound (the cable's state file) passes its own.
    """
    if len(data) > max_size:
        raise FrameError(f"CBOR item of {len(data)} bytes exceeds the {max_size}-byte limit")
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream, tag_hook=_refuse_tag).decode()
    except FrameError:
        raise
    except Exception as e:  # cbor2 raises a wide variety on hostile input; all mean "malformed"
        raise FrameError(f"malformed CBOR: {type(e).__name__}") from e
    if stream.tell() != len(data):
        raise FrameError("trailing bytes after the CBOR item")
    _check_plain(value)
    return value


def encode_frame(message: Mapping[str, Any]) -> bytes:
    body = cbor_dumps(dict(message))
    if len(body) > MAX_FRAME:
        raise FrameError(f"message of {len(body)} bytes exceeds the {MAX_FRAME}-byte limit")
    return _LENGTH.pack(len(body)) + body


class FrameDecoder:
    """Bytes in, complete messages (dicts) out. Never buffers more than one frame."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise FrameError(f"frame of {length} bytes exceeds the {MAX_FRAME}-byte limit")

    def frames(self) -> Iterator[dict[str, Any]]:
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise FrameError(f"frame of {length} bytes exceeds the {MAX_FRAME}-byte limit")
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                return
            body = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            value = cbor_loads(body)
            if not isinstance(value, dict):
                raise FrameError("a frame must hold a CBOR map")
            yield value

    @property
    def pending(self) -> int:
        return len(self._buffer)

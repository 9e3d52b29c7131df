"""What a cable advertises so that an app can find it (BLE advertising, simulated).

In the field a cable broadcasts its serial over Bluetooth LE. Here the "radio
range" is a directory (``$CABLEPIN_RADIO``, default a per-user folder in the
system temp dir; a demo keeps its own inside its folder, and an app may be
given one at login): a running cable puts one advertisement file in it, named
after its serial, and removes it when it stops. This module owns only the
bytes and the default place; reading and writing the files is the caller's I/O.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cablepin.protocol.codec import cbor_dumps, cbor_loads
from cablepin.protocol.errors import FrameError, MessageError
from cablepin.protocol.pki import check_serial

__all__ = ["RADIO_ENV", "Advert", "decode_advert", "default_radio_dir", "encode_advert"]

RADIO_ENV = "CABLEPIN_RADIO"


@dataclass(frozen=True)
class Advert:
    serial: str
    address: str  # "HOST:PORT"
    pid: int


def default_radio_dir() -> Path:
    configured = os.environ.get(RADIO_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"cablepin-radio-{os.getuid()}"


def encode_advert(advert: Advert) -> bytes:
    return cbor_dumps({"serial": advert.serial, "address": advert.address, "pid": advert.pid})


def decode_advert(data: bytes) -> Advert:
    try:
        value = cbor_loads(data)
    except FrameError as e:
        raise MessageError(f"malformed advertisement: {e.message}") from e
    if not isinstance(value, dict):
        raise MessageError("an advertisement must be a map")
    serial, address, pid = value.get("serial"), value.get("address"), value.get("pid")
    if not isinstance(serial, str) or not isinstance(address, str) or not isinstance(pid, int):
        raise MessageError("an advertisement holds serial, address and pid")
    return Advert(check_serial(serial), address, pid)

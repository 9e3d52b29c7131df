"""Finding cables in range: the simulated radio is a folder of advertisement files.

A running cable puts ``<serial>.advert`` into ``protocol.advert.default_radio_dir()``
and removes it when it stops. A cable that was killed cannot remove it, so an
advert whose process is gone is dropped, as a phone forgets a beacon it no
longer hears. Unreadable adverts are skipped: a radio is noisy.
"""

from __future__ import annotations

import os
from pathlib import Path

from cablepin.app.errors import CableNotFound
from cablepin.protocol.advert import Advert, decode_advert, default_radio_dir
from cablepin.protocol.errors import ProtocolError

__all__ = ["find", "scan"]

SUFFIX = ".advert"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


def scan(radio: Path | None = None) -> list[Advert]:
    """Every cable in range, by serial."""
    folder = default_radio_dir() if radio is None else radio
    try:
        files = sorted(folder.glob("*" + SUFFIX))
    except OSError:
        return []
    found: list[Advert] = []
    for path in files:
        try:
            advert = decode_advert(path.read_bytes())
        except (OSError, ProtocolError):
            continue
        if path.name != advert.serial + SUFFIX or not _alive(advert.pid):
            continue
        found.append(advert)
    return found


def find(serial: str, radio: Path | None = None) -> Advert:
    for advert in scan(radio):
        if advert.serial == serial:
            return advert
    raise CableNotFound(
        f"cable {serial} is not in range; plug it in and come closer "
        "(or give its address with --address HOST:PORT)",
        serial=serial,
    )

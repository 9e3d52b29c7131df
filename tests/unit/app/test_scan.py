"""Scanning the simulated radio: live adverts only, by serial."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cablepin.app.errors import CableNotFound
from cablepin.app.scan import find, scan
from cablepin.protocol.advert import Advert, encode_advert


def put(radio: Path, advert: Advert) -> None:
    radio.mkdir(exist_ok=True)
    (radio / f"{advert.serial}.advert").write_bytes(encode_advert(advert))


def test_lists_live_cables_and_drops_dead_ones(tmp_path: Path) -> None:
    put(tmp_path, Advert("CBL-00000001", "127.0.0.1:7001", os.getpid()))
    put(tmp_path, Advert("CBL-00000002", "127.0.0.1:7002", 2**22 + 12345))  # no such process
    (tmp_path / "CBL-00000003.advert").write_bytes(b"\xff noise")
    assert [a.serial for a in scan(tmp_path)] == ["CBL-00000001"]
    assert find("CBL-00000001", tmp_path).address == "127.0.0.1:7001"


def test_missing_cable_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CableNotFound, match="--address") as missing:
        find("CBL-00000009", tmp_path / "nowhere")
    assert missing.value.details == {"serial": "CBL-00000009"}

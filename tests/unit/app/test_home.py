"""The app's local state: owner-only files, atomic replace, bonds kept, no PIN (P7)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cablepin.app.errors import HomeError
from cablepin.app.home import AppState, Home, default_home

from .conftest import SERIAL, Prompt, World


def test_files_are_owner_only(tmp_path: Path) -> None:
    home = Home(tmp_path / "h")
    home.update(lambda s: AppState(server="http://x", token="t"))
    assert stat.S_IMODE((tmp_path / "h").stat().st_mode) == 0o700
    for path in (tmp_path / "h").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_bonds_survive_logout(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.update(lambda s: AppState(server="http://x", token="t", email="a@b"))
    home.save_bond(SERIAL, b"\x01" * 32)
    home.update(AppState.logged_out)
    state = home.load()
    assert (state.logged_in, state.server, state.bonds) == (
        False,
        "http://x",
        {SERIAL: b"\x01" * 32},
    )


def test_damaged_state_is_refused_with_advice(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(HomeError, match="log in again"):
        Home(tmp_path).load()


def test_home_follows_the_environment(tmp_path: Path) -> None:
    assert default_home({"CABLEPIN_HOME": str(tmp_path)}) == tmp_path
    assert default_home({}).name == ".cablepin"


def test_p7_no_pin_is_stored_on_the_phone(world: World) -> None:
    app = world.app("phone", Prompt({"pin": "7391"}))
    app.change_pin(SERIAL, None, "7391")
    app.change_pin(SERIAL, "7391", "5937")
    raw = (world.tmp / "phone" / "state.json").read_text()
    assert "7391" not in raw
    assert "5937" not in raw
    assert not any("pin" in key for key in json.loads(raw))

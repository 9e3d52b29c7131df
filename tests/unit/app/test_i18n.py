"""Messages a driver understands, in German and English (U2)."""

from __future__ import annotations

import pytest

from cablepin.app.errors import CableRefused, CloudRefused, PinNeeded
from cablepin.app.i18n import CATALOG, LANGUAGES, Translator, detect_language, explain


def test_every_message_exists_in_both_languages() -> None:
    for key, texts in CATALOG.items():
        assert set(texts) == set(LANGUAGES), key


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({"LANG": "de_DE.UTF-8"}, "de"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LC_ALL": "de_AT.UTF-8", "LANG": "en_US"}, "de"),
        ({"LANG": "fr_FR"}, "en"),
        ({}, "en"),
    ],
)
def test_language_follows_the_system_locale(env: dict[str, str], lang: str) -> None:
    assert detect_language(env) == lang


def test_u2_wrong_pin_says_the_tries_left() -> None:
    error = CableRefused.kind("wrong_pin")("x", attempts_before_wait=3, wait_s=0)
    assert "3 more attempt" in explain(error, Translator("en"))
    assert "Noch 3 Versuch" in explain(error, Translator("de"))


def test_u2_waits_are_shown_in_minutes() -> None:
    error = CableRefused.kind("locked")("x", wait_s=61)
    assert "2 minute" in explain(error, Translator("en"))
    assert "2 Minute" in explain(error, Translator("de"))


def test_u2_locked_cable_points_to_the_fleet_manager() -> None:
    error = CableRefused.kind("locked")("x", reason="permanent")
    assert "ask your fleet manager to allow a new PIN" in explain(error, Translator("en"))
    assert "Fleetmanagement" in explain(error, Translator("de"))


def test_u2_not_assigned_and_pin_required() -> None:
    t = Translator("de")
    assert "nicht zugewiesen" in explain(CloudRefused.kind("not_assigned")("x"), t)
    needed = PinNeeded("x", serial="CBL-00000001", purpose="pin")
    assert "CBL-00000001" in explain(needed, t)


def test_unknown_codes_keep_their_message() -> None:
    assert (
        explain(CloudRefused.kind("teapot")("short and stout"), Translator()) == "short and stout"
    )

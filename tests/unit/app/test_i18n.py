"""Messages a driver understands, in German and English (U2)."""

from __future__ import annotations

import pytest

from cablepin.app.errors import CableRefused, CloudRefused, PinNeeded
from cablepin.app.i18n import LANGUAGES, NOTICE_TEXT, Translator, detect_language, explain


def test_u1_german_and_english_are_offered() -> None:
    assert LANGUAGES == ("de", "en")
    for code in NOTICE_TEXT:
        german = Translator("de").notice(code, "CBL-00000001")
        assert german != Translator("en").notice(code, "CBL-00000001"), code


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({"LANG": "de_DE.UTF-8"}, "de"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LC_ALL": "de_AT.UTF-8", "LANG": "en_US"}, "de"),
        ({"LANG": "fr_FR"}, "en"),
        ({"LC_MESSAGES": "C.UTF-8", "LANG": "de_DE"}, "en"),
        ({}, "en"),
    ],
)
def test_language_follows_the_system_locale(env: dict[str, str], lang: str) -> None:
    assert detect_language(env) == lang


def test_u2_wrong_pin_says_the_tries_left_with_the_right_plural() -> None:
    three = CableRefused.kind("wrong_pin")("x", attempts_before_wait=3, wait_s=0)
    assert "Wrong PIN. 3 more attempts before" in explain(three, Translator("en"))
    assert "Falscher PIN. Noch 3 Versuche, bevor" in explain(three, Translator("de"))
    one = CableRefused.kind("wrong_pin")("x", attempts_before_wait=1, wait_s=0)
    assert "Wrong PIN. 1 more attempt before" in explain(one, Translator("en"))
    assert "Falscher PIN. Noch 1 Versuch, bevor" in explain(one, Translator("de"))
    assert "ask your fleet manager to allow a new PIN" in explain(one, Translator("en"))


def test_u2_waits_are_shown_in_minutes() -> None:
    error = CableRefused.kind("locked")("x", wait_s=61)
    assert "Wait 2 minutes before" in explain(error, Translator("en"))
    assert "Warten Sie 2 Minuten bis" in explain(error, Translator("de"))
    soon = CableRefused.kind("wrong_pin")("x", wait_s=30)
    assert "Wait 1 minute before" in explain(soon, Translator("en"))
    assert "Warten Sie 1 Minute bis" in explain(soon, Translator("de"))


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

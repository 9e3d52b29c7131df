"""U1: every portal string exists in German and English with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

from cablepin.cloud.errors import CloudError
from cablepin.cloud.portal.forms import ERROR_TEXT, refusal_text
from cablepin.cloud.portal.i18n import CATALOG, translator
from cablepin.cloud.portal.queries import CableFilter
from cablepin.cloud.portal.web import TEMPLATES

KEY_USE = re.compile(r"""\bt\(\s*'([a-z_.]+)'""")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_u1_both_languages_have_every_key_with_the_same_placeholders() -> None:
    for key, (german, english) in CATALOG.items():
        assert german.strip(), key
        assert english.strip(), key
        assert _fields(german) == _fields(english), key


def test_u1_every_key_a_template_uses_is_in_the_catalog() -> None:
    used = {
        key
        for path in Path(TEMPLATES).rglob("*.html")
        for key in KEY_USE.findall(path.read_text(encoding="utf-8"))
    }
    assert used, "the templates use the catalog"
    static = {key for key in used if not key.endswith(".")}
    assert sorted(static - CATALOG.keys()) == []
    # Keys built from a prefix and a value: every value the data can take has words.
    dynamic = {
        "state.": ["pending", "issued", "done", "cancelled", "expired"],
        "purpose.": ["pin_reset", "handover", "reset"],
        "cables.filter.": [f.value or "all" for f in CableFilter],
    }
    assert {key for key in used if key.endswith(".")} <= dynamic.keys()
    for prefix, values in dynamic.items():
        for value in values:
            assert prefix + value in CATALOG, prefix + value


def test_u1_german_is_the_default() -> None:
    assert translator("xx")("signin.title") == "Anmelden"
    assert translator("en")("signin.title") == "Sign in"


def _codes(cls: type[CloudError]) -> set[str]:
    """The codes of ``cls`` and its subclasses defined in ``cablepin.cloud.errors``."""
    own = {cls.code} if cls.__module__ == CloudError.__module__ else set()
    return own.union(*(_codes(sub) for sub in cls.__subclasses__()))


def test_u2_every_service_refusal_has_words_in_both_languages() -> None:
    codes = _codes(CloudError) | {"bad_hello", "clean_start_pending", "too_large"}
    assert sorted(codes - ERROR_TEXT.keys()) == []
    for code, (german, english) in ERROR_TEXT.items():
        assert german.strip(), code
        assert english.strip(), code
        error = type("Refusal", (CloudError,), {"code": code})("service words")
        assert refusal_text("de", error) == german
        assert refusal_text("en", error) == english


def test_u2_an_unknown_refusal_shows_the_services_own_message() -> None:
    class Brand(CloudError):
        code = "brand_new_code"

    error = Brand("the cable is asleep; wake it in the app and try again")
    for locale in ("de", "en"):
        assert refusal_text(locale, error) == error.message


def test_u2_wipe_pending_fits_a_handover_and_a_support_reset() -> None:
    german, english = ERROR_TEXT["wipe_pending"]
    assert "Übergabe können Sie auf der Kabelseite abbrechen" in german
    assert "Zurücksetzen wird bei der nächsten Verbindung" in german
    assert "handover can be cancelled on the cable page" in english
    assert "reset completes at the cable's next connection" in english

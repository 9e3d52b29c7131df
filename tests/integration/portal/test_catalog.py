"""U1/U2: the portal's languages: German by default, the browser's choice, words for
every refusal and code, and a third language as one new ``.po`` file.

That every catalog is complete is checked in ``tests/unit/test_catalogs.py``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from cablepin.cloud import Settings, create_app
from cablepin.cloud.errors import CloudError
from cablepin.cloud.portal import labels
from cablepin.cloud.portal.forms import ERROR_TEXT, refusal_text
from cablepin.cloud.portal.i18n import (
    DEFAULT_LOCALE,
    DOMAIN,
    LOCALE_DIR,
    PORTAL,
    Catalogs,
    parse_accept_language,
)
from cablepin.cloud.portal.queries import CableFilter

from . import seed
from .conftest import csrf_of
from .server import serving

SERVICES = Path(__file__).resolve().parents[3] / "src" / "cablepin" / "cloud" / "services"


def test_u1_german_is_the_default() -> None:
    assert DEFAULT_LOCALE == "de"
    assert PORTAL.locales[0] == "de"
    assert PORTAL.translations("de").gettext("Sign in") == "Anmelden"
    assert PORTAL.translations("en").gettext("Sign in") == "Sign in"
    assert PORTAL.translations("de").ngettext("%(num)s match", "%(num)s matches", 2) == (
        "%(num)s Treffer"
    )


@pytest.mark.parametrize(
    ("header", "wanted", "chosen"),
    [
        ("en-US,en;q=0.9", ["en-US", "en"], "en"),
        ("fr-CH, fr;q=0.9, de;q=0.5, *;q=0.1", ["fr-CH", "fr", "de"], "de"),
        ("de;q=0.4, en-GB;q=0.8", ["en-GB", "de"], "en"),
        ("en;q=0, de", ["de"], "de"),
        ("es, it;q=bogus", ["es"], None),
        ("", [], None),
    ],
)
def test_u1_accept_language_is_read_by_weight(
    header: str, wanted: list[str], chosen: str | None
) -> None:
    assert parse_accept_language(header) == wanted
    assert PORTAL.first_offered(parse_accept_language(header)) == chosen


def _codes(cls: type[CloudError]) -> set[str]:
    """The codes of ``cls`` and its subclasses defined in ``cablepin.cloud.errors``."""
    own = {cls.code} if cls.__module__ == CloudError.__module__ else set()
    return own.union(*(_codes(sub) for sub in cls.__subclasses__()))


def test_u2_every_service_refusal_has_words_in_both_languages() -> None:
    codes = _codes(CloudError) | {"bad_hello", "clean_start_pending", "too_large"}
    assert sorted(codes - ERROR_TEXT.keys()) == []
    german = PORTAL.translations("de")
    english = PORTAL.translations("en")
    for code, message in ERROR_TEXT.items():
        error = type("Refusal", (CloudError,), {"code": code})("service words")
        assert refusal_text(english, error) == message
        assert refusal_text(german, error) != message, code


def test_u2_an_unknown_refusal_shows_the_services_own_message() -> None:
    class Brand(CloudError):
        code = "brand_new_code"

    error = Brand("the cable is asleep; wake it in the app and try again")
    for locale in ("de", "en"):
        assert refusal_text(PORTAL.translations(locale), error) == error.message


def test_u2_wipe_pending_fits_a_handover_and_a_support_reset() -> None:
    english = ERROR_TEXT["wipe_pending"]
    german = PORTAL.translations("de").gettext(english)
    assert "Übergabe können Sie auf der Kabelseite abbrechen" in german
    assert "Zurücksetzen wird bei der nächsten Verbindung" in german
    assert "handover can be cancelled on the cable page" in english
    assert "reset completes at the cable's next connection" in english


def test_u1_every_code_the_pages_show_has_words() -> None:
    """Command kinds and states, cable filters and every audit action the services write."""
    assert set(labels.CABLE_FILTER) == set(CableFilter)
    assert {"pending", "issued", "done", "cancelled", "expired"} <= labels.COMMAND_STATE.keys()
    assert {"pin_reset", "handover", "reset", "clean_start"} <= labels.PURPOSE.keys()
    source = "\n".join(p.read_text(encoding="utf-8") for p in SERVICES.glob("*.py"))
    written = set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', source))
    for suffix in re.findall(r'action=f"\{[a-z_.]+\}\.([a-z_]+)"', source):
        written |= {f"{purpose}.{suffix}" for purpose in labels.PURPOSE}
    assert len(written) > 15, "the services' audit actions are found"
    assert sorted(written - labels.AUDIT_ACTION.keys()) == []


def test_u1_a_third_language_is_one_new_po_file(seeded: seed.Fleet, tmp_path: Path) -> None:
    """A stub French catalog next to the real ones: the portal offers it and renders with it."""
    locale_dir = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale_dir)
    french = locale_dir / "fr" / "LC_MESSAGES" / f"{DOMAIN}.po"
    french.parent.mkdir(parents=True)
    french.write_text(
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
        'msgid "Sign in"\nmsgstr "Se connecter"\n\n'
        'msgid "E-mail address"\nmsgstr "Adresse e-mail"\n',
        encoding="utf-8",
    )
    catalogs = Catalogs(locale_dir, DOMAIN, default=DEFAULT_LOCALE)
    assert catalogs.locales == ("de", "en", "fr")
    app = create_app(Settings(db=seeded.db_url, keys=seeded.keys_dir), clock=lambda: seeded.now)
    app.state.catalogs = catalogs
    with serving(app) as url, httpx.Client(base_url=url) as client:
        page = client.get("/signin", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
        assert page.status_code == 200
        assert '<html lang="fr">' in page.text
        assert page.headers["content-language"] == "fr"
        assert "Se connecter" in page.text
        assert "Adresse e-mail" in page.text
        assert "Password" in page.text  # not translated yet: the English message id
        # The other languages are offered by their own names.
        assert ">Deutsch</button>" in page.text
        assert ">English</button>" in page.text
        # Choosing French by the button sticks, whatever the browser says.
        german = client.get("/signin", headers={"Accept-Language": "de"})
        assert ">Français</button>" in german.text
        chosen = client.post(
            "/lang",
            data={"lang": "fr", "back": "/signin", "csrf_token": csrf_of(german.text)},
            headers={"Accept-Language": "de"},
        )
        assert chosen.status_code == 303
        again = client.get("/signin", headers={"Accept-Language": "de"})
        assert "Se connecter" in again.text

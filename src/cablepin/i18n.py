"""Gettext catalogs shared by the portal and the app: one ``.po`` per language and domain.

Rules kept here:
- Message ids are the English source strings (the gettext norm); English
  needs no catalog. Every other language is
  ``src/cablepin/locale/<lang>/LC_MESSAGES/<domain>.po`` (domains ``portal``
  and ``app``), updated by ``make messages``.
- Only ``.po`` files are kept: a catalog is compiled in memory the first time
  its language is used (``babel.messages.mofile``), so a fresh clone, an
  installed package and ``make test`` need no build step and write nothing.
- Every language with a ``.po`` file of the domain is offered: a new language
  is one new file.
"""

from __future__ import annotations

import gettext as _gettext
from functools import cached_property
from io import BytesIO
from pathlib import Path
from threading import Lock

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = ["LOCALE_DIR", "N_", "SOURCE_LOCALE", "Catalogs", "primary_language"]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE_LOCALE = "en"  # the language of the message ids


def N_(message: str) -> str:
    """Mark ``message`` for ``pybabel extract``; it is translated where it is shown."""
    return message


def primary_language(tag: str) -> str:
    """``"en-GB"`` / ``"de_DE.UTF-8"`` -> ``"en"`` / ``"de"`` (no region, script or charset)."""
    return tag.strip().lower().replace("_", "-").split(".", 1)[0].split("-", 1)[0]


class Catalogs:
    """The ``.po`` catalogs of one gettext domain, compiled in memory on first use."""

    def __init__(self, directory: Path, domain: str, *, default: str = SOURCE_LOCALE) -> None:
        self.directory = directory
        self.domain = domain
        self.default = default
        self._compiled: dict[str, _gettext.NullTranslations] = {}
        self._lock = Lock()

    @cached_property
    def locales(self) -> tuple[str, ...]:
        """Every language offered: the default first, then the others by code."""
        found = {
            path.parent.parent.name
            for path in self.directory.glob(f"*/LC_MESSAGES/{self.domain}.po")
        }
        found |= {SOURCE_LOCALE, self.default}
        return (self.default, *sorted(found - {self.default}))

    def normalise(self, value: str | None) -> str | None:
        """``"en-GB"`` -> ``"en"``; a language not offered -> ``None``."""
        if not value:
            return None
        code = primary_language(value)
        return code if code in self.locales else None

    def first_offered(self, tags: list[str]) -> str | None:
        """The first of ``tags`` (most wanted first) that is offered, or ``None``."""
        for tag in tags:
            code = self.normalise(tag)
            if code is not None:
                return code
        return None

    def path(self, locale: str) -> Path:
        return self.directory / locale / "LC_MESSAGES" / f"{self.domain}.po"

    def translations(self, locale: str) -> _gettext.NullTranslations:
        """The compiled catalog of ``locale`` (English message ids for a language without one)."""
        with self._lock:
            compiled = self._compiled.get(locale)
            if compiled is None:
                compiled = self._compile(locale)
                self._compiled[locale] = compiled
            return compiled

    def _compile(self, locale: str) -> _gettext.NullTranslations:
        path = self.path(locale)
        if locale not in self.locales or not path.is_file():
            return NullTranslations()
        with path.open("rb") as po:
            catalog = read_po(po, locale=locale, domain=self.domain)
        mo = BytesIO()
        write_mo(mo, catalog)
        mo.seek(0)
        return Translations(mo, domain=self.domain)

    def language_name(self, locale: str) -> str:
        """The language's own name for itself, e.g. "Deutsch", "English", "Français"."""
        name = Locale.parse(locale).get_display_name(locale) or locale
        return name[:1].upper() + name[1:]

"""The portal's languages: gettext catalogs (Babel), the browser's choice, dates and numbers.

Rules kept here:
- Message ids are the English source strings (the gettext norm), written in
  the code as ``ctx.gettext("…")`` / ``N_("…")`` and in templates as
  ``_("…")`` / ``ngettext(…)`` / ``pgettext(…)`` (Jinja2's i18n extension).
  ``make messages`` extracts them (``pybabel extract``) and updates one
  ``.po`` file per language under ``src/cablepin/locale/<lang>/LC_MESSAGES/``.
- Only ``.po`` files are kept: a catalog is compiled in memory the first time
  its language is used (``babel.messages.mofile``), so a fresh clone, an
  installed package and ``make test`` need no build step and write nothing.
- Every language with a ``portal.po`` is offered; English, the language of the
  message ids, needs none. A third language is one new ``.po`` file.
- German is the default (U1). A signed-in user's saved choice wins, then the
  language cookie, then the browser's ``Accept-Language``, then German.
- No message holds or asks for a PIN (P7): the portal only ever speaks *about*
  the PIN ("still on 0000"), never shows or collects one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal

from cablepin.i18n import LOCALE_DIR, N_, SOURCE_LOCALE, Catalogs

__all__ = [
    "DEFAULT_LOCALE",
    "DISPLAY_TZ",
    "DOMAIN",
    "LOCALE_DIR",
    "N_",
    "PORTAL",
    "SOURCE_LOCALE",
    "Catalogs",
    "format_date",
    "format_eur",
    "format_kwh",
    "format_month",
    "format_time",
    "parse_accept_language",
]

DOMAIN = "portal"
DEFAULT_LOCALE = "de"
DISPLAY_TZ = ZoneInfo("Europe/Berlin")

# At most this many language ranges of an Accept-Language header are read.
MAX_RANGES = 20


def parse_accept_language(header: str | None) -> list[str]:
    """The language ranges of an ``Accept-Language`` header, most wanted first.

    Ranges with ``q=0`` (not wanted), ``*`` and malformed weights are dropped;
    equal weights keep the browser's order (RFC 9110, section 12.5.4).
    """
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:MAX_RANGES]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and tag != "*" and 0.0 < weight <= 1.0:
            ranked.append((-weight, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


PORTAL = Catalogs(LOCALE_DIR, DOMAIN, default=DEFAULT_LOCALE)

# Dates as the portal has always written them; other languages use Babel's own.
_DATE_PATTERNS = {"de": "dd.MM.yyyy", "en": "yyyy-MM-dd"}


# Babel's data for plain "en" writes the zone as "+0100"; British English says "CET".
_FORMAT_LOCALES = {"en": "en_GB"}


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(_FORMAT_LOCALES.get(locale, locale))
    except (ValueError, LookupError):
        return Locale.parse(DEFAULT_LOCALE)


def format_time(value: dt.datetime, locale: str, tz: ZoneInfo = DISPLAY_TZ) -> str:
    """A moment in ``tz`` with its zone, e.g. "30.11.2026 08:00 MEZ" / "2026-11-30 08:00 CET"."""
    date = _DATE_PATTERNS.get(locale)
    if date is None:
        return format_datetime(value, "short", tzinfo=tz, locale=_babel_locale(locale)) + (
            " " + format_datetime(value, "zzz", tzinfo=tz, locale=_babel_locale(locale))
        )
    return format_datetime(value, f"{date} HH:mm zzz", tzinfo=tz, locale=_babel_locale(locale))


def format_date(value: dt.datetime, locale: str, tz: ZoneInfo = DISPLAY_TZ) -> str:
    """A day in ``tz``, e.g. "30.11.2026" / "2026-11-30"."""
    pattern = _DATE_PATTERNS.get(locale, "short")
    return format_datetime(value, pattern, tzinfo=tz, locale=_babel_locale(locale))


def format_month(month: str, locale: str) -> str:
    """A billing month ``YYYY-MM`` for people, e.g. "Oktober 2026" / "October 2026"."""
    year, number = (int(part) for part in month.split("-"))
    first = dt.date(year, number, 1)
    return babel_dates.format_date(first, "LLLL yyyy", locale=_babel_locale(locale))


def format_kwh(value: float, locale: str) -> str:
    """Energy with one decimal and the language's separators, e.g. "1.234,5" / "1,234.5"."""
    return format_decimal(value, "#,##0.0", locale=_babel_locale(locale))


def format_eur(amount: str, locale: str) -> str:
    """An exact decimal amount (text, never a float) in euros, e.g. "52,20 €" / "€52.20"."""
    return format_currency(Decimal(amount), "EUR", locale=_babel_locale(locale))

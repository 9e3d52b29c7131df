"""What the app says to a driver, in the driver's language (U2).

Rules kept here:

* The words are gettext catalogs (``cablepin.i18n``, domain ``app``): the
  message ids are English, German is ``locale/de/LC_MESSAGES/app.po``; a new
  language is one new ``.po`` file (``make messages``, ARCHITECTURE.md).
* The app follows the system locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``,
  in POSIX order); ``--lang de|en`` (or the language stored at login)
  overrides it. A language without a catalog is English.
* Every refusal says what happened and what to do next; waits are shown in
  whole minutes, rounded up, because a driver cannot act on "37 seconds".
  Counts use the language's plural forms (``ngettext``).
* ``explain(error)`` turns any error of the app, the cable or the cloud into
  the driver's sentence by its code and details; a code without an entry
  keeps the message it came with.
"""

from __future__ import annotations

import gettext
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cablepin.errors import CablepinError
from cablepin.i18n import LOCALE_DIR, N_, SOURCE_LOCALE, Catalogs

__all__ = [
    "APP",
    "ERROR_TEXT",
    "LANGUAGES",
    "NOTICE_TEXT",
    "Translator",
    "detect_language",
    "explain",
    "minutes",
]

DEFAULT_LANGUAGE: Final = SOURCE_LOCALE
APP: Final = Catalogs(LOCALE_DIR, "app", default=DEFAULT_LANGUAGE)
LANGUAGES: Final = tuple(sorted(APP.locales))

FORGOT_PIN: Final = N_("If you forgot the PIN, ask your fleet manager to allow a new PIN.")

# Error codes (of the app, the cable or the cloud) whose sentence needs no values.
ERROR_TEXT: Final[Mapping[str, str]] = {
    "invalid_pin": N_("A PIN is exactly four digits 0-9 (for example 4711). Enter it again."),
    "weak_pin": N_(
        "This PIN is too easy to guess. Choose four digits that are not a run, "
        "a repeat or a common pick."
    ),
    "not_assigned": N_(
        "This cable is not assigned to you. Ask your fleet manager to assign it to you."
    ),
    "unknown_cable": N_(
        "This cable is not known to your organisation. Check the serial, "
        "or ask your fleet manager to register it."
    ),
    "unauthorized": N_(
        "You are not logged in (or your login expired). "
        "Log in again: cablepin app login --server URL --email E --password-stdin"
    ),
    "wipe_pending": N_(
        "The cable has to be reset for a handover before anything can be synced. "
        "Connect it again to carry out the reset."
    ),
    "cloud_unreachable": N_(
        "The cloud cannot be reached. Check the connection and try again; "
        "nothing was lost, the next connect continues where this one stopped."
    ),
    "database_unavailable": N_(
        "The cloud was interrupted for a moment. Connect again; "
        "nothing was lost, the next connect continues where this one stopped."
    ),
    "wrong_login": N_(
        "Wrong e-mail or password. Check both and try again; if you never set a "
        "password or forgot it, ask your fleet manager for a new invitation."
    ),
    "link_failed": N_(
        "The connection to the cable was lost. Connect again; the sync continues where it stopped."
    ),
    "bad_certificate": N_(
        "This is not a genuine cable (its certificate does not check out). "
        "Do not enter a PIN; check the serial."
    ),
    # Tariffs (M2): what the cloud refused, and what to do.
    "bad_document": N_(
        "The proof is not a PDF, PNG or JPEG file (judged by its content, not its name). "
        "Send the contract or bill as one of these."
    ),
    "too_large": N_("The proof is larger than 5 MB. Send a smaller scan or PDF."),
    "invalid_tariff": N_(
        "Check the price and the dates: the price in EUR per kWh, such as 0.3275 or 0,3275, "
        "above 0 and below 10; the dates as YYYY-MM-DD, the last not before the first."
    ),
    "tariff_overlap": N_(
        "These dates overlap a tariff you already have. Choose dates before or after it."
    ),
    "too_many_pending_tariffs": N_(
        "You have as many tariffs waiting for a decision as one driver may have. Ask your fleet "
        "manager to verify or reject them, then upload this one again."
    ),
    "document_unreadable": N_("The proof file cannot be read. Check the path and try again."),
}

# What the connect flow reports along the way (``flow.Notice`` codes); ``%(serial)s``.
NOTICE_TEXT: Final[Mapping[str, str]] = {
    "change_default_pin": N_(
        "Please change the default PIN 0000 so that nobody else can connect "
        "your cable: cablepin app change-pin %(serial)s"
    ),
    "cable_reset": N_(
        "The cable was reset for a handover: its previous sessions were deleted "
        "and the PIN is 0000 again."
    ),
    "cable_reset_support": N_(
        "The cable was reset by the vendor's support (a full reset, not a handover): "
        "its previous sessions were deleted and the PIN is 0000 again."
    ),
    "cable_reset_clean_start": N_(
        "The cable was reset before your first use: sessions and data from before "
        "it was yours were deleted and the PIN is 0000 again."
    ),
    "cable_reset_other": N_(
        "The cable was reset: its previous sessions were deleted and the PIN is 0000 again."
    ),
    "pin_set_allowed": N_(
        "Your fleet manager allowed a new PIN for this cable. "
        "Choose one: cablepin app change-pin %(serial)s"
    ),
}


def detect_language(environ: Mapping[str, str] | None = None) -> str:
    """The language of the system locale: the first set of LC_ALL, LC_MESSAGES, LANG."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return APP.normalise(value) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


@dataclass(frozen=True)
class Translator:
    """The app's words in one language: ``t.gettext("…", name=value)``, ``t.ngettext(…)``."""

    lang: str = DEFAULT_LANGUAGE

    def __post_init__(self) -> None:
        if self.lang not in LANGUAGES:
            raise ValueError(f"unsupported language {self.lang!r}; use one of {LANGUAGES}")

    @property
    def translations(self) -> gettext.NullTranslations:
        return APP.translations(self.lang)

    def gettext(self, message: str, **values: Any) -> str:
        """``message`` (an English message id) in this language, ``%(name)s`` filled in."""
        text = self.translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """The form for ``n`` in this language; ``%(num)s`` is ``n``."""
        return self.translations.ngettext(singular, plural, n) % {"num": n, **values}

    def notice(self, code: str, serial: str) -> str:
        """A connect-flow notice; an unknown code shows as itself."""
        message = NOTICE_TEXT.get(code)
        return self.gettext(message, serial=serial) if message is not None else code


def explain(error: CablepinError, t: Translator) -> str:
    """The driver's sentence for ``error``: by its code and details, else its own message."""
    details = error.details
    code = error.code
    wait_s = details.get("wait_s")
    if code == "wrong_pin":
        if isinstance(wait_s, int) and wait_s > 0:
            wait = t.ngettext(
                "Wrong PIN. Wait %(num)s minute before the next attempt.",
                "Wrong PIN. Wait %(num)s minutes before the next attempt.",
                minutes(wait_s),
            )
            return f"{wait} {t.gettext(FORGOT_PIN)}"
        tries = details.get("attempts_before_wait", 0)
        left = t.ngettext(
            "Wrong PIN. %(num)s more attempt before the cable makes you wait.",
            "Wrong PIN. %(num)s more attempts before the cable makes you wait.",
            tries if isinstance(tries, int) else 0,
        )
        return f"{left} {t.gettext(FORGOT_PIN)}"
    if code == "locked":
        if isinstance(wait_s, int) and wait_s > 0:
            return t.ngettext(
                "Too many wrong PINs. Wait %(num)s minute before the next attempt, "
                "or ask your fleet manager to allow a new PIN.",
                "Too many wrong PINs. Wait %(num)s minutes before the next attempt, "
                "or ask your fleet manager to allow a new PIN.",
                minutes(wait_s),
            )
        return t.gettext(
            "The cable is locked after too many wrong PINs: "
            "ask your fleet manager to allow a new PIN."
        )
    if code == "pin_required":
        if details.get("purpose") == "current":
            return t.gettext(
                "Changing the PIN needs the current PIN: run the command in a terminal, "
                "or pass two lines with --pins-stdin (the current PIN, then the new one). "
                "If you forgot it, ask your fleet manager to allow a new PIN."
            )
        if details.get("purpose") == "new":
            return t.gettext(
                "Choose a new PIN of four digits: run the command in a terminal, or pass two "
                "lines with --pins-stdin (an empty line if no current PIN is needed, then the "
                "new PIN)."
            )
        return t.gettext(
            "Cable %(serial)s is protected by a PIN. Enter it: run the command in a terminal "
            "or pass it with --pin-stdin.",
            serial=details.get("serial", ""),
        )
    if code == "link_failed" and details.get("reason") == "unreachable":
        return t.gettext(
            "Could not reach the cable at %(address)s. Check that it is plugged in and "
            "in range, and that the address is right; then connect again.",
            address=details.get("address", "?"),
        )
    if code == "invalid_serial":
        return t.gettext(
            "'%(serial)s' is not a cable serial. Serials look like CBL-00000001 (CBL- and "
            "8 digits, printed on the cable); cablepin app scan lists the cables in range.",
            serial=str(details.get("serial", "")),
        )
    if code == "cable_not_found":
        return t.gettext(
            "Cable %(serial)s is not in range. Plug it in and bring the phone closer "
            "(or give its address with --address HOST:PORT).",
            serial=details.get("serial", ""),
        )
    message = ERROR_TEXT.get(code)
    if message is not None:
        return t.gettext(message)
    return error.message

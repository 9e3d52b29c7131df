"""What the app says to a driver, in German and English (U2).

Rules kept here:

* The app follows the system locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``,
  in POSIX order); ``--lang de|en`` (or the language stored at login)
  overrides it. Anything that is not German is English.
* Every refusal says what happened and what to do next; waits are shown in
  whole minutes, rounded up, because a driver cannot act on "37 seconds".
* ``explain(error)`` turns any error of the app, the cable or the cloud into
  the driver's sentence by its code and details; a code without an entry
  keeps the message it came with.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cablepin.errors import CablepinError

__all__ = ["LANGUAGES", "Translator", "detect_language", "explain", "minutes"]

LANGUAGES: Final = ("de", "en")
DEFAULT_LANGUAGE: Final = "en"

# key -> language -> template (str.format with named fields)
CATALOG: Final[Mapping[str, Mapping[str, str]]] = {
    "wrong_pin": {
        "en": "Wrong PIN. {tries} more attempt(s) before the cable makes you wait. "
        "If you forgot the PIN, ask your fleet manager to allow a new PIN.",
        "de": "Falscher PIN. Noch {tries} Versuch(e), bevor das Kabel eine Wartezeit verlangt. "
        "Wenn Sie den PIN vergessen haben, bitten Sie Ihr Fleetmanagement, "
        "einen neuen PIN freizugeben.",
    },
    "wrong_pin_wait": {
        "en": "Wrong PIN. Wait {minutes} minute(s) before the next attempt. "
        "If you forgot the PIN, ask your fleet manager to allow a new PIN.",
        "de": "Falscher PIN. Warten Sie {minutes} Minute(n) bis zum nächsten Versuch. "
        "Wenn Sie den PIN vergessen haben, bitten Sie Ihr Fleetmanagement, "
        "einen neuen PIN freizugeben.",
    },
    "locked_wait": {
        "en": "Too many wrong PINs. Wait {minutes} minute(s) before the next attempt, "
        "or ask your fleet manager to allow a new PIN.",
        "de": "Zu viele falsche PINs. Warten Sie {minutes} Minute(n) bis zum nächsten Versuch "
        "oder bitten Sie Ihr Fleetmanagement, einen neuen PIN freizugeben.",
    },
    "locked": {
        "en": "The cable is locked after too many wrong PINs: "
        "ask your fleet manager to allow a new PIN.",
        "de": "Das Kabel ist nach zu vielen falschen PINs gesperrt: "
        "bitten Sie Ihr Fleetmanagement, einen neuen PIN freizugeben.",
    },
    "pin_required": {
        "en": "Cable {serial} is protected by a PIN. Enter it: run the command in a terminal "
        "or pass it with --pin-stdin.",
        "de": "Kabel {serial} ist mit einem PIN geschützt. Geben Sie ihn ein: Befehl im "
        "Terminal ausführen oder mit --pin-stdin übergeben.",
    },
    "current_pin_required": {
        "en": "Changing the PIN needs the current PIN. If you forgot it, "
        "ask your fleet manager to allow a new PIN.",
        "de": "Zum Ändern des PINs wird der aktuelle PIN benötigt. Wenn Sie ihn vergessen "
        "haben, bitten Sie Ihr Fleetmanagement, einen neuen PIN freizugeben.",
    },
    "new_pin_required": {
        "en": "Choose a new PIN of four digits (in a terminal, or with --pin-stdin).",
        "de": "Wählen Sie einen neuen PIN aus vier Ziffern (im Terminal oder mit --pin-stdin).",
    },
    "invalid_pin": {
        "en": "A PIN is exactly four digits 0-9 (for example 4711). Enter it again.",
        "de": "Ein PIN besteht aus genau vier Ziffern 0-9 (zum Beispiel 4711). "
        "Bitte erneut eingeben.",
    },
    "weak_pin": {
        "en": "This PIN is too easy to guess. Choose four digits that are not a run, "
        "a repeat or a common pick.",
        "de": "Dieser PIN ist zu leicht zu erraten. Wählen Sie vier Ziffern ohne Folge, "
        "Wiederholung oder gängige Kombination.",
    },
    "not_assigned": {
        "en": "This cable is not assigned to you. Ask your fleet manager to assign it to you.",
        "de": "Dieses Kabel ist Ihnen nicht zugewiesen. Bitten Sie Ihr Fleetmanagement, "
        "es Ihnen zuzuweisen.",
    },
    "unknown_cable": {
        "en": "This cable is not known to your organisation. Check the serial, "
        "or ask your fleet manager to register it.",
        "de": "Dieses Kabel ist Ihrer Organisation nicht bekannt. Prüfen Sie die Seriennummer "
        "oder bitten Sie Ihr Fleetmanagement, es zu registrieren.",
    },
    "unauthorized": {
        "en": "You are not logged in (or your login expired). "
        "Log in again: cablepin app login --server URL --email E --password-stdin",
        "de": "Sie sind nicht angemeldet (oder die Anmeldung ist abgelaufen). Erneut anmelden: "
        "cablepin app login --server URL --email E --password-stdin",
    },
    "wipe_pending": {
        "en": "The cable has to be reset for a handover before anything can be synced. "
        "Connect it again to carry out the reset.",
        "de": "Das Kabel muss für eine Übergabe zurückgesetzt werden, bevor etwas "
        "synchronisiert werden kann. Verbinden Sie es erneut, um das Zurücksetzen auszuführen.",
    },
    "cable_not_found": {
        "en": "Cable {serial} is not in range. Plug it in and bring the phone closer "
        "(or give its address with --address HOST:PORT).",
        "de": "Kabel {serial} ist nicht in Reichweite. Stecken Sie es ein und gehen Sie näher "
        "heran (oder geben Sie die Adresse mit --address HOST:PORT an).",
    },
    "cloud_unreachable": {
        "en": "The cloud cannot be reached. Check the connection and try again; "
        "nothing was lost, the next connect continues where this one stopped.",
        "de": "Die Cloud ist nicht erreichbar. Prüfen Sie die Verbindung und versuchen Sie es "
        "erneut; nichts ging verloren, die nächste Verbindung macht hier weiter.",
    },
    "link_failed": {
        "en": "The connection to the cable was lost. Connect again; "
        "the sync continues where it stopped.",
        "de": "Die Verbindung zum Kabel wurde unterbrochen. Verbinden Sie erneut; "
        "die Synchronisierung macht dort weiter, wo sie aufgehört hat.",
    },
    "bad_certificate": {
        "en": "This is not a genuine cable (its certificate does not check out). "
        "Do not enter a PIN; check the serial.",
        "de": "Dies ist kein echtes Kabel (das Zertifikat ist ungültig). "
        "Geben Sie keinen PIN ein und prüfen Sie die Seriennummer.",
    },
    # notices and prompts
    "change_default_pin": {
        "en": "Please change the default PIN 0000 so that nobody else can connect "
        "your cable: cablepin app change-pin {serial}",
        "de": "Bitte ändern Sie den Standard-PIN 0000, damit niemand sonst Ihr Kabel verbinden "
        "kann: cablepin app change-pin {serial}",
    },
    "cable_reset": {
        "en": "The cable was reset for a handover: its previous sessions were deleted "
        "and the PIN is 0000 again.",
        "de": "Das Kabel wurde für eine Übergabe zurückgesetzt: frühere Ladevorgänge wurden "
        "gelöscht, der PIN ist wieder 0000.",
    },
    "pin_set_allowed": {
        "en": "Your fleet manager allowed a new PIN for this cable. "
        "Choose one: cablepin app change-pin {serial}",
        "de": "Ihr Fleetmanagement hat einen neuen PIN für dieses Kabel freigegeben. "
        "Wählen Sie einen: cablepin app change-pin {serial}",
    },
    "pin_changed": {
        "en": "The PIN of cable {serial} was changed. Other phones must enter it again.",
        "de": "Der PIN von Kabel {serial} wurde geändert. Andere Telefone müssen ihn neu eingeben.",
    },
    "connected": {
        "en": "Connected to {serial}: {synced} new session(s) synced.",
        "de": "Mit {serial} verbunden: {synced} neue(r) Ladevorgang/Ladevorgänge synchronisiert.",
    },
    "progress": {
        "en": "Syncing sessions",
        "de": "Ladevorgänge werden synchronisiert",
    },
    "prompt_pin": {
        "en": "PIN of cable {serial}: ",
        "de": "PIN von Kabel {serial}: ",
    },
    "prompt_current_pin": {
        "en": "Current PIN of cable {serial}: ",
        "de": "Aktueller PIN von Kabel {serial}: ",
    },
    "prompt_new_pin": {
        "en": "New PIN for cable {serial} (four digits): ",
        "de": "Neuer PIN für Kabel {serial} (vier Ziffern): ",
    },
    "prompt_repeat_pin": {
        "en": "Repeat the new PIN: ",
        "de": "Neuen PIN wiederholen: ",
    },
    "pins_differ": {
        "en": "The two PINs differ. Nothing was changed; try again.",
        "de": "Die beiden PINs stimmen nicht überein. Nichts wurde geändert; bitte erneut.",
    },
    "logged_in": {
        "en": "Logged in as {email} at {server}.",
        "de": "Angemeldet als {email} bei {server}.",
    },
    "logged_out": {
        "en": "Logged out. Bonds with cables stay on this phone.",
        "de": "Abgemeldet. Die Kopplungen mit Kabeln bleiben auf diesem Telefon.",
    },
    "bonded": {
        "en": "known: connects without the PIN",
        "de": "bekannt: verbindet ohne PIN",
    },
    "no_cables": {
        "en": "No cable in range. Plug one in and try again.",
        "de": "Kein Kabel in Reichweite. Stecken Sie eines ein und versuchen Sie es erneut.",
    },
    "no_sessions": {
        "en": "No sessions yet.",
        "de": "Noch keine Ladevorgänge.",
    },
}


def detect_language(environ: Mapping[str, str] | None = None) -> str:
    """The language of the system locale: the first set of LC_ALL, LC_MESSAGES, LANG."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "de" if value.lower().startswith("de") else DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


@dataclass(frozen=True)
class Translator:
    lang: str = DEFAULT_LANGUAGE

    def __post_init__(self) -> None:
        if self.lang not in LANGUAGES:
            raise ValueError(f"unsupported language {self.lang!r}; use one of {LANGUAGES}")

    def __call__(self, key: str, **values: Any) -> str:
        return CATALOG[key][self.lang].format(**values)


def explain(error: CablepinError, t: Translator) -> str:
    """The driver's sentence for ``error``: by its code and details, else its own message."""
    details = error.details
    code = error.code
    wait_s = details.get("wait_s")
    if code == "wrong_pin":
        if isinstance(wait_s, int) and wait_s > 0:
            return t("wrong_pin_wait", minutes=minutes(wait_s))
        return t("wrong_pin", tries=details.get("attempts_before_wait", 0))
    if code == "locked":
        if isinstance(wait_s, int) and wait_s > 0:
            return t("locked_wait", minutes=minutes(wait_s))
        return t("locked")
    if code == "pin_required":
        if details.get("purpose") == "current":
            return t("current_pin_required")
        if details.get("purpose") == "new":
            return t("new_pin_required")
        return t("pin_required", serial=details.get("serial", ""))
    if code == "cable_not_found":
        return t("cable_not_found", serial=details.get("serial", ""))
    if code in CATALOG and not _needs_values(code):
        return t(code)
    return error.message


def _needs_values(key: str) -> bool:
    return "{" in CATALOG[key][DEFAULT_LANGUAGE]

"""Reading form fields and turning service refusals into words for the page.

Rules kept here:
- A field is read as a string and trimmed; a form is re-rendered with what
  was typed when something is refused (U2: nothing typed is lost).
- A service refusal is shown in the page's language by its code; the
  service's own (English) message is used as is in English.
"""

from __future__ import annotations

from starlette.datastructures import FormData

from cablepin.cloud.errors import CloudError
from cablepin.cloud.portal.i18n import CATALOG, translator

__all__ = ["field", "refusal_text", "values"]

MAX_FIELD = 2000

ERROR_TEXT: dict[str, tuple[str, str]] = {
    "unknown_cable": (
        "Dieses Kabel gibt es in Ihrer Organisation nicht. Prüfen Sie die Seriennummer.",
        "There is no such cable in your organisation. Check the serial number.",
    ),
    "unknown_driver": (
        "Dieser Fahrer ist nicht (mehr) aktiv in Ihrer Organisation. Wählen Sie einen "
        "anderen oder legen Sie ihn unter „Fahrer“ an.",
        "This driver is not (or no longer) active in your organisation. Choose another "
        "or add them under “Drivers”.",
    ),
    "has_driver": (
        "Das Kabel hat schon einen Fahrer. Für einen Wechsel starten Sie eine Übergabe.",
        "The cable already has a driver. To change drivers, start a handover.",
    ),
    "no_driver": (
        "Das Kabel hat keinen Fahrer, also könnte niemand die Freigabe nutzen. Weisen "
        "Sie zuerst einen Fahrer zu.",
        "The cable has no driver, so nobody could use the permission. Assign a driver first.",
    ),
    "wipe_pending": (
        "Für dieses Kabel ist eine Übergabe oder ein Zurücksetzen offen. Warten Sie, bis "
        "das Kabel in der App verbunden wurde, oder brechen Sie die Übergabe ab.",
        "A handover or reset is pending for this cable. Wait until the cable has been "
        "connected in the app, or cancel the handover.",
    ),
    "already_exists": (
        "Das gibt es schon (z. B. eine offene PIN-Freigabe). Widerrufen Sie die "
        "bestehende zuerst oder laden Sie die Seite neu.",
        "That already exists (for example an open PIN permission). Revoke the existing "
        "one first or reload the page.",
    ),
    "reason_required": (
        "Bitte geben Sie einen Grund an. Support-Aktionen sind nur mit Begründung erlaubt.",
        "Please give a reason. Support actions are only allowed with a reason.",
    ),
    "conflict": (
        "Das ging nicht: Der Stand des Kabels hat sich geändert oder die Aktion würde "
        "nichts ändern. Laden Sie die Seite neu und prüfen Sie den aktuellen Stand.",
        "That did not work: the cable's state changed or the action would change "
        "nothing. Reload the page and check the current state.",
    ),
    "not_found": (
        "Dafür gibt es nichts Offenes mehr (vielleicht schon erledigt). Laden Sie die Seite neu.",
        "There is nothing open for this any more (perhaps already done). Reload the page.",
    ),
    "invalid_request": (
        "Die Eingabe passt nicht. Prüfen Sie die Felder und senden Sie das Formular erneut.",
        "The input does not fit. Check the fields and send the form again.",
    ),
    "forbidden": (
        "Ihre Rolle darf das nicht. Wenden Sie sich an Ihre Fuhrparkverwaltung oder den Support.",
        "Your role may not do this. Ask your fleet manager or support.",
    ),
}


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_FIELD] if isinstance(value, str) else ""


def values(form: FormData, *names: str) -> dict[str, str]:
    return {name: field(form, name) for name in names}


def refusal_text(locale: str, error: CloudError) -> str:
    if locale == "en":
        return error.message
    index = 0
    for code in (
        error.code,
        *(cls.code for cls in type(error).__mro__[1:] if hasattr(cls, "code")),
    ):
        if code in ERROR_TEXT:
            return ERROR_TEXT[code][index]
    return (
        translator(locale)("error.unavailable") if "error.unavailable" in CATALOG else error.message
    )

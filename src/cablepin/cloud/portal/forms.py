"""Reading form fields and turning service refusals into words for the page.

Rules kept here:
- A field is read as a string and trimmed; a form is re-rendered with what
  was typed when something is refused (U2: nothing typed is lost).
- A service refusal is shown in the page's language by its code
  (``ERROR_TEXT``, complete for ``cablepin.cloud.errors``); a code the map
  does not know yet shows the service's own (English) message as is.
"""

from __future__ import annotations

from starlette.datastructures import FormData

from cablepin.cloud.errors import CloudError

__all__ = ["field", "refusal_text", "values"]

MAX_FIELD = 2000

# Every code a service can raise (``cablepin.cloud.errors``): what happened and
# what to do next, in German and English (U1/U2). A test keeps this complete.
ERROR_TEXT: dict[str, tuple[str, str]] = {
    "cloud_error": (
        "Das hat nicht geklappt. Laden Sie die Seite neu und versuchen Sie es erneut; "
        "passiert es wieder, wenden Sie sich an den Support.",
        "That did not work. Reload the page and try again; if it happens again, contact support.",
    ),
    "invalid_request": (
        "Die Eingabe passt nicht. Prüfen Sie die Felder und senden Sie das Formular erneut.",
        "The input does not fit. Check the fields and send the form again.",
    ),
    "reason_required": (
        "Bitte geben Sie einen Grund an. Support-Aktionen sind nur mit Begründung erlaubt.",
        "Please give a reason. Support actions are only allowed with a reason.",
    ),
    "bad_receipt": (
        "Die Quittung des Kabels passt nicht zu diesem Kabel. Verbinden Sie das Kabel in "
        "der App erneut; die App holt dann eine neue Quittung.",
        "The cable's receipt does not match this cable. Connect the cable in the app "
        "again; the app then fetches a new receipt.",
    ),
    "bad_hello": (
        "Die Anmeldung des Kabels war nicht von diesem Kabel unterschrieben. Verbinden "
        "Sie das Kabel in der App erneut.",
        "The cable's hello was not signed by this cable. Connect the cable in the app again.",
    ),
    "chain_broken": (
        "Die Ladevorgänge vom Kabel schließen nicht an die schon gespeicherten an. "
        "Synchronisieren Sie das Kabel in der App erneut.",
        "The sessions from the cable do not continue the ones already stored. Sync the "
        "cable in the app again.",
    ),
    "unauthorized": (
        "Sie sind nicht (mehr) angemeldet oder das Konto ist deaktiviert. Melden Sie sich "
        "erneut an; hilft das nicht, fragen Sie Ihre Fuhrparkverwaltung.",
        "You are not (or no longer) signed in, or the account is deactivated. Sign in "
        "again; if that does not help, ask your fleet manager.",
    ),
    "forbidden": (
        "Ihre Rolle darf das nicht. Wenden Sie sich an Ihre Fuhrparkverwaltung oder den Support.",
        "Your role may not do this. Ask your fleet manager or support.",
    ),
    "not_assigned": (
        "Dieses Kabel ist nicht diesem Fahrer zugewiesen. Prüfen Sie die Zuweisung auf "
        "der Kabelseite.",
        "This cable is not assigned to this driver. Check the assignment on the cable page.",
    ),
    "not_found": (
        "Dafür gibt es nichts Offenes mehr (vielleicht schon erledigt). Laden Sie die Seite neu.",
        "There is nothing open for this any more (perhaps already done). Reload the page.",
    ),
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
    "unknown_org": (
        "Diese Organisation gibt es nicht. Prüfen Sie den Namen oder wenden Sie sich an "
        "den Support.",
        "There is no such organisation. Check the name or contact support.",
    ),
    "unknown_command": (
        "Diesen Befehl an das Kabel gibt es nicht (mehr). Laden Sie die Kabelseite neu "
        "und prüfen Sie die offenen Befehle.",
        "This command to the cable does not exist (any more). Reload the cable page and "
        "check its open commands.",
    ),
    "conflict": (
        "Das ging nicht: Der Stand hat sich inzwischen geändert oder die Aktion würde "
        "nichts ändern. Laden Sie die Seite neu und prüfen Sie den aktuellen Stand.",
        "That did not work: the state has changed in the meantime or the action would "
        "change nothing. Reload the page and check the current state.",
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
        "Für dieses Kabel ist eine Übergabe oder ein Zurücksetzen durch den Support offen. "
        "Eine Übergabe können Sie auf der Kabelseite abbrechen; ein Zurücksetzen wird bei "
        "der nächsten Verbindung des Kabels in der App abgeschlossen. Versuchen Sie es "
        "danach erneut.",
        "A handover or a reset by support is pending for this cable. A handover can be "
        "cancelled on the cable page; a reset completes at the cable's next connection "
        "in the app. Try again after that.",
    ),
    "clean_start_pending": (
        "Der neue Fahrer hat das Kabel noch nicht in seiner App verbunden; bis dahin "
        "werden keine Ladevorgänge übernommen. Bitten Sie ihn, das Kabel in der App zu "
        "verbinden, und versuchen Sie es danach erneut.",
        "The new driver has not connected the cable in their app yet; until then no "
        "sessions are taken over. Ask them to connect the cable in the app, then try again.",
    ),
    "stale_epoch": (
        "Das Kabel wurde inzwischen zurückgesetzt; diese Angaben gehören zu seinem "
        "früheren Stand. Verbinden Sie das Kabel in der App erneut.",
        "The cable has been reset since; this belongs to its earlier state. Connect the "
        "cable in the app again.",
    ),
    "already_exists": (
        "Das gibt es schon (z. B. eine offene PIN-Freigabe). Widerrufen Sie die "
        "bestehende zuerst oder laden Sie die Seite neu.",
        "That already exists (for example an open PIN permission). Revoke the existing "
        "one first or reload the page.",
    ),
    "too_large": (
        "Die gesendeten Daten sind zu groß. Kürzen Sie die Eingabe oder senden Sie "
        "weniger auf einmal.",
        "What was sent is too large. Shorten the input or send less at a time.",
    ),
    "too_many_attempts": (
        "Zu viele Versuche in kurzer Zeit. Warten Sie einige Minuten und versuchen Sie es "
        "dann erneut.",
        "Too many attempts in a short time. Wait a few minutes, then try again.",
    ),
    "config_error": (
        "Der Dienst ist gerade nicht richtig eingerichtet. Versuchen Sie es später erneut "
        "und wenden Sie sich an den Support, wenn es so bleibt.",
        "The service is not set up correctly right now. Try again later and contact "
        "support if it stays that way.",
    ),
}


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_FIELD] if isinstance(value, str) else ""


def values(form: FormData, *names: str) -> dict[str, str]:
    return {name: field(form, name) for name in names}


def refusal_text(locale: str, error: CloudError) -> str:
    """The words for a service refusal in ``locale``; an unknown code shows the service's own
    (English) message, which also says what to do next, rather than a generic one."""
    text = ERROR_TEXT.get(error.code)
    if text is None:
        return error.message
    return text[1] if locale == "en" else text[0]

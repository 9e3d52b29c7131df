"""The portal's words in German (the default, U1) and English.

Rules kept here:
- Every visible string of the portal comes from ``CATALOG``; a template asks
  for a key, never for a language. A unit test checks that both languages
  have every key and the same ``{placeholders}``.
- German is the default; a user's choice sticks (cookie, and ``users.locale``
  when signed in).
- Refusals say what happened and what to do next (U2).
- No key holds or asks for a PIN (P7): the portal only ever speaks *about*
  the PIN ("still on 0000"), never shows or collects one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CATALOG", "DEFAULT_LOCALE", "LOCALES", "Translator", "normalise_locale", "translator"]

DEFAULT_LOCALE = "de"
LOCALES = ("de", "en")
LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}

Translator = Callable[..., str]

# key: (German, English)
CATALOG: dict[str, tuple[str, str]] = {
    # layout
    "app.name": ("cablepin Flottenportal", "cablepin fleet portal"),
    "nav.skip": ("Zum Inhalt springen", "Skip to content"),
    "nav.main": ("Hauptnavigation", "Main navigation"),
    "nav.overview": ("Übersicht", "Overview"),
    "nav.cables": ("Kabel", "Cables"),
    "nav.drivers": ("Fahrer", "Drivers"),
    "nav.audit": ("Protokoll", "Audit log"),
    "nav.support": ("Support-Konsole", "Support console"),
    "nav.signout": ("Abmelden", "Sign out"),
    "nav.language": ("Sprache", "Language"),
    "nav.signed_in_as": ("Angemeldet als {name}", "Signed in as {name}"),
    "support.banner": (
        "Support-Modus ist aktiv: Sie handeln organisationsübergreifend. Jede Aktion "
        "braucht einen Grund und wird im Protokoll der Organisation festgehalten.",
        "Support mode is on: you are acting across organisations. Every action needs "
        "a reason and is recorded in the organisation's audit log.",
    ),
    "footer.pin_note": (
        "Das Portal zeigt und verlangt nie eine PIN. Die PIN gibt es nur auf dem Kabel.",
        "The portal never shows or asks for a PIN. The PIN exists only on the cable.",
    ),
    # sign-in
    "signin.title": ("Anmelden", "Sign in"),
    "signin.email": ("E-Mail-Adresse", "E-mail address"),
    "signin.password": ("Passwort", "Password"),
    "signin.submit": ("Anmelden", "Sign in"),
    "signin.intro": (
        "Für Fuhrparkverwaltung und Support. Fahrer nutzen die App.",
        "For fleet managers and support. Drivers use the app.",
    ),
    "signin.failed": (
        "E-Mail-Adresse oder Passwort stimmen nicht. Prüfen Sie beides und versuchen "
        "Sie es erneut.",
        "The e-mail address or password is wrong. Check both and try again.",
    ),
    "signin.throttled": (
        "Zu viele fehlgeschlagene Anmeldungen. Warten Sie {seconds} Sekunden und "
        "versuchen Sie es dann erneut.",
        "Too many failed sign-ins. Wait {seconds} seconds, then try again.",
    ),
    "signin.driver": (
        "Dieses Konto gehört einem Fahrer. Das Portal ist für die Fuhrparkverwaltung; "
        "bitte nutzen Sie die cablepin-App.",
        "This account belongs to a driver. The portal is for fleet managers; please "
        "use the cablepin app.",
    ),
    "signin.expired": (
        "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an; danach geht es "
        "auf der zuletzt geöffneten Seite weiter.",
        "Your session has expired. Please sign in again; you will return to the page you were on.",
    ),
    "signin.signed_out": ("Sie haben sich abgemeldet.", "You have signed out."),
    "signin.required": (
        "Bitte melden Sie sich an, um diese Seite zu sehen.",
        "Please sign in to see this page.",
    ),
    "signin.missing": (
        "Bitte geben Sie E-Mail-Adresse und Passwort ein.",
        "Please enter your e-mail address and password.",
    ),
    # errors
    "error.title": ("Das hat nicht geklappt", "That did not work"),
    "error.csrf.title": ("Formular abgelehnt", "Form refused"),
    "error.csrf": (
        "Das Formular kam ohne gültiges Sicherheitsmerkmal an (es war zu alt oder "
        "stammt nicht von diesem Portal). Nichts wurde geändert. Laden Sie die Seite "
        "neu und senden Sie das Formular noch einmal.",
        "The form arrived without a valid security token (it was too old or did not "
        "come from this portal). Nothing was changed. Reload the page and send the "
        "form again.",
    ),
    "error.not_found.title": ("Nicht gefunden", "Not found"),
    "error.not_found": (
        "Diese Seite gibt es nicht, oder sie gehört nicht zu Ihrer Organisation. "
        "Prüfen Sie die Adresse oder suchen Sie in der Kabelliste.",
        "This page does not exist or does not belong to your organisation. Check the "
        "address or search the cable list.",
    ),
    "error.forbidden.title": ("Kein Zugriff", "No access"),
    "error.forbidden": (
        "Ihre Rolle darf diese Seite nicht öffnen. Wenden Sie sich an Ihre "
        "Fuhrparkverwaltung, wenn Sie Zugriff brauchen.",
        "Your role may not open this page. Ask your fleet manager if you need access.",
    ),
    "error.back": ("Zurück zur Übersicht", "Back to the overview"),
    "error.unavailable": (
        "Diese Aktion ist im Moment nicht verfügbar. Versuchen Sie es später erneut "
        "oder wenden Sie sich an den Support.",
        "This action is not available right now. Try again later or contact support.",
    ),
    "error.internal.title": ("Interner Fehler", "Internal error"),
    "error.internal": (
        "Auf dem Server ist ein Fehler aufgetreten. Laden Sie die Seite neu oder versuchen "
        "Sie es in ein paar Minuten erneut; prüfen Sie danach, ob Ihre letzte Aktion "
        "ausgeführt wurde. Passiert es wieder, wenden Sie sich an den Support und nennen "
        "Sie die Uhrzeit.",
        "Something went wrong on the server. Reload the page or try again in a few "
        "minutes; then check whether your last action took effect. If it happens again, "
        "contact support and tell them the time.",
    ),
    "error.bad_request.title": ("Ungültige Anfrage", "Invalid request"),
    "error.bad_request": (
        "Die Anfrage war unvollständig oder fehlerhaft. Laden Sie die Seite neu und "
        "versuchen Sie es noch einmal.",
        "The request was incomplete or malformed. Reload the page and try again.",
    ),
    "error.bad_link": (
        "Eine Angabe in dieser Adresse ist ungültig (z. B. eine Seitennummer oder "
        "Organisation). Öffnen Sie die Seite neu über das Menü, statt die Adresse zu "
        "ändern.",
        "Something in this address is invalid (for example a page number or "
        "organisation). Open the page again from the menu instead of editing the address.",
    ),
    "error.bad_date": (
        "Datum bitte als JJJJ-MM-TT angeben, mit einem Jahr von 1970 bis 9998. Korrigieren "
        "Sie den Filter im Protokoll und laden Sie die CSV-Datei erneut herunter.",
        "Please give dates as YYYY-MM-DD with a year from 1970 to 9998. Correct the "
        "filter in the audit log and download the CSV file again.",
    ),
    "error.bad_month": (
        "Monate bitte als JJJJ-MM angeben (z. B. 2026-01), mit einem Jahr von 1970 bis "
        "9998. Wählen Sie den Zeitraum auf der Fahrerseite neu und laden Sie die "
        "CSV-Datei erneut herunter.",
        "Please give months as YYYY-MM (for example 2026-01) with a year from 1970 to "
        "9998. Choose the period again on the driver's page and download the CSV file again.",
    ),
    # overview
    "overview.title": ("Flottenübersicht", "Fleet overview"),
    "overview.total": ("Kabel insgesamt", "Cables in total"),
    "overview.default_pin": ("noch mit PIN 0000", "still on PIN 0000"),
    "overview.default_pin_hint": (
        "Bitten Sie diese Fahrer, in der App eine eigene PIN zu setzen.",
        "Ask these drivers to set their own PIN in the app.",
    ),
    "overview.pending_pin": ("offene PIN-Freigaben", "pending PIN permissions"),
    "overview.pending_handover": ("offene Übergaben", "pending handovers"),
    "overview.stale": (
        "seit mehr als {days} Tagen nicht synchronisiert",
        "not synced for more than {days} days",
    ),
    "overview.unassigned": ("ohne Fahrer", "without a driver"),
    "overview.show": ("Liste anzeigen", "Show list"),
    # cables list
    "cables.title": ("Kabel", "Cables"),
    "cables.search": ("Suche", "Search"),
    "cables.search_label": ("Seriennummer oder Fahrer", "Serial number or driver"),
    "cables.search_hint": (
        "z. B. CBL-0001 oder ein Name oder eine E-Mail-Adresse",
        "e.g. CBL-0001 or a name or e-mail address",
    ),
    "cables.filter": ("Filter", "Filter"),
    "cables.filter.all": ("Alle", "All"),
    "cables.filter.default_pin": ("PIN noch 0000", "PIN still 0000"),
    "cables.filter.pending": ("Offene Aktion", "Pending action"),
    "cables.filter.pending_pin": ("Offene PIN-Freigabe", "Pending PIN permission"),
    "cables.filter.pending_handover": ("Offene Übergabe", "Pending handover"),
    "cables.filter.unassigned": ("Ohne Fahrer", "Unassigned"),
    "cables.filter.stale": ("Lange nicht synchronisiert", "Not synced recently"),
    "cables.apply": ("Anzeigen", "Show"),
    "cables.reset": ("Filter zurücksetzen", "Clear filters"),
    "cables.serial": ("Seriennummer", "Serial number"),
    "cables.driver": ("Fahrer", "Driver"),
    "cables.pin": ("PIN", "PIN"),
    "cables.last_sync": ("Letzte Synchronisierung", "Last sync"),
    "cables.last_seen": ("Zuletzt gesehen", "Last seen"),
    "cables.status": ("Status", "Status"),
    "cables.none": (
        "Keine Kabel passen zu dieser Suche. Ändern Sie die Suche oder setzen Sie die "
        "Filter zurück.",
        "No cables match this search. Change the search or clear the filters.",
    ),
    "cables.next": ("Nächste Seite", "Next page"),
    "cables.first": ("Erste Seite", "First page"),
    "cables.count": ("{count} Treffer", "{count} matches"),
    "cables.showing": ("Zeige {n} Kabel ab {first}", "Showing {n} cables from {first}"),
    "pin.default": ("0000 (Werkseinstellung)", "0000 (factory default)"),
    "pin.changed": ("geändert", "changed"),
    "pin.unknown": ("unbekannt", "unknown"),
    "status.pending_pin": ("PIN-Freigabe offen", "PIN permission pending"),
    "status.pending_handover": ("Übergabe offen", "Handover pending"),
    "status.pending_reset": ("Zurücksetzen offen", "Reset pending"),
    "status.ok": ("—", "—"),
    "never": ("nie", "never"),
    "pool": ("Pool (kein Fahrer)", "Pool (no driver)"),
    # cable page
    "cable.title": ("Kabel {serial}", "Cable {serial}"),
    "cable.facts": ("Daten", "Facts"),
    "cable.org": ("Organisation", "Organisation"),
    "cable.driver": ("Zugewiesener Fahrer", "Assigned driver"),
    "cable.epoch": ("Epoche", "Epoch"),
    "cable.epoch_hint": (
        "zählt jedes Zurücksetzen des Kabels",
        "counts every reset of the cable",
    ),
    "cable.firmware": ("Firmware", "Firmware"),
    "cable.pin_state": ("PIN-Status (laut letzter App-Verbindung)", "PIN state (as last reported)"),
    "cable.registered": ("Registriert", "Registered"),
    "cable.history": ("Zuweisungen", "Assignments"),
    "cable.history.from": ("von", "from"),
    "cable.history.to": ("bis", "until"),
    "cable.history.current": ("aktuell", "current"),
    "cable.history.none": ("Noch keine Zuweisung.", "No assignments yet."),
    "cable.commands": ("Befehle an das Kabel", "Commands to the cable"),
    "cable.commands.none": ("Noch keine Befehle.", "No commands yet."),
    "cable.commands.kind": ("Art", "Kind"),
    "cable.commands.state": ("Status", "State"),
    "cable.commands.created": ("Erstellt", "Created"),
    "cable.commands.expires": ("Läuft ab", "Expires"),
    "cable.commands.receipt": ("Quittung vom Kabel", "Receipt from the cable"),
    "cable.commands.by": ("Von", "By"),
    "cable.commands.reason": ("Grund", "Reason"),
    "purpose.pin_reset": ("PIN-Freigabe", "PIN permission"),
    "purpose.handover": ("Übergabe", "Handover"),
    "purpose.reset": ("Zurücksetzen (Support)", "Full reset (support)"),
    "state.pending": ("offen", "pending"),
    "state.issued": ("an App übergeben", "handed to an app"),
    "state.done": ("erledigt", "done"),
    "state.cancelled": ("widerrufen", "cancelled"),
    "state.expired": ("abgelaufen", "expired"),
    "cable.actions": ("Aktionen", "Actions"),
    "assign.title": ("Fahrer zuweisen", "Assign a driver"),
    "assign.driver": ("Fahrer", "Driver"),
    "assign.submit": ("Zuweisen", "Assign"),
    "assign.hint": (
        "Nur für Kabel ohne Fahrer. Für einen Wechsel nutzen Sie die Übergabe.",
        "Only for a cable without a driver. To change drivers, start a handover.",
    ),
    "assign.no_drivers": (
        "Es gibt noch keine aktiven Fahrer. Legen Sie zuerst unter „Fahrer“ einen an.",
        "There are no active drivers yet. Add one under “Drivers” first.",
    ),
    "pinreset.title": ("PIN-Zurücksetzung erlauben", "Allow a PIN reset"),
    "pinreset.explain": (
        "Der zugewiesene Fahrer kann dann in der App eine neue PIN wählen, ohne die "
        "alte zu kennen. Die Freigabe gilt einmal und läuft ab. Sie sehen die PIN nie.",
        "The assigned driver can then choose a new PIN in the app without knowing "
        "the old one. The permission works once and expires. You never see the PIN.",
    ),
    "pinreset.days": ("Gültig für (Tage)", "Valid for (days)"),
    "pinreset.reason": ("Grund (optional)", "Reason (optional)"),
    "pinreset.submit": ("PIN-Zurücksetzung erlauben", "Allow PIN reset"),
    "pinreset.pending": (
        "PIN-Freigabe für {driver} ist offen bis {expires}.",
        "PIN permission for {driver} is pending until {expires}.",
    ),
    "pinreset.revoke": ("Freigabe widerrufen", "Revoke permission"),
    "pinreset.need_driver": (
        "Eine PIN-Freigabe braucht einen zugewiesenen Fahrer. Weisen Sie zuerst einen zu.",
        "A PIN permission needs an assigned driver. Assign one first.",
    ),
    "pinreset.days_invalid": (
        "Bitte eine ganze Zahl von 1 bis 30 Tagen angeben.",
        "Please give a whole number of days from 1 to 30.",
    ),
    "handover.title": ("Übergabe starten", "Start a handover"),
    "handover.explain": (
        "Bei der nächsten Verbindung setzt die App das Kabel zurück: alle Ladevorgänge "
        "und Daten auf dem Kabel werden gelöscht, die PIN wird 0000. Danach gehört "
        "das Kabel dem neuen Fahrer (oder dem Pool).",
        "At its next connection the app resets the cable: all charging sessions and "
        "data on the cable are deleted and the PIN becomes 0000. Then the cable "
        "belongs to the new driver (or the pool).",
    ),
    "handover.to": ("Übergeben an", "Hand over to"),
    "handover.continue": ("Weiter zur Bestätigung", "Continue to confirmation"),
    "handover.confirm.title": ("Übergabe bestätigen", "Confirm the handover"),
    "handover.confirm.summary": (
        "Kabel {serial} geht von {old} an {new}.",
        "Cable {serial} goes from {old} to {new}.",
    ),
    "handover.confirm.last_sync": (
        "Letzte Synchronisierung: {when}.",
        "Last sync: {when}.",
    ),
    "handover.confirm.warning": (
        "Achtung: Ladevorgänge, die seit der letzten Synchronisierung auf dem Kabel "
        "aufgezeichnet und noch nicht synchronisiert wurden, werden beim Zurücksetzen "
        "gelöscht und können nicht mehr abgerechnet werden. Bitten Sie den bisherigen "
        "Fahrer, vorher noch einmal zu synchronisieren.",
        "Warning: charging sessions recorded on the cable since the last sync that "
        "have not been synced yet will be deleted by the reset and can no longer be "
        "reimbursed. Ask the current driver to sync once more first.",
    ),
    "handover.confirm.never": (
        "Dieses Kabel wurde noch nie synchronisiert.",
        "This cable has never been synced.",
    ),
    "handover.confirm.submit": ("Übergabe jetzt starten", "Start the handover now"),
    "handover.confirm.cancel": ("Abbrechen", "Go back"),
    "handover.pending": (
        "Übergabe an {driver} ist offen (seit {since}). Sie wird bei der nächsten "
        "Verbindung des Kabels ausgeführt.",
        "Handover to {driver} is pending (since {since}). It runs at the cable's next connection.",
    ),
    "reset.pending": (
        "Zurücksetzen durch den Support ist offen (seit {since}). Es wird bei der nächsten "
        "Verbindung des Kabels ausgeführt.",
        "A reset by support is pending (since {since}). It runs at the cable's next connection.",
    ),
    "handover.cancel": ("Übergabe abbrechen", "Cancel handover"),
    "handover.same_driver": (
        "Das Kabel gehört bereits diesem Fahrer. Wählen Sie einen anderen Fahrer oder den Pool.",
        "The cable already belongs to this driver. Choose another driver or the pool.",
    ),
    "handover.choose": (
        "Bitte wählen Sie, an wen das Kabel gehen soll.",
        "Please choose who gets the cable.",
    ),
    # support
    "support.title": ("Support-Konsole", "Support console"),
    "support.search": ("Kabel suchen (alle Organisationen)", "Find a cable (all organisations)"),
    "support.serial": ("Seriennummer", "Serial number"),
    "support.submit": ("Suchen", "Search"),
    "support.none": (
        "Kein Kabel mit dieser Seriennummer. Prüfen Sie die Schreibweise (CBL- und 8 Ziffern).",
        "No cable with this serial number. Check the spelling (CBL- and 8 digits).",
    ),
    "support.reason": ("Grund (Pflichtfeld)", "Reason (required)"),
    "support.reason_hint": (
        "Wird der Organisation im Protokoll angezeigt, z. B. Ticketnummer.",
        "Shown to the organisation in its audit log, e.g. a ticket number.",
    ),
    "support.reason_missing": (
        "Bitte geben Sie einen Grund an. Support-Aktionen sind nur mit Begründung erlaubt.",
        "Please give a reason. Support actions are only allowed with a reason.",
    ),
    "support.pinreset": ("PIN-Zurücksetzung erlauben", "Allow a PIN reset"),
    "support.reset": ("Kabel vollständig zurücksetzen", "Fully reset the cable"),
    "support.reset_explain": (
        "Löscht beim nächsten Verbinden alle Ladevorgänge, Kopplungen und Zähler auf "
        "dem Kabel; die PIN wird 0000. Nur in Ausnahmefällen.",
        "At the next connection deletes all sessions, bonds and counters on the "
        "cable; the PIN becomes 0000. Exceptional cases only.",
    ),
    "support.reset_submit": ("Zurücksetzen anstoßen", "Trigger the reset"),
    "support.confirm_reset": (
        "Ich habe verstanden, dass nicht synchronisierte Ladevorgänge gelöscht werden.",
        "I understand that unsynced sessions will be deleted.",
    ),
    "support.confirm_missing": (
        "Bitte bestätigen Sie, dass nicht synchronisierte Ladevorgänge gelöscht werden.",
        "Please confirm that unsynced sessions will be deleted.",
    ),
    # drivers
    "drivers.title": ("Fahrer", "Drivers"),
    "drivers.add": ("Fahrer hinzufügen", "Add a driver"),
    "drivers.name": ("Name", "Name"),
    "drivers.email": ("E-Mail-Adresse", "E-mail address"),
    "drivers.status": ("Status", "Status"),
    "drivers.cables": ("Kabel", "Cables"),
    "drivers.active": ("aktiv", "active"),
    "drivers.inactive": ("deaktiviert", "deactivated"),
    "drivers.invited": ("eingeladen", "invited"),
    "drivers.none": ("Noch keine Fahrer.", "No drivers yet."),
    "drivers.add_submit": ("Einladung erstellen", "Create invitation"),
    "drivers.add_explain": (
        "Der Fahrer erhält einen Link, mit dem er sein Passwort festlegt. Der Link "
        "gilt 4 Wochen und nur einmal.",
        "The driver gets a link to set their password. The link works once and for 4 weeks.",
    ),
    "drivers.invite_ready": (
        "Einladung für {email} erstellt. Schicken Sie dem Fahrer diesen Link; er "
        "gilt bis {expires} und wird nur jetzt angezeigt:",
        "Invitation for {email} created. Send the driver this link; it works until "
        "{expires} and is shown only now:",
    ),
    "drivers.email_invalid": (
        "Bitte eine gültige E-Mail-Adresse eingeben (name@beispiel.de).",
        "Please enter a valid e-mail address (name@example.com).",
    ),
    "drivers.name_missing": ("Bitte einen Namen eingeben.", "Please enter a name."),
    "drivers.exists": (
        "Diese E-Mail-Adresse ist schon vergeben. Nutzen Sie eine andere oder suchen "
        "Sie den Fahrer in der Liste.",
        "This e-mail address is already taken. Use another or find the driver in the list.",
    ),
    "driver.title": ("Fahrer {name}", "Driver {name}"),
    "driver.cables": ("Kabel", "Cables"),
    "driver.no_cables": ("Diesem Fahrer ist kein Kabel zugewiesen.", "No cable is assigned."),
    "driver.sessions": ("Ladevorgänge pro Monat", "Charging sessions by month"),
    "driver.month": ("Monat", "Month"),
    "driver.kwh": ("kWh", "kWh"),
    "driver.count": ("Anzahl", "Count"),
    "driver.no_sessions": ("Noch keine Ladevorgänge.", "No charging sessions yet."),
    "driver.csv": (
        "CSV für die Abrechnung herunterladen",
        "Download CSV for reimbursement",
    ),
    "driver.chart": (
        "Diagramm: kWh pro Monat, die Tabelle daneben enthält dieselben Werte.",
        "Chart: kWh per month; the table next to it has the same values.",
    ),
    "driver.deactivate": ("Fahrer deaktivieren", "Deactivate driver"),
    "driver.deactivate_explain": (
        "Der Fahrer kann sich danach nicht mehr anmelden und nicht mehr synchronisieren. "
        "Seine Ladevorgänge bleiben erhalten. Seine Kabel bleiben ihm zugeordnet, bis Sie "
        "sie übergeben; dabei werden sie zurückgesetzt.",
        "The driver can no longer sign in or sync. Their sessions are kept. Their cables "
        "stay assigned to them until you hand them over, which resets them.",
    ),
    "driver.deactivate_confirm": (
        "Ja, diesen Fahrer deaktivieren",
        "Yes, deactivate this driver",
    ),
    "driver.deactivate_missing": (
        "Bitte bestätigen Sie die Deaktivierung mit dem Häkchen.",
        "Please tick the box to confirm the deactivation.",
    ),
    "driver.invitation": ("Einladung", "Invitation"),
    "driver.invitation_valid": (
        "Der Fahrer hat noch kein Passwort festgelegt. Der aktuelle Einladungslink gilt "
        "bis {expires}.",
        "The driver has not chosen a password yet. The current invitation link works "
        "until {expires}.",
    ),
    "driver.invitation_none": (
        "Der Fahrer hat noch kein Passwort festgelegt, und es gibt keinen gültigen "
        "Einladungslink mehr. Erstellen Sie einen neuen Link und schicken Sie ihn dem Fahrer.",
        "The driver has not chosen a password yet and no invitation link is valid any "
        "more. Create a new link and send it to the driver.",
    ),
    "driver.reinvite": ("Neuen Einladungslink erstellen", "Create a new invitation link"),
    "driver.reinvite_explain": (
        "Ein neuer Link macht alle älteren Links dieses Fahrers sofort ungültig. Er gilt "
        "4 Wochen und nur einmal.",
        "A new link stops all of this driver's older links at once. It works once and for 4 weeks.",
    ),
    "driver.reinvite_ready": (
        "Neuer Einladungslink für {email} erstellt; ältere Links gelten nicht mehr. "
        "Schicken Sie dem Fahrer diesen Link; er gilt bis {expires} und wird nur jetzt "
        "angezeigt:",
        "New invitation link for {email} created; older links no longer work. Send the "
        "driver this link; it works until {expires} and is shown only now:",
    ),
    "driver.reinvite_active": (
        "Dieser Fahrer hat schon ein Passwort festgelegt und kann sich in der App "
        "anmelden; ein neuer Einladungslink ist nicht nötig. Laden Sie die Seite neu, um "
        "den aktuellen Stand zu sehen.",
        "This driver has already chosen a password and can sign in to the app; no new "
        "invitation link is needed. Reload the page to see the current state.",
    ),
    "driver.reinvite_inactive": (
        "Dieser Fahrer ist deaktiviert; ein Einladungslink würde ihn nicht hereinlassen. "
        "Wenden Sie sich an den Support, wenn er wieder Zugang braucht.",
        "This driver is deactivated; an invitation link would not let them in. Contact "
        "support if they need access again.",
    ),
    "driver.from": ("Von", "From"),
    "driver.to": ("Bis", "To"),
    # invitation
    "invite.title": ("Passwort festlegen", "Set your password"),
    "invite.intro": (
        "Willkommen, {name}. Legen Sie ein Passwort für {email} fest. Damit melden "
        "Sie sich in der cablepin-App an.",
        "Welcome, {name}. Choose a password for {email}. You will use it to sign in "
        "to the cablepin app.",
    ),
    "invite.password": ("Neues Passwort", "New password"),
    "invite.password2": ("Passwort wiederholen", "Repeat the password"),
    "invite.hint": (
        "Mindestens 10 Zeichen. Das ist nicht die PIN des Kabels.",
        "At least 10 characters. This is not the cable's PIN.",
    ),
    "invite.submit": ("Passwort speichern", "Save password"),
    "invite.invalid": (
        "Dieser Einladungslink ist ungültig, schon benutzt oder abgelaufen. Bitten "
        "Sie Ihre Fuhrparkverwaltung um einen neuen Link.",
        "This invitation link is invalid, already used or expired. Ask your fleet "
        "manager for a new link.",
    ),
    "invite.too_short": (
        "Das Passwort ist zu kurz: bitte mindestens 10 Zeichen.",
        "The password is too short: please use at least 10 characters.",
    ),
    "invite.mismatch": (
        "Die beiden Passwörter stimmen nicht überein. Bitte beide neu eingeben.",
        "The two passwords do not match. Please enter both again.",
    ),
    "invite.done": (
        "Ihr Passwort ist gespeichert. Melden Sie sich jetzt in der cablepin-App an.",
        "Your password is saved. Now sign in to the cablepin app.",
    ),
    # audit
    "audit.title": ("Protokoll", "Audit log"),
    "audit.intro": (
        "Jede PIN-Freigabe, Übergabe, Zurücksetzung, Zuweisung und Support-Aktion. "
        "Einträge lassen sich nicht ändern oder löschen.",
        "Every PIN permission, handover, reset, assignment and support action. "
        "Entries cannot be changed or deleted.",
    ),
    "audit.when": ("Zeit", "Time"),
    "audit.actor": ("Wer", "Who"),
    "audit.action": ("Aktion", "Action"),
    "audit.target": ("Betrifft", "Target"),
    "audit.reason": ("Grund", "Reason"),
    "audit.org": ("Organisation", "Organisation"),
    "audit.filter_action": ("Aktion", "Action"),
    "audit.filter_target": ("Kabel oder Fahrer", "Cable or driver"),
    "audit.filter_actor": ("Ausgeführt von (E-Mail)", "Done by (e-mail)"),
    "audit.filter_from": ("Ab Datum", "From date"),
    "audit.filter_to": ("Bis Datum", "To date"),
    "audit.any": ("alle", "any"),
    "audit.support_only": ("Nur Support-Aktionen", "Support actions only"),
    "audit.none": ("Keine Einträge für diese Filter.", "No entries for these filters."),
    "audit.csv": ("Als CSV herunterladen", "Download as CSV"),
    "audit.older": ("Ältere Einträge", "Older entries"),
    "audit.newest": ("Neueste Einträge", "Newest entries"),
    "audit.date_invalid": (
        "Datum bitte als JJJJ-MM-TT angeben, mit einem Jahr von 1970 bis 9998; der "
        "Datumsfilter wurde ignoriert. Korrigieren Sie ihn und wählen Sie „Anzeigen“.",
        "Please give dates as YYYY-MM-DD with a year from 1970 to 9998; the date filter "
        "was ignored. Correct it and choose “Show”.",
    ),
    "audit.support_badge": ("Support", "Support"),
    # flash (after an action)
    "done.assigned": ("Fahrer zugewiesen.", "Driver assigned."),
    "done.pin_reset_allowed": (
        "PIN-Zurücksetzung erlaubt. Der Fahrer kann bei der nächsten Verbindung in "
        "der App eine neue PIN wählen.",
        "PIN reset allowed. The driver can choose a new PIN in the app at the next connection.",
    ),
    "done.pin_reset_revoked": ("PIN-Freigabe widerrufen.", "PIN permission revoked."),
    "done.handover_started": (
        "Übergabe gestartet. Sie wird bei der nächsten Verbindung des Kabels ausgeführt.",
        "Handover started. It runs at the cable's next connection.",
    ),
    "done.handover_cancelled": (
        "Übergabe abgebrochen. Das Kabel bleibt beim bisherigen Fahrer.",
        "Handover cancelled. The cable stays with its current driver.",
    ),
    "done.reset_started": (
        "Zurücksetzen angestoßen. Es wird bei der nächsten Verbindung des Kabels ausgeführt.",
        "Reset triggered. It runs at the cable's next connection.",
    ),
    "done.deactivated": ("Fahrer deaktiviert.", "Driver deactivated."),
    # table captions / misc
    "yes": ("ja", "yes"),
    "no": ("nein", "no"),
    "unknown": ("unbekannt", "unknown"),
    "csv.serial": ("Seriennummer", "Serial"),
    "csv.epoch": ("Epoche", "Epoch"),
    "csv.seq": ("Nr.", "Seq"),
    "csv.start": ("Beginn (UTC)", "Start (UTC)"),
    "csv.end": ("Ende (UTC)", "End (UTC)"),
    "csv.kwh": ("kWh", "kWh"),
    "csv.meter_start": ("Zählerstand Beginn (Wh)", "Meter start (Wh)"),
    "csv.meter_end": ("Zählerstand Ende (Wh)", "Meter end (Wh)"),
    "csv.driver": ("Fahrer", "Driver"),
    "csv.email": ("E-Mail", "E-mail"),
}


def normalise_locale(value: str | None) -> str | None:
    """``"en-GB"`` -> ``"en"``; anything not offered -> ``None``."""
    if not value:
        return None
    code = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LOCALES else None


def translator(locale: str) -> Translator:
    """A function ``t(key, **values)`` for one language (unknown keys show the key)."""
    index = LOCALES.index(locale) if locale in LOCALES else 0

    def t(key: str, **values: Any) -> str:
        entry = CATALOG.get(key)
        if entry is None:
            return key
        text = entry[index]
        return text.format(**values) if values else text

    return t

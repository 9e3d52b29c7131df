"""Reading form fields and turning service refusals into words for the page.

Rules kept here:
- A field is read as a string and trimmed; a form is re-rendered with what
  was typed when something is refused (U2: nothing typed is lost).
- A file (``upload``) is read as bytes, at most ``limit`` + 1 of them, so the
  service that owns the size rule sees a file that is too large as too large.
- A service refusal is shown in the page's language by its code
  (``ERROR_TEXT``, complete for ``cablepin.cloud.errors``, translated by the
  gettext catalogs); a code the map does not know yet shows the service's
  own (English) message as is.
"""

from __future__ import annotations

import gettext

from starlette.datastructures import FormData, UploadFile

from cablepin.cloud.errors import CloudError
from cablepin.cloud.portal.i18n import N_

__all__ = ["field", "refusal_text", "upload", "values"]

MAX_FIELD = 2000

# Every code a service can raise (``cablepin.cloud.errors``): what happened and
# what to do next (U2), as English message ids translated by the catalogs (U1).
# A test keeps this complete.
ERROR_TEXT: dict[str, str] = {
    "cloud_error": N_(
        "That did not work. Reload the page and try again; if it happens again, contact support."
    ),
    "invalid_request": N_("The input does not fit. Check the fields and send the form again."),
    "reason_required": N_("Please give a reason. Support actions are only allowed with a reason."),
    "bad_receipt": N_(
        "The cable's receipt does not match this cable. Connect the cable in the app again; the "
        "app then fetches a new receipt."
    ),
    "bad_hello": N_(
        "The cable's hello was not signed by this cable. Connect the cable in the app again."
    ),
    "chain_broken": N_(
        "The sessions from the cable do not continue the ones already stored. Sync the cable in "
        "the app again."
    ),
    "unauthorized": N_(
        "You are not (or no longer) signed in, or the account is deactivated. Sign in again; if "
        "that does not help, ask your fleet manager."
    ),
    "forbidden": N_("Your role may not do this. Ask your fleet manager or support."),
    "not_assigned": N_(
        "This cable is not assigned to this driver. Check the assignment on the cable page."
    ),
    "not_found": N_(
        "There is nothing open for this any more (perhaps already done). Reload the page."
    ),
    "unknown_cable": N_("There is no such cable in your organisation. Check the serial number."),
    "unknown_driver": N_(
        "This driver is not (or no longer) active in your organisation. Choose another or add "
        "them under “Drivers”."
    ),
    "unknown_org": N_("There is no such organisation. Check the name or contact support."),
    "unknown_command": N_(
        "This command to the cable does not exist (any more). Reload the cable page and check its "
        "open commands."
    ),
    "conflict": N_(
        "That did not work: the state has changed in the meantime or the action would change "
        "nothing. Reload the page and check the current state."
    ),
    "has_driver": N_("The cable already has a driver. To change drivers, start a handover."),
    "no_driver": N_(
        "The cable has no driver, so nobody could use the permission. Assign a driver first."
    ),
    "wipe_pending": N_(
        "A handover or a reset by support is pending for this cable. A handover can be cancelled "
        "on the cable page; a reset completes at the cable's next connection in the app. Try "
        "again after that."
    ),
    "clean_start_pending": N_(
        "The new driver has not connected the cable in their app yet; until then no sessions are "
        "taken over. Ask them to connect the cable in the app, then try again."
    ),
    "stale_epoch": N_(
        "The cable has been reset since; this belongs to its earlier state. Connect the cable in "
        "the app again."
    ),
    "already_exists": N_(
        "That already exists (for example an open PIN permission). Revoke the existing one first "
        "or reload the page."
    ),
    "weak_password": N_(
        "This password is not allowed: at least 15 characters, and not on the list of common or "
        "stolen passwords. Choose another."
    ),
    "too_large": N_("What was sent is too large. Shorten the input or send less at a time."),
    "too_many_attempts": N_(
        "Too many attempts in a short time. Wait a few minutes, then try again."
    ),
    "config_error": N_(
        "The service is not set up correctly right now. Try again later and contact support if it "
        "stays that way."
    ),
    # Reimbursement (M1-M6)
    "bad_document": N_(
        "The proof is not a PDF, PNG or JPEG file (judged by its content). Upload the contract or "
        "bill as one of these."
    ),
    "invalid_tariff": N_(
        "The tariff does not fit together: check that it ends after it starts and has either one "
        "price or a price for every month it covers."
    ),
    "invalid_account": N_(
        "The IBAN or BIC is not valid. Copy them from a bank statement and send the form again."
    ),
    "unknown_tariff": N_("There is no such tariff for you. Reload the page and check the list."),
    "unknown_receipt": N_("There is no such receipt for you. Reload the page and check the list."),
    "month_open": N_(
        "This month has not ended yet. Submit its receipt from the first day of the next month."
    ),
    "already_on_receipt": N_(
        "These sessions are already on a receipt. Sessions synced later go on a supplementary "
        "receipt for the month."
    ),
    "no_tariff": N_(
        "Some days of the month have sessions but no verified tariff. Upload a tariff for them and "
        "have it verified, or deselect those sessions."
    ),
    "no_policy": N_(
        "Your organisation has no billing policy for this year yet. Ask your fleet manager to set "
        "it."
    ),
    "no_sessions": N_(
        "There are no synced sessions in this month. Connect the cable in the app to sync them."
    ),
    "tariff_overlap": N_(
        "The dates overlap another tariff of yours. Choose dates before or after it."
    ),
    "too_many_pending_tariffs": N_(
        "You have as many tariffs waiting for a decision as one driver may have. Ask your fleet "
        "manager to verify or reject them, then upload this one again."
    ),
    "already_decided": N_("This has already been decided and cannot change. Reload the page."),
    "no_signed_head": N_(
        "The cable has not yet sent a signature covering these sessions. It comes with the next "
        "sync; try again after that."
    ),
    "database_unavailable": N_(
        "The cloud was interrupted for a moment and nothing was saved. Send the form again."
    ),
    # Money out (M4)
    "unknown_payment_run": N_(
        "There is no such transfer file for you. Reload the page and check the list."
    ),
    "no_debtor_account": N_(
        "The billing policy of this year names no account to pay from. Enter the debtor's name, "
        "IBAN and BIC in the billing policy, then try again."
    ),
    "nothing_to_pay": N_(
        "No approved receipt of this month is left to pay. Receipts whose driver has no IBAN are "
        "listed below; earlier transfer files can be downloaded again."
    ),
}

# ``invalid_account`` carries which check failed (``domain/payouts.AccountProblem``).
ACCOUNT_PROBLEM_TEXT: dict[str, str] = {
    "checksum": N_(
        "The IBAN's check digits do not match; there is probably a typo. Copy it from a bank "
        "statement and send the form again."
    ),
    "length": N_(
        "The IBAN has the wrong number of characters for its country. Copy it from a bank "
        "statement and send the form again."
    ),
    "country": N_(
        "The IBAN does not start with a known country code (such as DE). Copy it from a bank "
        "statement and send the form again."
    ),
    "format": N_(
        "The IBAN or BIC contains characters or a structure that its country does not use. Copy "
        "it from a bank statement and send the form again."
    ),
    "not_sepa": N_(
        "This account is outside the SEPA area, so it cannot receive a SEPA transfer. Enter an "
        "account in the SEPA area."
    ),
}


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_FIELD] if isinstance(value, str) else ""


def upload(form: FormData, name: str, *, limit: int) -> bytes | None:
    """The bytes of the file sent as ``name`` (at most ``limit + 1``); None when none was chosen."""
    value = form.get(name)
    if not isinstance(value, UploadFile) or (not value.filename and not value.size):
        return None
    return value.file.read(limit + 1)


def values(form: FormData, *names: str) -> dict[str, str]:
    return {name: field(form, name) for name in names}


def refusal_text(translations: gettext.NullTranslations, error: CloudError) -> str:
    """The words for a service refusal in the page's language; an unknown code shows the
    service's own (English) message, which also says what to do next, rather than a generic one."""
    problem = ACCOUNT_PROBLEM_TEXT.get(str(error.details.get("problem")))
    if error.code == "invalid_account" and problem is not None:
        return translations.gettext(problem)
    message = ERROR_TEXT.get(error.code)
    if message is None:
        return error.message
    return translations.gettext(message)

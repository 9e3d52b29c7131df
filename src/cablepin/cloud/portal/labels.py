"""Words for the codes the portal shows: command kinds and states, filters, audit actions.

Each value is an English message id marked with ``N_`` (so ``pybabel extract``
finds it) and translated where it is shown. A code without a label shows as
itself; a test keeps the maps complete for every code the services write.
"""

from __future__ import annotations

from cablepin.cloud.portal.i18n import N_
from cablepin.cloud.portal.queries import CableFilter

__all__ = [
    "AUDIT_ACTION",
    "BILLING_STATE",
    "CABLE_FILTER",
    "COMMAND_STATE",
    "FLASH",
    "MAIL_KIND",
    "PURPOSE",
]

PURPOSE: dict[str, str] = {
    "pin_reset": N_("PIN permission"),
    "handover": N_("Handover"),
    "reset": N_("Full reset (support)"),
    "clean_start": N_("Clean start (wipe for the new driver)"),
}

COMMAND_STATE: dict[str, str] = {
    "pending": N_("pending"),
    "issued": N_("handed to an app"),
    "done": N_("done"),
    "cancelled": N_("cancelled"),
    "expired": N_("expired"),
    "revoked_used": N_("used after revocation"),
}

CABLE_FILTER: dict[CableFilter, str] = {
    CableFilter.ALL: N_("All"),
    CableFilter.DEFAULT_PIN: N_("PIN still 0000"),
    CableFilter.PIN_UNKNOWN: N_("PIN unknown"),
    CableFilter.PENDING: N_("Pending action"),
    CableFilter.PENDING_PIN: N_("Pending PIN permission"),
    CableFilter.PENDING_HANDOVER: N_("Pending handover"),
    CableFilter.UNASSIGNED: N_("Unassigned"),
    CableFilter.STALE: N_("Not synced recently"),
}

# Every ``audit_events.action`` the services write (``services/*.py``).
AUDIT_ACTION: dict[str, str] = {
    "assignment.created": N_("Driver assigned"),
    "cable.registered": N_("Cable registered"),
    "clean_start.confirmed": N_("Clean start confirmed by the new driver's app"),
    "clean_start.started": N_("Clean start requested (wipe for the new driver)"),
    "clean_start.cancelled": N_("Clean start cancelled"),
    "clean_start.done": N_("Clean start done (cable wiped)"),
    "driver.invited": N_("Driver invited"),
    "driver.reinvited": N_("New invitation link created"),
    "driver.activated": N_("Driver set a password"),
    "driver.deactivated": N_("Driver deactivated"),
    "driver.exported": N_("Driver's data downloaded by the fleet manager"),
    "driver.erased": N_("Driver erased (personal data deleted)"),
    "retention.purged": N_("Kept receipts deleted after the retention period"),
    "handover.started": N_("Handover started"),
    "handover.cancelled": N_("Handover cancelled"),
    "handover.done": N_("Handover done (cable reset)"),
    "reset.started": N_("Full reset started (support)"),
    "reset.done": N_("Full reset done (support)"),
    "pin_reset.allowed": N_("PIN reset allowed"),
    "pin_reset.revoked": N_("PIN permission revoked"),
    "pin_reset.used": N_("PIN reset used by the driver"),
    "pin_reset.used_after_revoke": N_(
        "PIN reset used after it was revoked (a copy was with an app)"
    ),
    "pin_reset.expired": N_("PIN permission expired"),
    "pin_reset.voided": N_("PIN permission voided (cable reset or handed over)"),
    "pin_reset.started": N_("PIN permission started"),
    "pin_reset.done": N_("PIN permission done"),
    "login.failure_burst": N_("Many failed sign-ins"),
    "support.sessions_read": N_("Support read charging sessions"),
    "billing.policy_set": N_("Billing policy set"),
    "billing.flat_price_set": N_("Flat price per kWh set (support)"),
    "tariff.added": N_("Tariff uploaded by the driver"),
    "tariff.verified": N_("Tariff verified"),
    "tariff.rejected": N_("Tariff rejected"),
    "receipt.submitted": N_("Receipt submitted"),
    "receipt.approved": N_("Receipt approved"),
    "receipt.rejected": N_("Receipt rejected"),
    "support.receipts_read": N_("Support read receipts"),
    "bank.set": N_("Driver entered bank details"),
    "payroll.personnel_number_set": N_("Personnel number set"),
    "receipt.paid": N_("Receipt paid by SEPA transfer"),
    "payment_run.downloaded": N_("Transfer file downloaded again"),
    "support.evidence_read": N_("Support read a receipt's evidence"),
    "support.cable_read": N_("Support opened the cable"),
    "support.cables_read": N_("Support listed cables"),
    "support.audit_read": N_("Support read the audit log"),
    "mail.retried": N_("Support sent a failed e-mail again"),
}

# ``?done=…`` after an action: the sentence shown at the top of the next page.
FLASH: dict[str, str] = {
    "assigned": N_("Driver assigned."),
    "pin_reset_allowed": N_(
        "PIN reset allowed. The driver can choose a new PIN in the app at the next connection."
    ),
    "pin_reset_revoked": N_("PIN permission revoked."),
    "handover_started": N_("Handover started. It runs at the cable's next connection."),
    "handover_cancelled": N_("Handover cancelled. The cable stays with its current driver."),
    "reset_started": N_("Reset triggered. It runs at the cable's next connection."),
    "deactivated": N_("Driver deactivated."),
    "erased": N_(
        "Driver erased. Their cables are handed over to the pool; their receipts are kept "
        "for the retention period."
    ),
    "policy_saved": N_("Billing policy saved."),
    "tariff_decided": N_("Tariff decision saved. The driver sees it in the portal."),
    "receipt_decided": N_("Receipt decision saved and recorded in the audit log."),
    "receipt_submitted": N_("Your receipt was submitted. Your fleet manager approves it."),
    "mail_retried": N_("The message waits in the outbox again and is sent at the next round."),
    "tariff_uploaded": N_(
        "Your tariff was uploaded. Your fleet manager checks the proof and verifies it."
    ),
    "bank_saved": N_("Your bank details are saved."),
    "payroll_saved": N_("Personnel number saved."),
    "transfer_made": N_(
        "Transfer file created; its receipts are marked paid. Download it below and upload it "
        "to your bank."
    ),
}


# Tariffs (M2) and receipts (M3, M4) as the reimbursement pages name their state.
BILLING_STATE: dict[str, str] = {
    "pending": N_("waiting for verification"),
    "verified": N_("verified"),
    "submitted": N_("submitted"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
}


# The outbox's messages (M7) as the support page names them.
MAIL_KIND: dict[str, str] = {
    "invitation": N_("Invitation"),
    "pin_reset_allowed": N_("PIN reset allowed"),
    "handover_losing": N_("Handover: to the previous driver"),
    "handover_getting": N_("Handover: to the new driver"),
    "receipt_submitted": N_("Receipt submitted"),
    "receipt_approved": N_("Receipt approved"),
    "receipt_rejected": N_("Receipt rejected"),
}

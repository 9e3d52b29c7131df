"""Refusals of the cloud service; each carries its HTTP status and wire code.

::

    CloudError                 "cloud_error"       500
    ├── InvalidRequest         "invalid_request"   422  malformed or out-of-range input
    │   ├── WeakPassword       "weak_password"     422  carries reason (domain/password_policy)
    │   ├── BadReceipt         "bad_receipt"       422  receipt not signed by this cable
    │   ├── BadHello           "bad_hello"         422  hello not signed by this cable
    │   └── ChainBroken        "chain_broken"      422  records do not continue the chain
    ├── Unauthorized           "unauthorized"      401  no, expired or revoked token; bad login
    ├── Forbidden              "forbidden"         403  the role may not do this
    │   ├── ReasonRequired     "reason_required"   403  support may not act without saying why
    │   └── NotAssigned        "not_assigned"      403  the driver is not the cable's assignee
    ├── NotFound               "not_found"         404
    │   ├── UnknownCable       "unknown_cable"     404  also for another organisation's cable
    │   ├── UnknownDriver      "unknown_driver"    404
    │   ├── UnknownOrg         "unknown_org"       404
    │   ├── UnknownCommand     "unknown_command"   404
    │   ├── UnknownTariff      "unknown_tariff"    404  also for another organisation's
    │   ├── UnknownReceipt     "unknown_receipt"   404  also for another organisation's
    │   └── UnknownPaymentRun  "unknown_payment_run" 404  also for another organisation's
    ├── Conflict               "conflict"          409
    │   ├── HasDriver          "has_driver"        409  assign only a cable without a driver
    │   ├── NoDriver           "no_driver"         409
    │   ├── WipePending        "wipe_pending"      409  nothing syncs while a wipe is pending
    │   ├── CleanStartPending  "clean_start_pending" 409  the assignee has not connected yet
    │   ├── StaleEpoch         "stale_epoch"       409
    │   ├── AlreadyExists      "already_exists"    409
    │   ├── MonthOpen          "month_open"        409  the month has not ended yet
    │   ├── AlreadyOnReceipt   "already_on_receipt" 409  a session is on a live receipt
    │   ├── NoTariff           "no_tariff"         409  carries the dates without a price
    │   ├── NoPolicy           "no_policy"         409  no billing policy for the year
    │   ├── NoSessions         "no_sessions"       409  nothing to put on a receipt
    │   ├── TariffOverlap      "tariff_overlap"    409
    │   ├── AlreadyDecided     "already_decided"   409  verified/approved/rejected already
    │   ├── NoSignedHead       "no_signed_head"    409  no cable-signed head covers it yet
    │   ├── BadDocument        "bad_document"      409  a tariff proof that is no PDF, PNG, JPEG
    │   ├── InvalidTariff      "invalid_tariff"    409  validity, price or monthly prices disagree
    │   ├── InvalidAccount     "invalid_account"   409  IBAN/BIC fails its check (+ problem)
    │   ├── NoDebtorAccount    "no_debtor_account" 409  the policy names no account to pay from
    │   └── NothingToPay       "nothing_to_pay"    409  nothing approved left unpaid (+ unpayable)
    ├── TooLarge               "too_large"         413  request body over the limit
    ├── TooManyAttempts        "too_many_attempts" 429  carries retry_after_s
    ├── DatabaseUnavailable    "database_unavailable" 503  the connection broke mid-request
    └── ConfigError            "config_error"      500  keys or database missing

Refusals of input that fits the OpenAPI schema but not a rule the schema cannot
say (a proof's content, IBAN check digits, dates in order) are 409: a 422
means the request itself is malformed. Bytes a cable signed count as part of
the request: a hello or receipt whose signature is not the cable's, or records
that do not continue its chain, were altered or invented on the way, so they are
422 like any other malformed input (and the app must not resend them as they are).

Errors are translated only at the edges: ``api/errors.py`` turns them into
JSON responses and the CLI prints them with ``cli.output``. Every message
says what to do next.
"""

from __future__ import annotations

from typing import ClassVar

from cablepin.errors import CablepinError

__all__ = [
    "AlreadyDecided",
    "AlreadyExists",
    "AlreadyOnReceipt",
    "BadDocument",
    "BadHello",
    "BadReceipt",
    "ChainBroken",
    "CleanStartPending",
    "CloudError",
    "ConfigError",
    "Conflict",
    "DatabaseUnavailable",
    "Forbidden",
    "HasDriver",
    "InvalidAccount",
    "InvalidRequest",
    "InvalidTariff",
    "MonthOpen",
    "NoDebtorAccount",
    "NoDriver",
    "NoPolicy",
    "NoSessions",
    "NoSignedHead",
    "NoTariff",
    "NotAssigned",
    "NotFound",
    "NothingToPay",
    "ReasonRequired",
    "StaleEpoch",
    "TariffOverlap",
    "TooLarge",
    "TooManyAttempts",
    "Unauthorized",
    "UnknownCable",
    "UnknownCommand",
    "UnknownDriver",
    "UnknownOrg",
    "UnknownPaymentRun",
    "UnknownReceipt",
    "UnknownTariff",
    "WeakPassword",
    "WipePending",
]


class CloudError(CablepinError):
    code = "cloud_error"
    status: ClassVar[int] = 500


class InvalidRequest(CloudError):
    code = "invalid_request"
    status = 422


class WeakPassword(InvalidRequest):
    """The password policy refused a new password; ``details["reason"]`` says why."""

    code = "weak_password"


class BadReceipt(InvalidRequest):
    code = "bad_receipt"


class BadHello(InvalidRequest):
    code = "bad_hello"


class ChainBroken(InvalidRequest):
    code = "chain_broken"


class Unauthorized(CloudError):
    code = "unauthorized"
    status = 401


class Forbidden(CloudError):
    code = "forbidden"
    status = 403


class ReasonRequired(Forbidden):
    # 403, not 422: the same request is valid from a fleet manager; what support
    # lacks is the permission to act unexplained (and the OpenAPI document can
    # only say "optional" for a field one role must send).
    code = "reason_required"


class NotAssigned(Forbidden):
    code = "not_assigned"


class NotFound(CloudError):
    code = "not_found"
    status = 404


class UnknownCable(NotFound):
    code = "unknown_cable"


class UnknownDriver(NotFound):
    code = "unknown_driver"


class UnknownOrg(NotFound):
    code = "unknown_org"


class UnknownCommand(NotFound):
    code = "unknown_command"


class Conflict(CloudError):
    code = "conflict"
    status = 409


class HasDriver(Conflict):
    code = "has_driver"


class NoDriver(Conflict):
    code = "no_driver"


class WipePending(Conflict):
    code = "wipe_pending"


class CleanStartPending(Conflict):
    code = "clean_start_pending"


class StaleEpoch(Conflict):
    code = "stale_epoch"


class AlreadyExists(Conflict):
    code = "already_exists"


class TooLarge(CloudError):
    code = "too_large"
    status = 413


class TooManyAttempts(CloudError):
    code = "too_many_attempts"
    status = 429


class DatabaseUnavailable(CloudError):
    """The database connection broke while a request used it (a restart, a cut, a failover).

    The request's unit of work was rolled back (or its commit's outcome is
    unknown); every request of the app is safe to send again.
    """

    code = "database_unavailable"
    status = 503


class ConfigError(CloudError):
    code = "config_error"


# ---------------------------------------------------------------- reimbursement (M1-M6)


class BadDocument(Conflict):
    code = "bad_document"


class InvalidTariff(Conflict):
    code = "invalid_tariff"


class InvalidAccount(Conflict):
    code = "invalid_account"


class UnknownTariff(NotFound):
    code = "unknown_tariff"


class UnknownReceipt(NotFound):
    code = "unknown_receipt"


class MonthOpen(Conflict):
    code = "month_open"


class AlreadyOnReceipt(Conflict):
    code = "already_on_receipt"


class NoTariff(Conflict):
    code = "no_tariff"


class NoPolicy(Conflict):
    code = "no_policy"


class NoSessions(Conflict):
    code = "no_sessions"


class TariffOverlap(Conflict):
    code = "tariff_overlap"


class TooManyPendingTariffs(Conflict):
    code = "too_many_pending_tariffs"


class AlreadyDecided(Conflict):
    code = "already_decided"


class NoSignedHead(Conflict):
    code = "no_signed_head"


# ---------------------------------------------------------------- money out (M4)


class UnknownPaymentRun(NotFound):
    code = "unknown_payment_run"


class NoDebtorAccount(Conflict):
    code = "no_debtor_account"


class NothingToPay(Conflict):
    code = "nothing_to_pay"

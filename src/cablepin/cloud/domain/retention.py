"""How long an erased driver's receipts are kept (D2), and why.

Rules kept here:

* A receipt for reimbursed charging power is a record the employer must keep:
  the tax-free reimbursement goes through payroll, and the receipt is the
  document behind it in the wage account (Lohnkonto, §41 (1) EStG with §4 (2)
  Nr. 4 LStDV: kept until the end of the sixth calendar year after the last
  entry) and the voucher of a booking (Buchungsbeleg, §147 (1) Nr. 4 AO:
  eight years since the Fourth Bureaucracy Relief Act, BEG IV, in force
  1 January 2025, before that ten; likewise §257 (4) HGB). The longer period
  governs: ``DEFAULT_YEARS = 8``.
* The period starts at the end of the calendar year the record was made in
  (§147 (4) AO, §41 (1) EStG): a receipt decided (or, if never decided,
  submitted) during year Y may be deleted from 1 January of Y + years + 1,
  counted in Europe/Berlin.
* §147 (3) sentence 5 AO keeps records longer while a tax assessment they
  matter for is still open (for example during a tax audit); the code cannot
  know that, so the period is a setting (``CABLEPIN_RETENTION_YEARS``) an
  organisation raises when its tax adviser says so.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from cablepin.cloud.domain.billing import BILLING_ZONE

__all__ = ["DEFAULT_YEARS", "deletable_from"]

DEFAULT_YEARS: Final = 8


def deletable_from(made: dt.datetime, years: int) -> dt.datetime:
    """The first moment a record made at ``made`` may be deleted (aware, UTC)."""
    if years < 1:
        raise ValueError("a retention period is at least one year")
    year = made.astimezone(BILLING_ZONE).year
    return dt.datetime(year + years + 1, 1, 1, tzinfo=BILLING_ZONE).astimezone(dt.UTC)

"""Money out (M4) as pure rules: bank accounts, masking, what a transfer says.

Rules kept here:

* An IBAN is checked by schwifty (country, length, structure, check digits)
  and kept in its compact form; a BIC likewise. A refusal names only *what*
  is wrong (``AccountProblem``), never the value: schwifty's own messages
  repeat the input, and an IBAN must not reach a log or an error text.
* An IBAN is shown masked to everyone but its owner: country and the last
  four characters, the rest as ``*`` in groups of four (``DE** **** ... 3000``).
* A transfer pays a receipt's amount in cents to its driver; the remittance
  text and the end-to-end id carry the receipt number, so the bank statement
  says which receipt was paid.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Final

from schwifty import BIC, IBAN
from schwifty.exceptions import (
    InvalidChecksumDigits,
    InvalidCountryCode,
    InvalidLength,
    SchwiftyException,
)

from cablepin.evidence.money import CENT

__all__ = [
    "PERSONNEL_NUMBER",
    "SEPA_SCHEMA",
    "AccountProblem",
    "BadAccount",
    "cents",
    "end_to_end_id",
    "mask_iban",
    "parse_bic",
    "parse_iban",
    "remittance",
]

#: The pain.001 version of the transfer files (the one German banks take since Nov 2025).
SEPA_SCHEMA: Final = "pain.001.001.09"
#: Personnel numbers as payroll programs know them: letters, digits, ``-`` ``/`` ``.``.
PERSONNEL_NUMBER: Final = r"^[A-Za-z0-9][A-Za-z0-9./-]{0,19}$"


class AccountProblem(StrEnum):
    CHECKSUM = "checksum"
    LENGTH = "length"
    COUNTRY = "country"
    FORMAT = "format"
    NOT_SEPA = "not_sepa"


class BadAccount(ValueError):
    """An IBAN or BIC that fails its check; ``problem`` says which check (never the value)."""

    def __init__(self, problem: AccountProblem, what: str = "IBAN") -> None:
        super().__init__(f"the {what} is not valid ({problem.value})")
        self.problem = problem
        self.what = what


def parse_iban(text: str) -> str:
    """The compact IBAN (``DE89370400440532013000``) or ``BadAccount``."""
    try:
        iban = IBAN(text)
    except InvalidChecksumDigits:
        raise BadAccount(AccountProblem.CHECKSUM) from None
    except InvalidLength:
        raise BadAccount(AccountProblem.LENGTH) from None
    except InvalidCountryCode:
        raise BadAccount(AccountProblem.COUNTRY) from None
    except SchwiftyException:
        # ``from None``: schwifty's message quotes the input.
        raise BadAccount(AccountProblem.FORMAT) from None
    if not iban.in_sepa_zone:
        raise BadAccount(AccountProblem.NOT_SEPA)
    return str(iban.compact)


def parse_bic(text: str) -> str:
    try:
        return str(BIC(text))
    except SchwiftyException:
        raise BadAccount(AccountProblem.FORMAT, "BIC") from None


def mask_iban(compact: str) -> str:
    """``DE89370400440532013000`` -> ``DE** **** **** **** **30 00``."""
    hidden = compact[:2] + "*" * (len(compact) - 6) + compact[-4:]
    return " ".join(hidden[i : i + 4] for i in range(0, len(hidden), 4))


def cents(amount: Decimal) -> int:
    """A receipt's amount (already rounded to cents) as integer cents."""
    if amount != amount.quantize(CENT) or amount <= 0:
        raise ValueError("a transfer pays a positive amount in whole cents")
    return int(amount * 100)


def remittance(receipt_id: int, month: str) -> str:
    """The unstructured remittance text (SEPA: at most 140 characters)."""
    return f"Ladestrom-Erstattung {month} Beleg {receipt_id}"


def end_to_end_id(receipt_id: int) -> str:
    """The id the bank hands back on the driver's statement (<= 35 characters)."""
    return f"CABLEPIN-R{receipt_id}"

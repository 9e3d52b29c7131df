"""What a reimbursement receipt proves, shared by the cloud and the offline verifier.

``money`` is the one money rule (exact decimals, one rounding on the total);
``bundle`` is the evidence bundle's format and its verification, built only on
``cablepin.protocol`` (the chain and certificate rules), so the verifier needs
nothing but the factory CA certificate and trusts nothing the cloud says.
"""

from cablepin.evidence.bundle import BUNDLE_FORMAT, Verified, verify_bundle
from cablepin.evidence.errors import EvidenceError
from cablepin.evidence.money import amount_for, kwh, parse_money, parse_price

__all__ = [
    "BUNDLE_FORMAT",
    "EvidenceError",
    "Verified",
    "amount_for",
    "kwh",
    "parse_money",
    "parse_price",
    "verify_bundle",
]

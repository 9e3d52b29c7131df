"""The evidence package's one error.

::

    EvidenceError   "evidence_mismatch"   what in a receipt's bundle does not match

The message names the part that does not match (certificate, chain, head
signature, a line, a price, the arithmetic) and what it means.
"""

from __future__ import annotations

from cablepin.errors import CablepinError

__all__ = ["EvidenceError"]


class EvidenceError(CablepinError):
    code = "evidence_mismatch"

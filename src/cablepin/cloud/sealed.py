"""Bank data sealed at rest: AES-256-GCM under a key the database never holds.

Rules kept here:

* Each IBAN (and each stored transfer file, which lists IBANs) is sealed
  with ``CloudKeys.bank_key``, derived from the deployment's command key in
  the keys directory, so a database dump alone does not give the accounts.
* A sealed value is bound to its row (``context``, the associated data):
  copying one driver's sealed IBAN onto another's row fails to open.
* A value that does not open raises ``ConfigError`` (the keys directory is
  not the one the data was sealed with): never a silent empty value.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cablepin.cloud.errors import ConfigError

__all__ = ["seal", "unseal"]

NONCE = 12


def seal(key: bytes, data: bytes, *, context: str) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, data, context.encode())


def unseal(key: bytes, blob: bytes, *, context: str) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE], blob[NONCE:], context.encode())
    except (InvalidTag, ValueError) as e:
        raise ConfigError(
            "stored bank data does not open with this deployment's keys; start the service "
            "with the keys directory it was saved with (CABLEPIN_KEYS)"
        ) from e

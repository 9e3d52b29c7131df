"""Loads the deployment keys the cloud needs from ``CABLEPIN_KEYS``.

``command.key`` (PEM, Ed25519) signs commands; ``factory-ca.pem`` is the
factory CA certificate that cable certificates must chain to. Both are
written by ``cablepin keys init``. The challenge key and the bank key are
derived from the command key (HKDF, each with its own label). ``device_key`` parses a
registered cable's certificate once per process (B3: every connect and upload checks a
signature).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cablepin.cloud.errors import ConfigError
from cablepin.protocol import pki
from cablepin.protocol.errors import CertificateError

__all__ = [
    "COMMAND_KEY_FILE",
    "FACTORY_CA_FILE",
    "CloudKeys",
    "derive_bank_key",
    "derive_challenge_key",
    "device_key",
    "load_factory_ca",
    "load_keys",
]

COMMAND_KEY_FILE = "command.key"
FACTORY_CA_FILE = "factory-ca.pem"
DEVICE_KEYS_CACHED = 10_000  # a few MB: the cables one process talks to in a while


@dataclass(frozen=True)
class CloudKeys:
    command_key: Ed25519PrivateKey
    factory_ca: x509.Certificate
    factory_ca_pem: str
    challenge_key: bytes  # derived from the command key (domain/challenge.py)
    bank_key: bytes  # derived too: seals IBANs at rest (sealed.py)


def _derive(command_key: Ed25519PrivateKey, info: bytes) -> bytes:
    raw = command_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw)


def derive_challenge_key(command_key: Ed25519PrivateKey) -> bytes:
    """A separate key for fresh-hello challenges, derived so no new file is needed."""
    return _derive(command_key, b"cablepin/v1/challenge-key")


def derive_bank_key(command_key: Ed25519PrivateKey) -> bytes:
    """The AES-256 key that seals bank data at rest (``sealed.py``); derived, no new file."""
    return _derive(command_key, b"cablepin/v1/bank-key")


def _read(directory: Path | None, name: str) -> bytes:
    if directory is None:
        raise ConfigError(
            "no keys directory is configured; pass --keys DIR or set CABLEPIN_KEYS "
            "(create one with `cablepin keys init --dir DIR`)"
        )
    path = directory / name
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(
            f"cannot read {path}: {e.strerror}; create the keys with `cablepin keys init --dir DIR`"
        ) from e


def load_factory_ca(directory: Path | None) -> x509.Certificate:
    try:
        return pki.load_certificate(_read(directory, FACTORY_CA_FILE))
    except CertificateError as e:
        raise ConfigError(f"{FACTORY_CA_FILE} is not a certificate: {e.message}") from e


def load_keys(directory: Path | None) -> CloudKeys:
    ca = load_factory_ca(directory)
    try:
        command_key = pki.load_private_key(_read(directory, COMMAND_KEY_FILE))
    except CertificateError as e:
        raise ConfigError(f"{COMMAND_KEY_FILE} is not an Ed25519 key: {e.message}") from e
    return CloudKeys(
        command_key,
        ca,
        pki.certificate_pem(ca).decode(),
        derive_challenge_key(command_key),
        derive_bank_key(command_key),
    )


@functools.lru_cache(maxsize=DEVICE_KEYS_CACHED)
def device_key(cert_pem: str) -> Ed25519PublicKey:
    """The public key of a registered cable's certificate (PEM text as stored).

    Cached by the certificate's own text, so a hit can never be another cable's
    key; registration checked the certificate against the factory CA already.
    """
    return pki.device_public_key(pki.load_certificate(cert_pem.encode()))

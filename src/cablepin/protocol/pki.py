"""Keys and certificates of the trust model (DESIGN.md, "Trust model").

* The factory CA (Ed25519) signs each cable's X.509 device certificate,
  subject CN = serial and a DNS subjectAltName = serial, so the app's TLS
  layer checks chain *and* serial with the standard hostname check.
* The cable's device key (Ed25519) is its TLS key and signs receipts and
  session-chain heads. It never leaves the cable.
* The cloud's command key (Ed25519) signs commands; cables hold its public key.

Time is a parameter (``now``); nothing here reads a clock or touches a file.
"""

from __future__ import annotations

import datetime as dt
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cablepin.protocol.errors import CertificateError

__all__ = [
    "SERIAL_PATTERN",
    "certificate_pem",
    "certificate_serial",
    "check_serial",
    "device_public_key",
    "generate_key",
    "issue_device_certificate",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "make_factory_ca",
    "private_key_pem",
    "public_key_pem",
    "verify_device_certificate",
]

SERIAL_PATTERN = re.compile(r"CBL-[0-9]{8}")
CA_VALIDITY = dt.timedelta(days=365 * 30)
DEVICE_VALIDITY = dt.timedelta(days=365 * 25)


def check_serial(serial: str) -> str:
    if not SERIAL_PATTERN.fullmatch(serial):
        raise CertificateError(
            f"{serial!r} is not a cable serial; serials look like CBL-00012345 (CBL- and 8 digits)"
        )
    return serial


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise CertificateError("not a PEM private key") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise CertificateError("the private key is not an Ed25519 key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise CertificateError("not a PEM public key") from e
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateError("the public key is not an Ed25519 key")
    return key


def load_certificate(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as e:
        raise CertificateError("not a PEM certificate") from e


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_factory_ca(key: Ed25519PrivateKey, now: dt.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cablepin factory CA")])
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, None)
    )


def issue_device_certificate(
    ca_key: Ed25519PrivateKey,
    ca_cert: x509.Certificate,
    serial: str,
    device_key: Ed25519PublicKey,
    now: dt.datetime,
) -> x509.Certificate:
    check_serial(serial)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
        .issuer_name(ca_cert.subject)
        .public_key(device_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + DEVICE_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(serial)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, None)
    )


def certificate_serial(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not isinstance(names[0].value, str):
        raise CertificateError("the certificate names no single cable serial")
    return check_serial(names[0].value)


def device_public_key(cert: x509.Certificate) -> Ed25519PublicKey:
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateError("the cable certificate does not hold an Ed25519 key")
    return key


def verify_device_certificate(
    cert: x509.Certificate, ca_cert: x509.Certificate, serial: str | None = None
) -> str:
    """Check ``cert`` was issued by the factory CA (and names ``serial``); return its serial."""
    ca_key = ca_cert.public_key()
    if not isinstance(ca_key, Ed25519PublicKey) or cert.issuer != ca_cert.subject:
        raise CertificateError("the cable certificate was not issued by the factory CA")
    try:
        ca_key.verify(cert.signature, cert.tbs_certificate_bytes)
    except InvalidSignature as e:
        raise CertificateError("the cable certificate was not signed by the factory CA") from e
    found = certificate_serial(cert)
    if serial is not None and found != serial:
        raise CertificateError(f"the certificate belongs to {found}, not {serial}")
    device_public_key(cert)
    return found

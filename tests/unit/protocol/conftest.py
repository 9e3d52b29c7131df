"""Fixtures for protocol tests: a factory CA, one provisioned cable, a wired pair."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cablepin.protocol import pki
from cablepin.protocol.connection import AppConnection, CableConnection
from cablepin.protocol.tls import app_tls_context, cable_tls_context

SERIAL = "CBL-00012345"
# OpenSSL checks validity against the real clock, so certificates are made "now".
NOW = dt.datetime.now(dt.UTC)


@dataclass
class Factory:
    ca_key: Ed25519PrivateKey
    ca_cert: x509.Certificate
    ca_pem: bytes
    device_key: Ed25519PrivateKey
    device_cert: x509.Certificate
    cert_path: Path
    key_path: Path
    command_key: Ed25519PrivateKey


@pytest.fixture(scope="session")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Factory:
    folder = tmp_path_factory.mktemp("factory")
    ca_key = pki.generate_key()
    ca_cert = pki.make_factory_ca(ca_key, NOW)
    device_key = pki.generate_key()
    device_cert = pki.issue_device_certificate(
        ca_key, ca_cert, SERIAL, device_key.public_key(), NOW
    )
    cert_path, key_path = folder / "device.pem", folder / "device.key"
    cert_path.write_bytes(pki.certificate_pem(device_cert))
    key_path.write_bytes(pki.private_key_pem(device_key))
    return Factory(
        ca_key,
        ca_cert,
        pki.certificate_pem(ca_cert),
        device_key,
        device_cert,
        cert_path,
        key_path,
        pki.generate_key(),
    )


class ConnectionPair:
    """Two real endpoints wired back to back (after h11's tests/helpers.py)."""

    def __init__(self, factory: Factory, serial: str = SERIAL, ca_pem: bytes | None = None):
        self.cable = CableConnection(cable_tls_context(factory.cert_path, factory.key_path))
        self.app = AppConnection(app_tls_context(ca_pem or factory.ca_pem), serial)
        self.wire_bytes = 0

    def pump(self) -> None:
        """Move bytes both ways until both sides are quiet."""
        while True:
            to_cable, to_app = self.app.data_to_send(), self.cable.data_to_send()
            if not to_cable and not to_app:
                return
            self.wire_bytes += len(to_cable) + len(to_app)
            if to_cable:
                self.cable.receive_data(to_cable)
            if to_app:
                self.app.receive_data(to_app)

    def open(self) -> None:
        self.app.initiate()
        self.pump()


@pytest.fixture
def pair(factory: Factory) -> ConnectionPair:
    p = ConnectionPair(factory)
    p.open()
    return p

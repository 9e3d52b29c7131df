"""M7: the sender speaks TLS as the settings say, and its password comes from a file only.

A real aiosmtpd server with a certificate made here; the sender trusts it
through ``SSL_CERT_FILE`` (the system's CA store, as in production), checks the
name, and logs in only inside TLS. STARTTLS is never skipped: against a
server without it, nothing is sent in the clear.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from cablepin.cloud.db import make_sessionmaker
from cablepin.cloud.domain.outbox import MailState
from cablepin.cloud.models import AuditEvent, OutboxMessage
from cablepin.cloud.sender import Sender
from cablepin.cloud.settings import Settings

from .conftest import CABLE_A, DRIVER_A1, FM_A, World, assigned_world
from .smtp import Recorder, free_port

PASSWORD = "smtp-secret-8f2b6c"


@pytest.fixture
def tls_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))  # the "system" trusts it
    return cert_path, key_path


class Logins:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.seen.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password.decode() == PASSWORD)


def server_context(files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*files)
    return context


@pytest.fixture
def pin_reset_mail(world: World) -> World:
    """One message in the outbox: DRIVER_A1's PIN reset."""
    assigned_world(world)
    assert world.call("POST", f"/api/v1/cables/{CABLE_A}/pin-reset", FM_A, json={}).is_success
    return world


def sender(world: World, port: int, tmp_path: Path, tls: str) -> Sender:
    password_file = tmp_path / "smtp-password"
    password_file.write_text(PASSWORD + "\n")
    settings = Settings(
        db=world.url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls=tls,
        smtp_user="cablepin",
        smtp_password_file=password_file,
    )
    sessions = make_sessionmaker(world.client.app.state.engine)  # type: ignore[attr-defined]
    return Sender(sessions, settings, clock=world.clock)


@pytest.fixture
def controller() -> Iterator[list[Controller]]:
    started: list[Controller] = []
    yield started
    for c in started:
        c.stop()


def no_password_anywhere(world: World, caplog: pytest.LogCaptureFixture) -> None:
    assert PASSWORD not in caplog.text
    with world.session() as db:
        for row in db.scalars(select(OutboxMessage)):
            assert PASSWORD not in f"{row.last_error} {row.content!r}"
        for event in db.scalars(select(AuditEvent)):
            assert PASSWORD not in f"{event.details} {event.reason}"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_m7_starttls_then_login_with_the_password_from_its_file(
    pin_reset_mail: World,
    tls_files: tuple[Path, Path],
    tmp_path: Path,
    controller: list[Controller],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder, logins, port = Recorder(), Logins(), free_port()
    controller.append(
        Controller(
            recorder,
            hostname="127.0.0.1",
            port=port,
            tls_context=server_context(tls_files),
            require_starttls=True,
            authenticator=logins,
            auth_require_tls=True,
        )
    )
    controller[0].start()
    assert sender(pin_reset_mail, port, tmp_path, "starttls").deliver_due().sent == 1
    assert logins.seen == [("cablepin", PASSWORD)]
    assert [r.rcpt for r in recorder.received] == [[DRIVER_A1]]
    no_password_anywhere(pin_reset_mail, caplog)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_m7_implicit_tls(
    pin_reset_mail: World,
    tls_files: tuple[Path, Path],
    tmp_path: Path,
    controller: list[Controller],
) -> None:
    recorder, logins, port = Recorder(), Logins(), free_port()
    controller.append(
        Controller(
            recorder,
            hostname="127.0.0.1",
            port=port,
            ssl_context=server_context(tls_files),
            authenticator=logins,
            auth_require_tls=False,  # the whole connection is TLS
        )
    )
    controller[0].start()
    assert sender(pin_reset_mail, port, tmp_path, "tls").deliver_due().sent == 1
    assert logins.seen == [("cablepin", PASSWORD)]
    assert len(recorder.received) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_m7_starttls_is_never_skipped(
    pin_reset_mail: World, tmp_path: Path, controller: list[Controller]
) -> None:
    recorder, port = Recorder(), free_port()
    controller.append(Controller(recorder, hostname="127.0.0.1", port=port))  # no TLS offered
    controller[0].start()
    done = sender(pin_reset_mail, port, tmp_path, "starttls").deliver_due()
    assert done.as_dict() == {"sent": 0, "deferred": 1, "failed": 0}
    assert recorder.received == []
    with pin_reset_mail.session() as db:
        (row,) = db.scalars(select(OutboxMessage))
        assert row.state is MailState.PENDING
        assert "STARTTLS" in (row.last_error or "")

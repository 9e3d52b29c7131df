"""Deployment keys and the factory: files on disk (the edge, not the rules).

Layout of a deployment key directory (``cablepin keys init``)::

    factory-ca.pem   factory CA certificate (public; apps trust it)
    factory-ca.key   factory CA private key (0600)
    command.pem      the cloud's command public key (goes into every cable)
    command.key      the cloud's command private key (0600; only the cloud reads it)

Layout of a cable's state directory (``cablepin factory provision``)::

    device.key       the cable's Ed25519 device key (0600; never leaves the cable)
    device.pem       its certificate, issued by the factory CA (CN = serial)
    factory-ca.pem   the CA, so anyone can check device.pem
    command.pem      the cloud's command public key
    pin.key          secret key of the PIN hash (0600; apart from the state file)
    state.cbor       the small state (see ``state.py``), replaced atomically
    sessions.log     the session log: fixed-size records, appended (made at the first session)
    lock             the flash lock

Existing keys or cables are never overwritten.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cablepin.cable.errors import AlreadyExists, NotProvisioned
from cablepin.cable.firmware import Cable, Identity, factory_state
from cablepin.cable.pin import PIN_KEY_SIZE
from cablepin.cable.state import save_state
from cablepin.cable.store import STATE_FILE, DirectoryFlash, write_file_atomically
from cablepin.protocol import pki
from cablepin.protocol.errors import ProtocolError

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "COMMAND_KEY",
    "COMMAND_PUB",
    "DEVICE_CERT",
    "DEVICE_KEY",
    "PIN_KEY",
    "DeploymentKeys",
    "init_keys",
    "load_identity",
    "open_cable",
    "provision",
]

CA_CERT, CA_KEY = "factory-ca.pem", "factory-ca.key"
COMMAND_PUB, COMMAND_KEY = "command.pem", "command.key"
DEVICE_CERT, DEVICE_KEY, PIN_KEY = "device.pem", "device.key", "pin.key"
SECRET_MODE = 0o600


@dataclass(frozen=True)
class DeploymentKeys:
    directory: Path
    files: tuple[str, ...]


def _refuse_existing(directory: Path, names: tuple[str, ...], what: str) -> None:
    present = [name for name in names if (directory / name).exists()]
    if present:
        raise AlreadyExists(
            f"{directory} already holds {what} ({', '.join(present)}); refusing to overwrite "
            "them: choose another directory or remove the old files yourself"
        )


def init_keys(directory: Path, now: dt.datetime) -> DeploymentKeys:
    """Create the factory CA and the cloud command key pair."""
    names = (CA_CERT, CA_KEY, COMMAND_PUB, COMMAND_KEY)
    _refuse_existing(directory, names, "deployment keys")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, command_key = pki.generate_key(), pki.generate_key()
    ca_cert = pki.make_factory_ca(ca_key, now)
    write_file_atomically(directory / CA_KEY, pki.private_key_pem(ca_key), mode=SECRET_MODE)
    write_file_atomically(directory / CA_CERT, pki.certificate_pem(ca_cert))
    write_file_atomically(
        directory / COMMAND_KEY, pki.private_key_pem(command_key), mode=SECRET_MODE
    )
    write_file_atomically(directory / COMMAND_PUB, pki.public_key_pem(command_key.public_key()))
    return DeploymentKeys(directory, names)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise NotProvisioned(f"{path} is missing ({what}); check the directory you gave") from e


def provision(serial: str, keys_dir: Path, state_dir: Path, now: dt.datetime) -> Identity:
    """P1: make a new cable: device key and certificate, command key, PIN 0000, epoch 0."""
    pki.check_serial(serial)
    ca_key = pki.load_private_key(_read(keys_dir / CA_KEY, "the factory CA key"))
    ca_pem = _read(keys_dir / CA_CERT, "the factory CA certificate")
    ca_cert = pki.load_certificate(ca_pem)
    command_pem = _read(keys_dir / COMMAND_PUB, "the cloud's command public key")
    command_key = pki.load_public_key(command_pem)
    if state_dir.exists() and any(state_dir.iterdir()):
        raise AlreadyExists(
            f"{state_dir} already holds a cable; refusing to overwrite it: choose a new "
            "state directory"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    device_key = pki.generate_key()
    cert = pki.issue_device_certificate(ca_key, ca_cert, serial, device_key.public_key(), now)
    pin_key = os.urandom(PIN_KEY_SIZE)
    write_file_atomically(state_dir / DEVICE_KEY, pki.private_key_pem(device_key), mode=SECRET_MODE)
    write_file_atomically(state_dir / DEVICE_CERT, pki.certificate_pem(cert))
    write_file_atomically(state_dir / CA_CERT, ca_pem)
    write_file_atomically(state_dir / COMMAND_PUB, command_pem)
    write_file_atomically(state_dir / PIN_KEY, pin_key, mode=SECRET_MODE)
    identity = Identity(serial, device_key, command_key, pin_key)
    flash = DirectoryFlash(state_dir)
    with flash.lock():
        save_state(flash, factory_state(identity))  # last: a cable exists once its state does
    return identity


def load_identity(state_dir: Path) -> Identity:
    if not (state_dir / STATE_FILE).exists():
        raise NotProvisioned(
            f"{state_dir} holds no cable; run `cablepin factory provision --serial S --keys DIR "
            f"--state {state_dir}` first"
        )
    try:
        cert = pki.load_certificate(_read(state_dir / DEVICE_CERT, "the device certificate"))
        serial = pki.certificate_serial(cert)
        device_key = pki.load_private_key(_read(state_dir / DEVICE_KEY, "the device key"))
        command_key = pki.load_public_key(_read(state_dir / COMMAND_PUB, "the command key"))
    except ProtocolError as e:
        raise NotProvisioned(
            f"the cable in {state_dir} is damaged ({e.message}); provision it again"
        ) from e
    pin_key = _read(state_dir / PIN_KEY, "the PIN key")
    return Identity(serial, device_key, command_key, pin_key)


def open_cable(state_dir: Path) -> Cable:
    return Cable(load_identity(state_dir), DirectoryFlash(state_dir))

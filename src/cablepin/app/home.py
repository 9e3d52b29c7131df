"""The app's local state, one folder per installation (``--home`` / ``CABLEPIN_HOME``).

Rules kept here:

* One JSON file (``state.json``) holds the server URL, the login (token,
  e-mail, role), the factory CA fetched at login, the language, the radio
  folder given at login (``--radio``, a demo's own) and one bond per cable
  serial. There is deliberately no field for a PIN (P7): the PIN exists on
  the cable and, while the driver types it, in memory.
* The folder is ``0700`` and every file ``0600``: the bearer token and the
  bonds are as good as the driver's login and PIN.
* The file is replaced, never edited (temporary file, fsync, rename), under
  an ``flock`` on ``DIR/lock``, so a killed app leaves the old or the new
  state and two app processes on one home never lose each other's bonds.
* Logging out forgets the login but keeps the bonds: they belong to this
  phone and the cable, not to the cloud session.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from cablepin.app.errors import HomeError

__all__ = ["HOME_ENV", "AppState", "Home", "default_home"]

HOME_ENV: Final = "CABLEPIN_HOME"
STATE_FILE: Final = "state.json"
LOCK_FILE: Final = "lock"
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
VERSION: Final = 1


@dataclass(frozen=True)
class AppState:
    server: str | None = None
    token: str | None = None
    email: str | None = None
    role: str | None = None
    factory_ca_pem: str | None = None
    lang: str | None = None
    radio: str | None = None  # where this installation hears cables (a demo's own radio)
    bonds: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def logged_in(self) -> bool:
        return bool(self.server and self.token)

    def with_bond(self, serial: str, token: bytes) -> AppState:
        return replace(self, bonds={**self.bonds, serial: token})

    def without_bond(self, serial: str) -> AppState:
        return replace(self, bonds={k: v for k, v in self.bonds.items() if k != serial})

    def logged_out(self) -> AppState:
        return replace(self, token=None, email=None, role=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "server": self.server,
            "token": self.token,
            "email": self.email,
            "role": self.role,
            "factory_ca_pem": self.factory_ca_pem,
            "lang": self.lang,
            "radio": self.radio,
            "bonds": {
                s: base64.b64encode(b).decode("ascii") for s, b in sorted(self.bonds.items())
            },
        }

    @classmethod
    def from_json(cls, value: Any) -> AppState:
        if not isinstance(value, dict) or value.get("v") != VERSION:
            raise HomeError("the app's state file has an unknown format")

        def text(name: str) -> str | None:
            item = value.get(name)
            if item is not None and not isinstance(item, str):
                raise HomeError(f"the app's state file has a bad {name!r}")
            return item

        raw_bonds = value.get("bonds", {})
        if not isinstance(raw_bonds, dict):
            raise HomeError("the app's state file has bad bonds")
        try:
            bonds = {str(s): base64.b64decode(b, validate=True) for s, b in raw_bonds.items()}
        except (ValueError, TypeError) as e:
            raise HomeError("the app's state file has bad bonds") from e
        return cls(
            server=text("server"),
            token=text("token"),
            email=text("email"),
            role=text("role"),
            factory_ca_pem=text("factory_ca_pem"),
            lang=text("lang"),
            radio=text("radio"),
            bonds=bonds,
        )


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    configured = env.get(HOME_ENV)
    return Path(configured) if configured else Path.home() / ".cablepin"


class Home:
    """One installation's state folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    def _ensure_dir(self) -> None:
        self.path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.path, DIR_MODE)  # mkdir's mode is masked by the umask; be explicit

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure_dir()
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> AppState:
        try:
            raw = self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return AppState()
        except OSError as e:
            raise HomeError(f"cannot read the app's state in {self.path}: {e.strerror}") from e
        try:
            return AppState.from_json(json.loads(raw))
        except json.JSONDecodeError as e:
            raise HomeError(
                f"the app's state file {self.state_file} is damaged; delete it and log in again"
            ) from e

    def _write(self, state: AppState) -> None:
        data = json.dumps(state.to_json(), indent=2, sort_keys=True).encode("utf-8")
        temp = self.path / (STATE_FILE + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temp, FILE_MODE)
        os.replace(temp, self.state_file)
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def load(self) -> AppState:
        with self._locked():
            return self._read()

    def update(self, change: Callable[[AppState], AppState]) -> AppState:
        """Read, change and write the state as one step (other app processes wait)."""
        with self._locked():
            new = change(self._read())
            self._write(new)
            return new

    def save_bond(self, serial: str, token: bytes) -> None:
        self.update(lambda s: s.with_bond(serial, token))

    def drop_bond(self, serial: str) -> None:
        self.update(lambda s: s.without_bond(serial))

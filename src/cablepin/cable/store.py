"""The cable's flash: one state blob, replaced atomically, behind a lock.

Rules kept here:

* The state is one file (``state.cbor``). It is replaced, never edited:
  write a temporary file, fsync it, rename it over the old one, fsync the
  directory. A power cut at any point leaves the old or the new state,
  never a mix, and a write reported as done survives a power cut.
* ``atomic_replace`` is that algorithm, written once over four primitive
  operations (``FlashPrimitives``). ``DirectoryFlash`` runs it on a real
  directory; ``SimulatedFlash`` runs the very same steps in memory, models
  which of them are durable yet, and can lose power after the k-th one, so
  tests can cut the power at every step.
* ``lock()`` serialises whole operations (load, decide, save) across
  threads and processes (``fcntl.flock`` on ``DIR/lock``), so ``cable
  charge`` can record a session while ``cable run`` serves an app.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "STATE_FILE",
    "DirectoryFlash",
    "Flash",
    "FlashPrimitives",
    "PowerLost",
    "SimulatedFlash",
    "atomic_replace",
    "write_file_atomically",
]

STATE_FILE = "state.cbor"
_TEMP_SUFFIX = ".tmp"
LOCK_FILE = "lock"


class FlashPrimitives(Protocol):
    """What a file system offers; ``atomic_replace`` needs nothing more."""

    def write_new(self, name: str, data: bytes) -> None: ...
    def fsync(self, name: str) -> None: ...
    def rename(self, src: str, dst: str) -> None: ...
    def fsync_dir(self) -> None: ...


class Flash(FlashPrimitives, Protocol):
    def read(self, name: str) -> bytes | None: ...
    def lock(self) -> contextlib.AbstractContextManager[None]: ...


def atomic_replace(flash: FlashPrimitives, name: str, data: bytes) -> None:
    """Replace ``name`` by ``data``: old or new after any power cut, new once this returns."""
    temp = name + _TEMP_SUFFIX
    flash.write_new(temp, data)
    flash.fsync(temp)  # the bytes are on flash before the name points at them
    flash.rename(temp, name)
    flash.fsync_dir()  # the rename itself is durable before we report success


class DirectoryFlash:
    """A real directory as the cable's flash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = threading.Lock()

    def read(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def write_new(self, name: str, data: bytes) -> None:
        # 0600: the state holds the keyed PIN hash and bond hashes
        fd = os.open(self.path / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def fsync(self, name: str) -> None:
        fd = os.open(self.path / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def rename(self, src: str, dst: str) -> None:
        os.replace(self.path / src, self.path / dst)

    def fsync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        # flock excludes other processes; the thread lock keeps this process's
        # connection threads from queueing on the same file lock.
        with self._threads, open(self.path / LOCK_FILE, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def write_file_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write a whole file (keys, certificates) so that it is complete or absent."""
    temp = path.with_name(path.name + _TEMP_SUFFIX)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class PowerLost(BaseException):
    """Raised by ``SimulatedFlash`` when the power is cut.

    A ``BaseException``: no ``except Exception`` in the firmware may survive a power cut.
    """


@dataclass
class _Inode:
    data: bytes
    synced: bool = False


@dataclass
class SimulatedFlash:
    """An in-memory flash with the durability rules of a journaling file system.

    A file's bytes are durable only after ``fsync``; a rename only after
    ``fsync_dir``. Bytes written but not synced are torn by a power cut (half
    of them survive, the worst case for a reader). ``fail_after=k`` lets the
    first ``k`` primitive writes happen and cuts the power instead of the
    next one; ``reboot()`` returns what a restarted cable would find.
    """

    fail_after: int | None = None
    writes: int = 0
    _dir: dict[str, _Inode] = field(default_factory=dict)
    _durable_dir: dict[str, _Inode] = field(default_factory=dict)

    def _step(self) -> None:
        if self.fail_after is not None and self.writes >= self.fail_after:
            raise PowerLost(f"power cut after {self.writes} flash write(s)")
        self.writes += 1

    def read(self, name: str) -> bytes | None:
        inode = self._dir.get(name)
        return None if inode is None else inode.data

    def write_new(self, name: str, data: bytes) -> None:
        self._step()
        self._dir[name] = _Inode(bytes(data))

    def fsync(self, name: str) -> None:
        self._step()
        self._dir[name].synced = True

    def rename(self, src: str, dst: str) -> None:
        self._step()
        self._dir[dst] = self._dir.pop(src)

    def fsync_dir(self) -> None:
        self._step()
        self._durable_dir = dict(self._dir)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        yield

    def reboot(self, *, fail_after: int | None = None) -> SimulatedFlash:
        """The flash as found after the power comes back (and a new cut-off, if any)."""
        survived = {
            name: _Inode(inode.data if inode.synced else inode.data[: len(inode.data) // 2], True)
            for name, inode in self._durable_dir.items()
        }
        return SimulatedFlash(fail_after=fail_after, _dir=survived, _durable_dir=dict(survived))

"""The cable's flash: a small state file replaced atomically, an append-only log, a lock.

Rules kept here:

* The small state (``state.cbor``) is replaced, never edited: write a
  temporary file, fsync it, rename it over the old one, fsync the
  directory. A power cut at any point leaves the old or the new state,
  never a mix, and a write reported as done survives a power cut.
* ``atomic_replace`` is that algorithm, written once over the primitive
  operations (``FlashPrimitives``). ``DirectoryFlash`` runs it on a real
  directory; ``SimulatedFlash`` runs the very same steps in memory, models
  which of them are durable yet, and can lose power after the k-th one, so
  tests can cut the power at every step.
* The session log (``sessions.log``) is written only at its end:
  ``write_from(name, offset, data)`` keeps the first ``offset`` bytes and
  puts ``data`` after them (dropping whatever lay beyond), and
  ``read_at``/``size`` read a slice without reading the whole file. Which
  bytes of the log count is said by the state file (``state.py``), so a
  torn tail is never taken for a record.
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
    "LOG_FILE",
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
LOG_FILE = "sessions.log"
_TEMP_SUFFIX = ".tmp"
LOCK_FILE = "lock"


class FlashPrimitives(Protocol):
    """What a file system offers to change files; ``atomic_replace`` needs the first four."""

    def write_new(self, name: str, data: bytes) -> None: ...
    def write_from(self, name: str, offset: int, data: bytes) -> None: ...
    def fsync(self, name: str) -> None: ...
    def rename(self, src: str, dst: str) -> None: ...
    def fsync_dir(self) -> None: ...


class Flash(FlashPrimitives, Protocol):
    def read(self, name: str) -> bytes | None: ...
    def read_at(self, name: str, offset: int, length: int) -> bytes: ...
    def size(self, name: str) -> int: ...
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

    def read_at(self, name: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (fewer at the end; none if missing)."""
        try:
            fd = os.open(self.path / name, os.O_RDONLY)
        except FileNotFoundError:
            return b""
        try:
            chunks: list[bytes] = []
            while length > 0:
                chunk = os.pread(fd, length, offset)
                if not chunk:
                    break
                chunks.append(chunk)
                offset, length = offset + len(chunk), length - len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def size(self, name: str) -> int:
        try:
            return (self.path / name).stat().st_size
        except FileNotFoundError:
            return 0

    def write_new(self, name: str, data: bytes) -> None:
        # 0600: the state holds the keyed PIN hash and bond hashes
        fd = os.open(self.path / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def write_from(self, name: str, offset: int, data: bytes) -> None:
        # 0600 like the state; a new file's name is made durable by the next fsync_dir
        fd = os.open(self.path / name, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, offset)
            view = memoryview(data)
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
        finally:
            os.close(fd)

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
    """A file's bytes now, as of its last fsync, and where they first differ."""

    data: bytes
    durable: bytes = b""
    dirty_from: int = 0

    def survivor(self) -> bytes:
        """What a power cut leaves: the synced bytes, half of the newer ones written over them."""
        if self.dirty_from >= len(self.data) and len(self.data) == len(self.durable):
            return self.data
        cut = self.dirty_from + (len(self.data) - self.dirty_from) // 2
        return self.data[:cut] + self.durable[cut:]


@dataclass
class SimulatedFlash:
    """An in-memory flash with the durability rules of a journaling file system.

    A file's bytes are durable only after ``fsync``; a rename, or a new
    file's name, only after ``fsync_dir``. Bytes written but not synced are
    torn by a power cut (half of them survive, over whatever the synced file
    held there: the worst case for a reader). ``fail_after=k`` lets the
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

    def read_at(self, name: str, offset: int, length: int) -> bytes:
        inode = self._dir.get(name)
        return b"" if inode is None else inode.data[offset : offset + length]

    def size(self, name: str) -> int:
        inode = self._dir.get(name)
        return 0 if inode is None else len(inode.data)

    def write_new(self, name: str, data: bytes) -> None:
        self._step()
        self._dir[name] = _Inode(bytes(data))

    def write_from(self, name: str, offset: int, data: bytes) -> None:
        self._step()
        inode = self._dir.setdefault(name, _Inode(b""))
        if offset > len(inode.data):
            raise ValueError(f"{name} holds {len(inode.data)} bytes; cannot write at {offset}")
        inode.data = inode.data[:offset] + bytes(data)
        inode.dirty_from = min(inode.dirty_from, offset)

    def fsync(self, name: str) -> None:
        self._step()
        inode = self._dir[name]
        inode.durable, inode.dirty_from = inode.data, len(inode.data)

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
        survived = {}
        for name, inode in self._durable_dir.items():
            data = inode.survivor()
            survived[name] = _Inode(data, data, len(data))
        return SimulatedFlash(fail_after=fail_after, _dir=survived, _durable_dir=dict(survived))

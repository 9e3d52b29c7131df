"""A command in a pseudo-terminal, as a driver runs it: what it prints, what is typed.

``pty.fork`` gives the child a controlling terminal, so ``getpass`` reads from
it (and hides what is typed) and Rich sees a terminal on stderr, exactly as in
a shell window. Everything the terminal shows is kept in ``screen`` (raw,
with the escape sequences of a progress bar if one is drawn).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence

__all__ = ["Terminal"]

ROWS, COLUMNS = 24, 100


class Terminal:
    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once, nothing else
            try:
                os.execve(argv[0], list(argv), dict(env))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.screen = ""
        self.seen = 0  # how far ``expect`` has matched
        self.returncode: int | None = None

    def _read(self, timeout: float) -> bool:
        """Read what the terminal shows within ``timeout``; False once the child closed it."""
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the child's side is closed
            return False
        if not data:
            return False
        self.screen += data.decode("utf-8", errors="replace")
        return True

    def expect(self, text: str, timeout: float = 60.0) -> str:
        """Wait until ``text`` shows after the last match; return what showed up to its end."""
        deadline = time.monotonic() + timeout
        while text not in self.screen[self.seen :]:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{text!r} did not show; the terminal shows:\n{self.screen}")
        start = self.seen
        self.seen = self.screen.index(text, start) + len(text)
        return self.screen[start : self.seen]

    def shown_within(self, seconds: float) -> str:
        """Everything new the terminal shows in the next ``seconds`` (while nothing is typed)."""
        before = len(self.screen)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._read(deadline - time.monotonic()):
            pass
        return self.screen[before:]

    def type(self, line: str) -> None:
        os.write(self.fd, (line + "\r").encode())

    def wait(self, timeout: float = 60.0) -> int:
        """Read to the end and return the exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(deadline - time.monotonic()):
            pass
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if done == 0:
            os.kill(self.pid, signal.SIGKILL)  # it hangs; the caller shows what it showed
            _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

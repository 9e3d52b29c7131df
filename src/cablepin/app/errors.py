"""Refusals in the driver's app. Each one says what to do next (U2).

::

    AppError                 code = "app_error"
    ├── CableRefused         the cable's own code (wrong_pin, locked, ...), copied from its answer
    └── LinkError            "link_failed"   the cable cannot be reached or stopped answering

``CableRefused`` keeps the cable's wire code as the error's ``code``, so the
CLI and the app show exactly what the cable said (with ``wait_s``,
``attempts_before_wait`` or ``reason`` when the cable gave them).
"""

from __future__ import annotations

from typing import Any, ClassVar

from cablepin.errors import CablepinError

__all__ = ["AppError", "CableRefused", "LinkError"]


class AppError(CablepinError):
    code = "app_error"


class CableRefused(AppError):
    """The cable answered a request with an error response."""

    code = "cable_refused"
    _by_code: ClassVar[dict[str, type[CableRefused]]] = {}

    @classmethod
    def from_response(cls, fields: dict[str, Any]) -> CableRefused:
        """Build the refusal from an error response's fields (error, message, details)."""
        code = str(fields.get("error", cls.code))
        details = {k: v for k, v in fields.items() if k not in ("error", "message")}
        return cls.kind(code)(str(fields.get("message", "the cable refused")), **details)

    @classmethod
    def kind(cls, code: str) -> type[CableRefused]:
        """One subclass per wire code, so ``error.code`` is the cable's code."""
        if code not in cls._by_code:
            name = "CableRefused_" + "".join(c if c.isalnum() else "_" for c in code)
            cls._by_code[code] = type(name, (CableRefused,), {"code": code})
        return cls._by_code[code]


class LinkError(AppError):
    code = "link_failed"

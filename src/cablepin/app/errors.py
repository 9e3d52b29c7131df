"""Refusals in the driver's app. Each one says what to do next (U2).

::

    AppError                 code = "app_error"
    ├── CableRefused         the cable's own code (wrong_pin, locked, ...), copied from its answer
    ├── LinkError            "link_failed"   the cable cannot be reached or stopped answering
    ├── CloudRefused         the cloud's own code (not_assigned, wipe_pending, ...), from its answer
    ├── CloudUnreachable     "cloud_unreachable"  no answer from the cloud; try again later
    ├── NotLoggedIn          "unauthorized"  no login in this app's home; log in first
    ├── WrongLogin           "wrong_login"   the cloud refused this e-mail and password
    ├── InvalidSerial        "invalid_serial"  what was typed is not a cable serial
    ├── PinNeeded            "pin_required"  a PIN is needed and nobody can be asked (purpose)
    ├── InvalidPinEntry      "invalid_pin"   what was typed is not four digits (costs no attempt)
    ├── WeakPinEntry         "weak_pin"      the new PIN is too easy to guess (nothing was sent)
    ├── NotAssignedToYou     "not_assigned"  the cloud will not take this cable's sessions from you
    ├── CableNotFound        "cable_not_found"  no cable with this serial is in range
    ├── HomeError            "home_error"    the app's local state folder is unreadable
    └── DocumentUnreadable   "document_unreadable"  the tariff's proof file cannot be read

``CableRefused`` keeps the cable's wire code as the error's ``code``, so the
CLI and the app show exactly what the cable said (with ``wait_s``,
``attempts_before_wait`` or ``reason`` when the cable gave them).
"""

from __future__ import annotations

from typing import Any, ClassVar

from cablepin.errors import CablepinError

__all__ = [
    "AppError",
    "CableNotFound",
    "CableRefused",
    "CloudRefused",
    "CloudUnreachable",
    "DocumentUnreadable",
    "HomeError",
    "InvalidPinEntry",
    "InvalidSerial",
    "LinkError",
    "NotAssignedToYou",
    "NotLoggedIn",
    "PinNeeded",
    "WeakPinEntry",
    "WrongLogin",
]


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


class CloudRefused(AppError):
    """The cloud answered with an error body; ``code`` is the cloud's code."""

    code = "cloud_refused"
    _by_code: ClassVar[dict[str, type[CloudRefused]]] = {}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> CloudRefused:
        code = str(body.get("error", cls.code))
        details = {k: v for k, v in body.items() if k not in ("error", "message")}
        return cls.kind(code)(str(body.get("message", "the cloud refused")), **details)

    @classmethod
    def kind(cls, code: str) -> type[CloudRefused]:
        if code not in cls._by_code:
            name = "CloudRefused_" + "".join(c if c.isalnum() else "_" for c in code)
            cls._by_code[code] = type(name, (CloudRefused,), {"code": code})
        return cls._by_code[code]


class CloudUnreachable(AppError):
    code = "cloud_unreachable"


class NotLoggedIn(AppError):
    code = "unauthorized"


class WrongLogin(AppError):
    code = "wrong_login"


class InvalidSerial(AppError):
    code = "invalid_serial"


class PinNeeded(AppError):
    code = "pin_required"


class InvalidPinEntry(AppError):
    code = "invalid_pin"


class WeakPinEntry(AppError):
    code = "weak_pin"


class NotAssignedToYou(AppError):
    code = "not_assigned"


class CableNotFound(AppError):
    code = "cable_not_found"


class HomeError(AppError):
    code = "home_error"


class DocumentUnreadable(AppError):
    code = "document_unreadable"

"""The one shape every user-facing error takes, whatever package raises it.

Each package roots its own small error tree in ``CablepinError`` (see the
package's ``errors.py``). A subclass names its wire/CLI code as a class
attribute; the message always says what happened *and what to do next*.
Errors are translated only at boundaries (CLI, HTTP, the cable link)::

    CablepinError                 code = "error"
    ├── protocol.ProtocolError    malformed bytes, bad signature, ...
    ├── cable.CableError          refusals by the firmware (wrong_pin, locked, ...)
    ├── app.AppError              refusals in the driver's app
    └── cloud.CloudError          refusals by the cloud service
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["CablepinError"]


class CablepinError(Exception):
    code: ClassVar[str] = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by the CLI (``--json``) and the HTTP API."""
        return {"error": self.code, "message": self.message, **self.details}

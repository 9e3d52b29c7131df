"""Errors of the wire protocol. Any malformed input raises only these.

::

    ProtocolError            code = "protocol_error"
    ├── FrameError           "bad_frame"      length prefix or CBOR is malformed or too big
    ├── MessageError         "bad_message"    a well-formed map with wrong fields or types
    ├── SignatureError       "bad_signature"  a signature does not verify
    ├── CommandRejected      "command_rejected"  genuine, but not for this cable/connection/time
    ├── ChainError           "chain_broken"   session records do not continue the verified chain
    ├── CertificateError     "bad_certificate"   not a genuine cable (chain or serial)
    └── TLSError             "tls_failed"     the TLS layer failed (handshake or record)
"""

from __future__ import annotations

from cablepin.errors import CablepinError

__all__ = [
    "CertificateError",
    "ChainError",
    "CommandRejected",
    "FrameError",
    "MessageError",
    "ProtocolError",
    "SignatureError",
    "TLSError",
]


class ProtocolError(CablepinError):
    code = "protocol_error"


class FrameError(ProtocolError):
    code = "bad_frame"


class MessageError(ProtocolError):
    code = "bad_message"


class SignatureError(ProtocolError):
    code = "bad_signature"


class CommandRejected(ProtocolError):
    code = "command_rejected"


class ChainError(ProtocolError):
    code = "chain_broken"


class CertificateError(ProtocolError):
    code = "bad_certificate"


class TLSError(ProtocolError):
    code = "tls_failed"

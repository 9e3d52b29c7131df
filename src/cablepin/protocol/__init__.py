"""The app<->cable protocol v1, sans-I/O (see DESIGN.md, "App <-> cable protocol").

Bytes in, events and bytes out: this package opens no socket, reads no clock
and imports nothing from ``cable``, ``app`` or ``cloud``. The only thing the
three parts share is what is defined here.
"""

from cablepin.protocol.batch import pack_records, unpack_records
from cablepin.protocol.chain import Head, Record, genesis, link, sign_head, verify_batch
from cablepin.protocol.commands import (
    Command,
    CommandKind,
    Receipt,
    check_binding,
    open_command,
    open_receipt,
    sign_command,
    sign_receipt,
)
from cablepin.protocol.connection import AppConnection, CableConnection
from cablepin.protocol.errors import (
    CertificateError,
    ChainError,
    CommandRejected,
    FrameError,
    MessageError,
    ProtocolError,
    SignatureError,
    TLSError,
)
from cablepin.protocol.events import (
    ConnectionClosed,
    Event,
    HandshakeComplete,
    RequestReceived,
    ResponseReceived,
)
from cablepin.protocol.hello import Hello, sign_hello, verify_hello
from cablepin.protocol.messages import MAX_READ_LIMIT, NONCE_SIZE, Request, Response
from cablepin.protocol.tls import app_tls_context, cable_tls_context

__all__ = [
    "MAX_READ_LIMIT",
    "NONCE_SIZE",
    "AppConnection",
    "CableConnection",
    "CertificateError",
    "ChainError",
    "Command",
    "CommandKind",
    "CommandRejected",
    "ConnectionClosed",
    "Event",
    "FrameError",
    "HandshakeComplete",
    "Head",
    "Hello",
    "MessageError",
    "ProtocolError",
    "Receipt",
    "Record",
    "Request",
    "RequestReceived",
    "Response",
    "ResponseReceived",
    "SignatureError",
    "TLSError",
    "app_tls_context",
    "cable_tls_context",
    "check_binding",
    "genesis",
    "link",
    "open_command",
    "open_receipt",
    "pack_records",
    "sign_command",
    "sign_head",
    "sign_hello",
    "sign_receipt",
    "unpack_records",
    "verify_batch",
    "verify_hello",
]

"""Request and response shapes of the JSON API (separate from the table models).

Services return these, so the API and the portal render the same facts.
Bytes travel as standard base64 strings and are ``Base64Bytes`` here: a
request that is not strict base64 is refused at the door, and services see
only ``bytes``. No field holds a PIN (P7).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    WithJsonSchema,
)

__all__ = [
    "EMAIL_PATTERN",
    "AssignmentOut",
    "AssignmentRequest",
    "AuditEventOut",
    "AuditList",
    "Base64Bytes",
    "CableDetail",
    "CableList",
    "CableSummary",
    "CommandOut",
    "ConnectRequest",
    "ConnectResponse",
    "ErasureOut",
    "ErrorOut",
    "FactoryCaOut",
    "HandoverOut",
    "HandoverRequest",
    "HeadIn",
    "LoginRequest",
    "LoginResponse",
    "LogoutResponse",
    "PinResetOut",
    "PinResetRequest",
    "ReceiptRequest",
    "ReceiptResponse",
    "ResetRequest",
    "SessionList",
    "SessionOut",
    "SessionsUpload",
    "SignedCommandOut",
    "Synced",
    "UploadResponse",
    "UserOut",
]

MAX_INT = 2**62  # far beyond any epoch or seq, and inside PostgreSQL's BIGINT
MAX_BATCH = 500


# Standard base64 with its padding, nothing else (RFC 4648 section 4); the published
# schema states the same pattern and bound, so the contract and the door agree.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
MAX_BASE64 = 4096  # characters: 3 KiB, more than any signed blob of the protocol
_BASE64 = re.compile(BASE64_PATTERN)


def _from_base64(value: object) -> bytes:
    if isinstance(value, bytes):  # built in Python (a service's answer): already bytes
        return value
    if not isinstance(value, str) or len(value) > MAX_BASE64 or not _BASE64.match(value):
        raise ValueError(
            f"must be standard base64 (A-Z a-z 0-9 + /, padded with =, at most {MAX_BASE64} "
            "characters); send the bytes exactly as the cable gave them"
        )
    return base64.b64decode(value, validate=True)


def _to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# Bytes on the JSON wire: strict standard base64 in, standard base64 out.
Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(_to_base64, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "byte",
            "contentEncoding": "base64",
            "pattern": BASE64_PATTERN,
            "maxLength": MAX_BASE64,
        }
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str
    message: str


class UserOut(BaseModel):
    email: str
    name: str
    role: str
    org: str | None
    locale: str


#: What sign-in takes for an e-mail address (services/signin.py uses the same shape):
#: plain something@domain.tld, no spaces, quotes or colons.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]{0,253}\.[A-Za-z]{2,63}$"
)


class LoginRequest(Strict):
    email: str = Field(
        min_length=3,
        max_length=320,
        pattern=EMAIL_PATTERN,
        description="the account's e-mail address; anything else is refused (422) before "
        "it is counted or logged",
    )
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    token: str
    expires_at: dt.datetime
    user: UserOut
    factory_ca_pem: str


class LogoutResponse(BaseModel):
    revoked: bool


class FactoryCaOut(BaseModel):
    factory_ca_pem: str


class CommandOut(BaseModel):
    id: str
    kind: str
    purpose: str
    state: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    done_at: dt.datetime | None  # when the cable's receipt arrived
    driver_email: str | None
    reason: str | None


class PinResetOut(BaseModel):
    command_id: str
    serial: str
    driver_email: str | None
    state: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    # A signed copy already with an app stays usable until then, revoked or not (None: none).
    with_app_until: dt.datetime | None = None


class HandoverOut(BaseModel):
    command_id: str
    serial: str
    purpose: str  # handover | reset
    state: str
    from_driver_email: str | None
    to_driver_email: str | None  # None: back to the pool
    created_at: dt.datetime
    done_at: dt.datetime | None
    last_sync_at: dt.datetime | None  # unsynced sessions since then are lost by the wipe


class CableSummary(BaseModel):
    serial: str
    org: str
    driver_email: str | None
    epoch: int
    synced_seq: int
    pin_default: bool | None  # as last reported by an app; None: never connected
    fw: str | None
    last_seen_at: dt.datetime | None
    last_sync_at: dt.datetime | None
    pin_reset_pending: bool
    handover_pending: bool


class CableList(BaseModel):
    items: list[CableSummary]
    next_after: str | None  # pass as ?after= for the next page


class CableDetail(CableSummary):
    pending_pin_reset: PinResetOut | None
    # A PIN permission no longer pending (revoked, voided, expired) whose copy an app holds.
    permission_with_app: PinResetOut | None = None
    pending_handover: HandoverOut | None
    commands: list[CommandOut]


class AssignmentRequest(Strict):
    driver_email: str = Field(min_length=3, max_length=320)


class AssignmentOut(BaseModel):
    serial: str
    driver_email: str
    epoch: int


class PinResetRequest(Strict):
    expires_in_days: int | None = Field(default=None, ge=1, le=30)
    reason: str | None = Field(default=None, max_length=1000)


class HandoverRequest(Strict):
    driver_email: str | None = Field(max_length=320)
    reason: str | None = Field(default=None, max_length=1000)


class ResetRequest(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class AuditEventOut(BaseModel):
    seq: int
    at: dt.datetime
    actor_email: str | None
    actor_role: str | None
    org_id: int | None
    action: str
    target: str | None
    reason: str | None
    details: dict[str, Any]


class ErasureOut(BaseModel):
    """What erasing a driver did (D2)."""

    erased: bool
    cables_handed_over: list[str]  # each waits for its wipe at the next connection
    tariffs_deleted: int
    receipts_deleted: int  # rejected ones: no record of a payment
    receipts_kept: int  # for the statutory period, then the retention job deletes them
    sessions_deleted: int
    sessions_kept: int  # those the kept receipts' evidence needs
    kept_until: str | None  # when the last kept receipt may go (UTC)
    cleared_columns: list[str]  # the user row's columns that were emptied


class AuditList(BaseModel):
    items: list[AuditEventOut]
    # Pass as ?before_seq= for the next (older) page; null on the last page.
    next_before_seq: int | None


class SessionOut(BaseModel):
    serial: str
    epoch: int
    seq: int
    driver_email: str
    start: int
    end: int
    wh: int
    meter_start_wh: int
    meter_end_wh: int
    max_w: int
    received_at: dt.datetime


class SessionList(BaseModel):
    items: list[SessionOut]
    # Pass as ?cursor= for the next (older) page; null on the last page.
    next_cursor: str | None


class HeadIn(Strict):
    seq: int = Field(ge=0, le=MAX_INT)
    hash: Base64Bytes


class ConnectRequest(Strict):
    nonce: Base64Bytes
    epoch: int = Field(ge=0, le=MAX_INT)
    head: HeadIn
    pin_default: bool
    wait_s: int = Field(default=0, ge=0, le=MAX_INT)
    fw: str = Field(default="", max_length=64)
    locked: bool
    # The cable's signature over the hello fields (protocol/hello.py).
    sig: Base64Bytes
    # The challenge from GET .../challenge that the app passed to the cable's hello.
    challenge: Base64Bytes
    receipt: Base64Bytes | None = None


class SignedCommandOut(BaseModel):
    id: str
    kind: str
    blob: Base64Bytes
    # why the cloud asks for it (a wipe: handover | reset | clean_start), so the app can say
    purpose: str | None = None


class Synced(BaseModel):
    epoch: int
    seq: int


class ChallengeOut(BaseModel):
    challenge: Base64Bytes
    valid_for_s: int
    # True: nothing for this app to relay or settle, it may read the cable in its
    # first exchange and report the hello afterwards (domain/clean_start.py, B1).
    nothing_pending: bool = False
    synced: Synced


class ConnectResponse(BaseModel):
    serial: str
    assigned: bool
    commands: list[SignedCommandOut]
    synced: Synced


class ReceiptRequest(Strict):
    receipt: Base64Bytes


class ReleaseRequest(Strict):
    command_id: str = Field(max_length=36)


class ReleaseResponse(BaseModel):
    command_id: str
    state: str


class ReceiptResponse(BaseModel):
    command_id: str
    kind: str
    state: str
    epoch: int


def _integral_float(value: Any) -> Any:
    # JSON has one number type: 7.0 is an "integer" to JSON Schema, so it is one here too;
    # strings, booleans and 7.5 still fail StrictInt.
    return int(value) if isinstance(value, float) and value.is_integer() else value


RecordInt = Annotated[StrictInt, Field(ge=0, le=MAX_INT), BeforeValidator(_integral_float)]
Record7 = Annotated[list[RecordInt], Field(min_length=7, max_length=7)]


class SessionsUpload(Strict):
    epoch: int = Field(ge=0, le=MAX_INT)
    # [seq, start, end, wh, meter_start_wh, meter_end_wh, max_w]: exactly seven integers.
    records: list[Record7] = Field(min_length=1, max_length=MAX_BATCH)
    head_sig: Base64Bytes


class UploadResponse(BaseModel):
    accepted: int
    duplicates: int
    synced: Synced

"""Request and response shapes of the JSON API (separate from the table models).

Services return these, so the API and the portal render the same facts.
Bytes travel as standard base64 strings. No field holds a PIN (P7).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

__all__ = [
    "EMAIL_PATTERN",
    "AssignmentOut",
    "AssignmentRequest",
    "AuditEventOut",
    "AuditList",
    "CableDetail",
    "CableList",
    "CableSummary",
    "CommandOut",
    "ConnectRequest",
    "ConnectResponse",
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


class AuditList(BaseModel):
    items: list[AuditEventOut]


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


class HeadIn(Strict):
    seq: int = Field(ge=0, le=MAX_INT)
    hash: str = Field(max_length=100)


class ConnectRequest(Strict):
    nonce: str = Field(max_length=100)
    epoch: int = Field(ge=0, le=MAX_INT)
    head: HeadIn
    pin_default: bool
    wait_s: int = Field(default=0, ge=0, le=MAX_INT)
    fw: str = Field(default="", max_length=64)
    locked: bool
    # The cable's signature over the hello fields (protocol/hello.py), base64.
    sig: str = Field(max_length=100)
    # The challenge from GET .../challenge that the app passed to the cable's hello, base64.
    challenge: str = Field(max_length=100)
    receipt: str | None = Field(default=None, max_length=4096)


class ChallengeOut(BaseModel):
    challenge: str
    valid_for_s: int


class SignedCommandOut(BaseModel):
    id: str
    kind: str
    blob: str
    # why the cloud asks for it (a wipe: handover | reset | clean_start), so the app can say
    purpose: str | None = None


class Synced(BaseModel):
    epoch: int
    seq: int


class ConnectResponse(BaseModel):
    serial: str
    assigned: bool
    commands: list[SignedCommandOut]
    synced: Synced


class ReceiptRequest(Strict):
    receipt: str = Field(max_length=4096)


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
    head_sig: str = Field(max_length=200)


class UploadResponse(BaseModel):
    accepted: int
    duplicates: int
    synced: Synced

"""SQLAlchemy 2 table models. The schema is created only by the migrations.

No table has a column that holds a PIN or anything derived from one (P7);
``cables.pin_default`` is the boolean the app last reported.
Times are stored in UTC and always come back timezone-aware.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from cablepin.cloud.domain.commands import OPEN, Purpose, State
from cablepin.cloud.domain.outbox import MailKind, MailState
from cablepin.protocol.commands import CommandKind

__all__ = [
    "RECOUNT",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "AuditHead",
    "AuditPerson",
    "Base",
    "BillingPolicy",
    "Cable",
    "CableCert",
    "ChainHead",
    "ChargingSession",
    "CommandRow",
    "DecimalText",
    "DriverAccount",
    "EnumText",
    "FlatPrice",
    "Invitation",
    "LoginThrottle",
    "OrgCableCounts",
    "Organisation",
    "OutboxMessage",
    "PaymentRun",
    "ReceiptLine",
    "ReceiptRow",
    "Tariff",
    "User",
    "UtcDateTime",
    "WebSession",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on both databases (SQLite keeps no zone, so store naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC time")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A ``StrEnum`` stored as its plain value in a VARCHAR (no database enum type to migrate).

    Code sees only members; a value the enum does not know fails loudly on read.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Support staff belong to no organisation (org_id NULL): they act across all of them.
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), default=True)
    locale: Mapped[str] = mapped_column(String(8), server_default="de", default="de")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # D2: set when a fleet manager erased the driver. The row stays as a tombstone
    # (id, organisation, role, times) so the receipts kept for the statutory period,
    # their sessions and the audit chain still point at one id that is never reused.
    erased_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_users_org_role_email", "org_id", "role", "email"),
        # The drivers list pages by (name, email) within an organisation (keyset).
        Index("ix_users_org_role_name_email", "org_id", "role", "name", "email"),
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex; never the token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A portal login (cookie); the portal package owns its use."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class Invitation(Base):
    """A one-time link that lets a new user choose a password (portal)."""

    __tablename__ = "invitations"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class LoginThrottle(Base):
    """Failed logins per e-mail address, shared by every API process."""

    __tablename__ = "login_throttle"
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Cable(Base):
    __tablename__ = "cables"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    registered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The certificate (about 530 bytes) lives in its own table so that the counts
    # and lists that read every cable of an organisation read slim rows (B4).
    cert: Mapped[CableCert] = relationship(lazy="select", cascade="all, delete-orphan")
    cert_pem: AssociationProxy[str] = association_proxy(
        "cert", "cert_pem", creator=lambda pem: CableCert(cert_pem=pem)
    )
    # The verified head of the session chain: (epoch, head_seq, head_hash).
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    head_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    head_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # As last reported by an app at connect (facts the cable told the app).
    pin_default: Mapped[bool | None] = mapped_column(Boolean)
    fw: Mapped[str | None] = mapped_column(String(64))
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_cables_org_serial", "org_id", "serial"),
        # "Not synced for 14 days" depends on the time: counted by two range scans (B4).
        Index("ix_cables_org_sync_registered", "org_id", "last_sync_at", "registered_at"),
        # A serial prefix search (LIKE 'CBL-0001%') uses this under any collation.
        Index(
            "ix_cables_serial_pattern",
            "serial",
            postgresql_ops={"serial": "varchar_pattern_ops"},
        ).ddl_if(dialect="postgresql"),
    )


class OrgCableCounts(Base):
    """Per organisation: its cables, those on PIN 0000, of unknown PIN, with a driver (B4).

    Kept only by database triggers (migration ``0006_fleet_counts``) in the
    transaction of every change to ``organisations``, ``cables`` and
    ``assignments``; no service writes it. ``RECOUNT`` computes the same from
    the rows (the migration, a bulk load that bypasses triggers, the drift test).
    """

    __tablename__ = "org_cable_counts"
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    cables: Mapped[int] = mapped_column(Integer)
    default_pin: Mapped[int] = mapped_column(Integer)
    pin_unknown: Mapped[int] = mapped_column(Integer)
    assigned: Mapped[int] = mapped_column(Integer)


# ``org_cable_counts`` from the rows (PostgreSQL and SQLite): a row for every organisation.
RECOUNT = (
    "INSERT INTO org_cable_counts (org_id, cables, default_pin, pin_unknown, assigned)"
    " SELECT o.id, 0, 0, 0, 0 FROM organisations AS o"
    " WHERE NOT EXISTS (SELECT 1 FROM org_cable_counts AS n WHERE n.org_id = o.id)",
    "UPDATE org_cable_counts SET"
    " cables = (SELECT count(*) FROM cables AS c WHERE c.org_id = org_cable_counts.org_id),"
    " default_pin = (SELECT count(*) FROM cables AS c"
    "  WHERE c.org_id = org_cable_counts.org_id AND c.pin_default),"
    " pin_unknown = (SELECT count(*) FROM cables AS c"
    "  WHERE c.org_id = org_cable_counts.org_id AND c.pin_default IS NULL),"
    " assigned = (SELECT count(*) FROM cables AS c JOIN assignments AS a ON a.cable_id = c.id"
    "  WHERE c.org_id = org_cable_counts.org_id AND a.ended_at IS NULL)",
)


class CableCert(Base):
    """A cable's device certificate (PEM), read when its signatures are checked."""

    __tablename__ = "cable_certs"
    cable_id: Mapped[int] = mapped_column(ForeignKey("cables.id"), primary_key=True)
    cert_pem: Mapped[str] = mapped_column(Text)


class Assignment(Base):
    """Who owns a cable's sessions in one epoch. ``ended_at`` NULL = the active one.

    ``clean_at`` NULL: the clean-start check (``domain/clean_start.py``) is open;
    the assignee cannot upload until a connect proves the cable clean or wipes it.
    """

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cable_id: Mapped[int] = mapped_column(ForeignKey("cables.id"))
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    clean_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_assignments_cable_epoch", "cable_id", "epoch"),
        # At most one active assignment per cable, enforced by the database.
        Index(
            "uq_assignments_active_cable",
            "cable_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )


_OPEN_SQL = "state IN ({})".format(", ".join(f"'{s.value}'" for s in State if s in OPEN))


class CommandRow(Base):
    """A command for a cable: a wipe (handover/reset) or a PIN-reset permission (P8).

    ``state`` moves only by the table in ``domain/commands.py``, through
    ``services/commands.py`` (leased to one connect until ``lease_until``).
    For ``allow_pin_set`` ``driver_id`` is the assignee it is bound to; for a
    wipe it is the driver who gets the cable in the new epoch (NULL: the pool)
    and ``previous_driver_id`` the one a cancelled handover gives it back to.
    """

    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cable_id: Mapped[int] = mapped_column(ForeignKey("cables.id"))
    kind: Mapped[CommandKind] = mapped_column(EnumText(CommandKind, 20))
    purpose: Mapped[Purpose] = mapped_column(EnumText(Purpose, 20))
    state: Mapped[State] = mapped_column(EnumText(State, 12))
    epoch: Mapped[int] = mapped_column(BigInteger)  # the cable epoch it was created in
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    previous_driver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    result_epoch: Mapped[int | None] = mapped_column(BigInteger)
    receipt: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_commands_cable_state", "cable_id", "state"),
        # At most one open command of each kind per cable (one wipe, one PIN permission).
        Index(
            "uq_commands_open_cable_kind",
            "cable_id",
            "kind",
            unique=True,
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
    )


class ChargingSession(Base):
    __tablename__ = "charging_sessions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    cable_id: Mapped[int] = mapped_column(ForeignKey("cables.id"))
    epoch: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    start_s: Mapped[int] = mapped_column(BigInteger)
    end_s: Mapped[int] = mapped_column(BigInteger)
    wh: Mapped[int] = mapped_column(BigInteger)
    meter_start_wh: Mapped[int] = mapped_column(BigInteger)
    meter_end_wh: Mapped[int] = mapped_column(BigInteger)
    max_w: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("cable_id", "epoch", "seq", name="uq_charging_sessions_cable_epoch_seq"),
        # Cursor paging of GET /sessions, newest first: all, by driver, by cable.
        Index("ix_charging_sessions_start_id", "start_s", "id"),
        Index("ix_charging_sessions_driver_start_id", "driver_id", "start_s", "id"),
        Index("ix_charging_sessions_cable_start_id", "cable_id", "start_s", "id"),
    )


class AuditEvent(Base):
    """One link of the append-only audit chain; ``hash`` covers ``prev_hash`` and the content.

    The content names people only by pseudonym (``actor_id``; ``user:ID`` in
    ``target`` and ``details``): their e-mail and name live in ``audit_people``,
    which erasure clears without touching a hashed byte (D2).
    """

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_role: Mapped[str | None] = mapped_column(String(20))
    org_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(320))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_events_org_seq", "org_id", "seq"),
        Index("ix_audit_events_org_action_seq", "org_id", "action", "seq"),
    )


class AuditPerson(Base):
    """Who a pseudonym in the audit chain is, for display; outside the hashed content (D2).

    No foreign key: erasure deletes the row, and the events keep only the id.
    """

    __tablename__ = "audit_people"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))


class AuditHead(Base):
    """The single row that serialises appends to the audit chain."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


# ---------------------------------------------------------------- reimbursement (M1-M6)


class DecimalText(TypeDecorator[Decimal]):
    """Exact decimals as their text on both databases (SQLite has no exact NUMERIC)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("money and prices are stored only as Decimal, never float")
        return format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class ChainHead(Base):
    """Every cable-signed head the cloud verified at upload (M6: proof for any session)."""

    __tablename__ = "chain_heads"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    cable_id: Mapped[int] = mapped_column(ForeignKey("cables.id"))
    epoch: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    sig: Mapped[bytes] = mapped_column(LargeBinary(64))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("cable_id", "epoch", "seq", name="uq_chain_heads_cable_epoch_seq"),
    )


class FlatPrice(Base):
    """The statistical flat price per calendar year (reference data; support changes it)."""

    __tablename__ = "flat_prices"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    price: Mapped[Decimal] = mapped_column(DecimalText)
    source: Mapped[str] = mapped_column(String(300))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class BillingPolicy(Base):
    """M1: an organisation's pricing method and deadline for one calendar year."""

    __tablename__ = "billing_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(10))  # contract | flat
    deadline_day: Mapped[int] = mapped_column(Integer)
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    wage_type: Mapped[str | None] = mapped_column(String(40))
    debtor_name: Mapped[str | None] = mapped_column(String(70))
    debtor_iban: Mapped[str | None] = mapped_column(String(34))
    debtor_bic: Mapped[str | None] = mapped_column(String(11))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (UniqueConstraint("org_id", "year", name="uq_billing_policies_org_year"),)


class Tariff(Base):
    """M2: a driver's contract price with its proof document (kept here, never on disk).

    ``price`` for a fixed tariff; ``monthly_prices`` (canonical JSON ``{"YYYY-MM":
    "0.31"}``) for a dynamic one. ``state``: pending -> verified | rejected.
    """

    __tablename__ = "tariffs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    price: Mapped[Decimal | None] = mapped_column(DecimalText)
    monthly_prices: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    # Up to 5 MB each: loaded only when the proof itself is asked for (a list of a
    # driver's or an organisation's tariffs must not read every document).
    document: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    document_type: Mapped[str] = mapped_column(String(40))
    document_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ReceiptRow(Base):
    """M3/M4: a driver's receipt for one month; its lines never change once submitted.

    ``state``: submitted -> approved | rejected. ``supplementary``: a later
    receipt for a month that already had one.
    """

    __tablename__ = "receipts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    driver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    state: Mapped[str] = mapped_column(String(10))
    method: Mapped[str] = mapped_column(String(10))
    total_wh: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(DecimalText)
    late: Mapped[bool] = mapped_column(Boolean)
    supplementary: Mapped[bool] = mapped_column(Boolean)
    # The prices its lines use, frozen with their source (canonical JSON list).
    prices: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    # M4: set once, by the payment run whose transfer file pays it (never cleared).
    paid_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    payment_run_id: Mapped[int | None] = mapped_column(ForeignKey("payment_runs.id"))

    __table_args__ = (Index("ix_receipts_org_month", "org_id", "month"),)


class ReceiptLine(Base):
    """One session on one receipt, priced. ``rejected`` mirrors the receipt's rejection
    so the database itself keeps a session on at most one live receipt."""

    __tablename__ = "receipt_lines"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("charging_sessions.id"))
    wh: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[Decimal] = mapped_column(DecimalText)
    price_ref: Mapped[str] = mapped_column(String(40))
    rejected: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_receipt_lines_session", "session_id"),
        # M3: a session is on at most one receipt that is not rejected.
        Index(
            "uq_receipt_lines_live_session",
            "session_id",
            unique=True,
            sqlite_where=text("NOT rejected"),
            postgresql_where=text("NOT rejected"),
        ),
    )


# ---------------------------------------------------------------- e-mail (M7)


class OutboxMessage(Base):
    """One e-mail to one recipient, written in the transaction that causes it.

    ``content`` is the whole message (MIME, without ``From``, which the sender
    adds from its settings) and is dropped once the server accepted it, so an
    invitation's link does not outlive its delivery in the database. ``state``
    moves only by ``domain/outbox.py``'s table, through ``services/outbox.py``;
    ``claim`` names the sender holding it until ``lease_until``.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[MailKind] = mapped_column(EnumText(MailKind, 30))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    recipient: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[MailState] = mapped_column(EnumText(MailState, 10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    claim: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        # What a sender looks for: due pending messages, oldest first.
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    )


# ---------------------------------------------------------------- money out (M4)


class DriverAccount(Base):
    """A driver's payroll and bank details: the personnel number (set by the fleet
    manager) and the IBAN (set by the driver), sealed at rest (``sealed.py``).

    ``iban_masked`` is what everyone but the driver sees; the IBAN itself is
    only in ``iban_sealed``, which opens with the deployment's bank key only.
    """

    __tablename__ = "driver_accounts"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id"), primary_key=True, autoincrement=False
    )
    personnel_number: Mapped[str | None] = mapped_column(String(20))
    iban_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    iban_masked: Mapped[str | None] = mapped_column(String(50))
    holder: Mapped[str | None] = mapped_column(String(70))
    bank_updated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    payroll_updated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class PaymentRun(Base):
    """One SEPA transfer file of a month: the receipts it pays point to it
    (``receipts.payment_run_id``), and the file itself is kept (sealed: it lists
    IBANs) so a download that never arrived can be fetched again, byte for byte."""

    __tablename__ = "payment_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    month: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    count: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(DecimalText)
    msg_id: Mapped[str] = mapped_column(String(35))
    document_sealed: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_payment_runs_org_month", "org_id", "month"),)

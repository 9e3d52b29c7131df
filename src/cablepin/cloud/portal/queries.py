"""Read-only queries behind the portal's pages (lists, filters, counts, charts).

Rules kept here:
- Every query is scoped by organisation (``org_id``); only the support
  console passes ``None`` to search across organisations.
- Nothing here changes a row: every action goes through ``services``.
- Lists page by key (``serial > after``, ``seq < before``), never by OFFSET,
  so page 2,000 of 100,000 cables costs what page 1 costs
  (``ix_cables_org_serial``, ``ix_audit_events_org_seq``).
- Counts over every cable of an organisation (overview, list captions) come
  from ``org_cable_counts``, which database triggers keep (``_counts``);
  what depends on the time ("not synced", live commands) is counted by index.
- A PIN permission whose time ran out is not "pending", even before a
  service has marked it expired: "pending" is the command lifecycle's
  ``live`` (``domain/commands.py``), in SQL ``services.commands.live_clause``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from cablepin.cloud.models import (
    Assignment,
    AuditEvent,
    AuditPerson,
    Cable,
    ChargingSession,
    CommandRow,
    Invitation,
    Organisation,
    OrgCableCounts,
    User,
)
from cablepin.cloud.services import audit as audit_log
from cablepin.cloud.services.commands import live_clause
from cablepin.protocol.commands import CommandKind

__all__ = [
    "STALE_DAYS",
    "AuditFilter",
    "AuditPage",
    "CableFilter",
    "CablePage",
    "CableRow",
    "DriverChoices",
    "DriverPage",
    "DriverRow",
    "MonthTotal",
    "Overview",
    "active_driver",
    "audit_page",
    "cable_history",
    "cable_page",
    "driver",
    "driver_cables",
    "driver_choices",
    "driver_cursor",
    "driver_sessions",
    "drivers",
    "find_any_cable",
    "looks_like_serial",
    "org_name",
    "overview",
    "sessions_by_month",
]

STALE_DAYS = 14
PAGE_SIZE = 50
AUDIT_PAGE = 100
SERIAL_LIKE = re.compile(r"^(CBL-?)?\d{1,8}$|^CBL-?$", re.IGNORECASE)
MONTH_TZ = ZoneInfo("Europe/Berlin")


class CableFilter(enum.StrEnum):
    ALL = ""
    DEFAULT_PIN = "default_pin"
    PIN_UNKNOWN = "pin_unknown"
    PENDING = "pending"
    PENDING_PIN = "pending_pin"
    PENDING_HANDOVER = "pending_handover"
    UNASSIGNED = "unassigned"
    STALE = "stale"

    @classmethod
    def parse(cls, value: str | None) -> CableFilter:
        try:
            return cls(value or "")
        except ValueError:
            return cls.ALL


def _pending(kinds: Sequence[CommandKind], now: dt.datetime) -> ColumnElement[bool]:
    """Cables with a live command of these kinds: ``id IN (the few live command rows)``.

    Not a correlated EXISTS per cable: the live commands are few, so PostgreSQL
    reads them once (a hashed subplan or semi-join), also inside an OR.
    """
    return Cable.id.in_(
        select(CommandRow.cable_id).where(CommandRow.kind.in_(list(kinds)), live_clause(now))
    )


def _has_driver() -> ColumnElement[bool]:
    return exists().where(Assignment.cable_id == Cable.id, Assignment.ended_at.is_(None))


def _stale(now: dt.datetime) -> ColumnElement[bool]:
    cutoff = now - dt.timedelta(days=STALE_DAYS)
    return or_(
        Cable.last_sync_at < cutoff,
        and_(Cable.last_sync_at.is_(None), Cable.registered_at < cutoff),
    )


def _filter_clause(which: CableFilter, now: dt.datetime) -> ColumnElement[bool] | None:
    match which:
        case CableFilter.DEFAULT_PIN:
            return Cable.pin_default.is_(True)
        case CableFilter.PIN_UNKNOWN:
            return Cable.pin_default.is_(None)
        case CableFilter.PENDING:
            return _pending(list(CommandKind), now)
        case CableFilter.PENDING_PIN:
            return _pending([CommandKind.ALLOW_PIN_SET], now)
        case CableFilter.PENDING_HANDOVER:
            return _pending([CommandKind.WIPE], now)
        case CableFilter.UNASSIGNED:
            return not_(_has_driver())
        case CableFilter.STALE:
            return _stale(now)
    return None


@dataclass(frozen=True)
class Overview:
    total: int
    default_pin: int
    pin_unknown: int  # never connected: whether the PIN is still 0000 is not known
    pending_pin: int
    pending_handover: int
    stale: int
    unassigned: int


def _counts(db: Session, org_id: int | None) -> tuple[int, int, int, int]:
    """(cables, on PIN 0000, PIN unknown, with a driver) of one organisation, or of all.

    Read from ``org_cable_counts``, which database triggers keep in the
    transaction of every change (migration ``0006_fleet_counts``): one row,
    not a pass over every cable joined to its assignment.
    """
    query = select(
        func.coalesce(func.sum(OrgCableCounts.cables), 0),
        func.coalesce(func.sum(OrgCableCounts.default_pin), 0),
        func.coalesce(func.sum(OrgCableCounts.pin_unknown), 0),
        func.coalesce(func.sum(OrgCableCounts.assigned), 0),
    )
    if org_id is not None:
        query = query.where(OrgCableCounts.org_id == org_id)
    cables, default_pin, pin_unknown, assigned = db.execute(query).one()
    return int(cables), int(default_pin), int(pin_unknown), int(assigned)


def _stale_count(db: Session, org_id: int, now: dt.datetime) -> int:
    """Cables not synced for STALE_DAYS (``_stale``): two range scans of one index.

    The two halves of ``_stale`` exclude each other (a sync time, or none), so
    their counts add up; each alone is an index-only range over
    ``ix_cables_org_sync_registered``, where the OR would read the rows.
    """
    cutoff = now - dt.timedelta(days=STALE_DAYS)
    synced = select(func.count()).where(Cable.org_id == org_id, Cable.last_sync_at < cutoff)
    never = select(func.count()).where(
        Cable.org_id == org_id, Cable.last_sync_at.is_(None), Cable.registered_at < cutoff
    )
    return int(db.scalar(select(synced.scalar_subquery() + never.scalar_subquery())) or 0)


def overview(db: Session, org_id: int, now: dt.datetime) -> Overview:
    """The overview's counts: one row of kept counts, the stale range, the few live commands."""
    total, default_pin, pin_unknown, assigned = _counts(db, org_id)
    # The organisation per live command, looked up by the cable's key: a join would
    # let the planner hash all 100,000 of the organisation's cables for a few commands.
    cable_org = select(Cable.org_id).where(Cable.id == CommandRow.cable_id).scalar_subquery()
    cables = func.count(func.distinct(CommandRow.cable_id))
    pending_pin, pending_handover = db.execute(
        select(
            cables.filter(CommandRow.kind == CommandKind.ALLOW_PIN_SET),
            cables.filter(CommandRow.kind == CommandKind.WIPE),
        ).where(live_clause(now), cable_org == org_id)
    ).one()
    return Overview(
        total=total,
        default_pin=default_pin,
        pin_unknown=pin_unknown,
        pending_pin=int(pending_pin),
        pending_handover=int(pending_handover),
        stale=_stale_count(db, org_id, now),
        unassigned=total - assigned,
    )


@dataclass(frozen=True)
class CableRow:
    serial: str
    org_name: str | None
    driver_name: str | None
    driver_email: str | None
    pin_default: bool | None
    last_sync_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    pending: frozenset[str]  # purposes of open commands: pin_reset, handover, reset


@dataclass(frozen=True)
class CablePage:
    rows: list[CableRow]
    total: int
    next_after: str | None


def looks_like_serial(q: str) -> bool:
    """Whether a search text is (the start of) a serial number rather than a name."""
    return bool(SERIAL_LIKE.match(q.strip()))


def _search_clause(db: Session, org_id: int | None, q: str) -> ColumnElement[bool] | None:
    q = q.strip()
    if not q:
        return None
    if looks_like_serial(q):
        digits = q.upper().removeprefix("CBL").removeprefix("-")
        prefix = Cable.serial.startswith("CBL-" + digits, autoescape=True)
        if not digits:
            return prefix
        # "CBL-0001", "0001" and "1" also name CBL-00000001: the number, padded to 8 digits.
        return or_(prefix, Cable.serial == f"CBL-{int(digits):08d}")
    needle = q.lower()
    drivers = select(User.id).where(
        User.role == "driver",
        or_(
            func.lower(User.email).contains(needle, autoescape=True),
            func.lower(User.name).contains(needle, autoescape=True),
        ),
    )
    if org_id is not None:
        drivers = drivers.where(User.org_id == org_id)
    return exists().where(
        Assignment.cable_id == Cable.id,
        Assignment.ended_at.is_(None),
        Assignment.driver_id.in_(drivers.scalar_subquery()),
    )


def _scoped(org_id: int | None) -> Select[Cable]:
    query = select(Cable)
    if org_id is not None:
        query = query.where(Cable.org_id == org_id)
    return query


def cable_page(
    db: Session,
    *,
    org_id: int | None,
    now: dt.datetime,
    q: str = "",
    which: CableFilter = CableFilter.ALL,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> CablePage:
    """One page of cables ordered by serial, with the total that matches."""
    clauses = [
        c for c in (_search_clause(db, org_id, q), _filter_clause(which, now)) if c is not None
    ]
    base = _scoped(org_id).where(*clauses)
    total = _kept_total(db, org_id, which) if not q.strip() else None
    if total is None:
        # Count the rows of the same query: ``with_only_columns(func.count())`` would drop
        # the FROM when no clause names ``cables`` outside a subquery (the support
        # console's driver search), and count 1 for any number of hits.
        total = int(db.scalar(select(func.count()).select_from(base.subquery())) or 0)
    query = base.order_by(Cable.serial).limit(limit + 1)
    if after:
        query = query.where(Cable.serial > after)
    cables = list(db.scalars(query))
    more = len(cables) > limit
    cables = cables[:limit]
    return CablePage(
        rows=_rows(db, cables, now),
        total=total,
        next_after=cables[-1].serial if more and cables else None,
    )


def _kept_total(db: Session, org_id: int | None, which: CableFilter) -> int | None:
    """The list's total from the kept counts (``_counts``) where they hold it, else None."""
    if which not in (
        CableFilter.ALL,
        CableFilter.DEFAULT_PIN,
        CableFilter.PIN_UNKNOWN,
        CableFilter.UNASSIGNED,
    ):
        return None
    total, default_pin, pin_unknown, assigned = _counts(db, org_id)
    match which:
        case CableFilter.DEFAULT_PIN:
            return default_pin
        case CableFilter.PIN_UNKNOWN:
            return pin_unknown
        case CableFilter.UNASSIGNED:
            return total - assigned
    return total


def _rows(db: Session, cables: Sequence[Cable], now: dt.datetime) -> list[CableRow]:
    if not cables:
        return []
    ids = [c.id for c in cables]
    drivers: dict[int, tuple[str, str]] = {
        cable_id: (name, email)
        for cable_id, name, email in db.execute(
            select(Assignment.cable_id, User.name, User.email)
            .join(User, User.id == Assignment.driver_id)
            .where(Assignment.cable_id.in_(ids), Assignment.ended_at.is_(None))
        ).all()
    }
    pending: dict[int, set[str]] = {}
    for cable_id, purpose in db.execute(
        select(CommandRow.cable_id, CommandRow.purpose).where(
            CommandRow.cable_id.in_(ids), live_clause(now)
        )
    ):
        pending.setdefault(cable_id, set()).add(purpose)
    orgs = dict(
        db.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({c.org_id for c in cables})
            )
        ).all()
    )
    return [
        CableRow(
            serial=c.serial,
            org_name=orgs.get(c.org_id),
            driver_name=drivers[c.id][0] if c.id in drivers else None,
            driver_email=drivers[c.id][1] if c.id in drivers else None,
            pin_default=c.pin_default,
            last_sync_at=c.last_sync_at,
            last_seen_at=c.last_seen_at,
            pending=frozenset(pending.get(c.id, ())),
        )
        for c in cables
    ]


def find_any_cable(db: Session, serial: str) -> Cable | None:
    """Support console: a cable by exact serial, in any organisation."""
    return db.scalar(select(Cable).where(Cable.serial == serial.strip().upper()))


def org_name(db: Session, org_id: int | None) -> str | None:
    if org_id is None:
        return None
    return db.scalar(select(Organisation.name).where(Organisation.id == org_id))


@dataclass(frozen=True)
class HistoryEntry:
    driver_name: str
    driver_email: str
    driver_id: int
    epoch: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    erased: bool = False  # D2: the page says "erased driver", the tombstone has no name


def cable_history(db: Session, cable_id: int, limit: int = 50) -> list[HistoryEntry]:
    rows = db.execute(
        select(Assignment, User)
        .join(User, User.id == Assignment.driver_id)
        .where(Assignment.cable_id == cable_id)
        .order_by(Assignment.started_at.desc(), Assignment.id.desc())
        .limit(limit)
    ).all()
    return [
        HistoryEntry(
            driver_name=u.name,
            driver_email="" if u.erased_at else u.email,
            driver_id=u.id,
            epoch=a.epoch,
            started_at=a.started_at,
            ended_at=a.ended_at,
            erased=u.erased_at is not None,
        )
        for a, u in rows
    ]


def org_name_for_cable(db: Session, cable_id: int) -> str | None:
    return db.scalar(
        select(Organisation.name)
        .join(Cable, Cable.org_id == Organisation.id)
        .where(Cable.id == cable_id)
    )


def cable_id_in_org(db: Session, serial: str, org_id: int | None) -> int | None:
    query = select(Cable.id).where(Cable.serial == serial)
    if org_id is not None:
        query = query.where(Cable.org_id == org_id)
    return db.scalar(query)


# ---------------------------------------------------------------- drivers


@dataclass(frozen=True)
class DriverRow:
    id: int
    name: str
    email: str
    active: bool
    invited: bool  # has not chosen a password yet
    cables: int


@dataclass(frozen=True)
class DriverPage:
    rows: list[DriverRow]
    next_after: str | None  # cursor of the next page (``?after=``), None on the last


DRIVER_PAGE = 50
DRIVER_CHOICES = 20


def driver_cursor(name: str, email: str) -> str:
    """An opaque keyset cursor for the drivers list: the (name, email) of the last row."""
    raw = json.dumps([name, email], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_driver_cursor(text: str | None) -> tuple[str, str] | None:
    """The (name, email) in a cursor; ``None`` for no cursor or one that is not ours."""
    if not text:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        return None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0], value[1]
    return None


def _driver_search(q: str) -> ColumnElement[bool] | None:
    needle = q.strip().lower()
    if not needle:
        return None
    return or_(
        func.lower(User.name).contains(needle, autoescape=True),
        func.lower(User.email).contains(needle, autoescape=True),
    )


def drivers(
    db: Session,
    org_id: int,
    *,
    q: str = "",
    after: str | None = None,
    limit: int = DRIVER_PAGE,
) -> DriverPage:
    """One page of the organisation's drivers by (name, email), optionally searched.

    Keyset paging (``ix_users_org_role_name_email``): (name, email) is unique
    because e-mail is, so every driver shows exactly once across the pages,
    also while drivers are added. Cable counts are read for this page only.
    """
    query = (
        select(User)
        .where(User.org_id == org_id, User.role == "driver", User.erased_at.is_(None))
        .order_by(User.name, User.email)
        .limit(limit + 1)
    )
    search = _driver_search(q)
    if search is not None:
        query = query.where(search)
    key = parse_driver_cursor(after)
    if key is not None:
        name, email = key
        query = query.where(tuple_(User.name, User.email) > (name, email))
    users = list(db.scalars(query))
    more = len(users) > limit
    users = users[:limit]
    counts: dict[int, int] = {}
    if users:
        counts = {
            driver_id: int(n)
            for driver_id, n in db.execute(
                select(Assignment.driver_id, func.count())
                .where(
                    Assignment.driver_id.in_([u.id for u in users]),
                    Assignment.ended_at.is_(None),
                )
                .group_by(Assignment.driver_id)
            ).all()
        }
    rows = [
        DriverRow(
            id=u.id,
            name=u.name,
            email=u.email,
            active=u.active,
            invited=u.password_hash is None,
            cables=counts.get(u.id, 0),
        )
        for u in users
    ]
    last = users[-1] if more and users else None
    return DriverPage(rows=rows, next_after=driver_cursor(last.name, last.email) if last else None)


@dataclass(frozen=True)
class DriverChoices:
    rows: list[DriverRow]
    more: bool  # more active drivers match than are shown: search to narrow


def driver_choices(
    db: Session, org_id: int, q: str = "", *, limit: int = DRIVER_CHOICES
) -> DriverChoices:
    """A picker's options: the first ``limit`` active drivers whose name or e-mail contains ``q``.

    A few matches, never every driver; ``more`` says a search would narrow them.
    """
    query = (
        select(User)
        .where(User.org_id == org_id, User.role == "driver", User.active.is_(True))
        .order_by(User.name, User.email)
        .limit(limit + 1)
    )
    search = _driver_search(q)
    if search is not None:
        query = query.where(search)
    users = list(db.scalars(query))
    return DriverChoices(
        rows=[
            DriverRow(id=u.id, name=u.name, email=u.email, active=True, invited=False, cables=0)
            for u in users[:limit]
        ],
        more=len(users) > limit,
    )


def has_active_driver(db: Session, org_id: int) -> bool:
    return (
        db.scalar(
            select(User.id)
            .where(User.org_id == org_id, User.role == "driver", User.active.is_(True))
            .limit(1)
        )
        is not None
    )


def active_driver(db: Session, org_id: int, email: str) -> User | None:
    """The organisation's active driver with this e-mail address (exact, case-insensitive)."""
    return db.scalar(
        select(User).where(
            User.org_id == org_id,
            User.role == "driver",
            User.active.is_(True),
            User.email == email.strip().lower(),
        )
    )


def driver(db: Session, org_id: int, driver_id: int) -> User | None:
    return db.scalar(
        select(User).where(
            User.id == driver_id,
            User.org_id == org_id,
            User.role == "driver",
            User.erased_at.is_(None),
        )
    )


@dataclass(frozen=True)
class DriverCable:
    serial: str
    epoch: int
    started_at: dt.datetime
    ended_at: dt.datetime | None


def driver_cables(db: Session, driver_id: int, limit: int = 100) -> list[DriverCable]:
    return [
        DriverCable(serial=s, epoch=a.epoch, started_at=a.started_at, ended_at=a.ended_at)
        for a, s in db.execute(
            select(Assignment, Cable.serial)
            .join(Cable, Cable.id == Assignment.cable_id)
            .where(Assignment.driver_id == driver_id)
            .order_by(Assignment.ended_at.is_not(None), Assignment.started_at.desc())
            .limit(limit)
        ).all()
    ]


@dataclass(frozen=True)
class MonthTotal:
    month: str  # "YYYY-MM"
    wh: int
    count: int

    @property
    def kwh(self) -> float:
        return self.wh / 1000


def _month(start_s: int) -> str:
    return dt.datetime.fromtimestamp(start_s, MONTH_TZ).strftime("%Y-%m")


def sessions_by_month(
    db: Session, driver_id: int, now: dt.datetime, months: int = 12
) -> list[MonthTotal]:
    """The last ``months`` calendar months (local time), oldest first, gaps filled with 0."""
    local_now = now.astimezone(MONTH_TZ)
    keys: list[str] = []
    year, month = local_now.year, local_now.month
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    keys.reverse()
    first = dt.datetime.strptime(keys[0] + "-01", "%Y-%m-%d").replace(tzinfo=MONTH_TZ)
    totals = {k: [0, 0] for k in keys}
    for start_s, wh in db.execute(
        select(ChargingSession.start_s, ChargingSession.wh).where(
            ChargingSession.driver_id == driver_id,
            ChargingSession.start_s >= int(first.timestamp()),
        )
    ):
        key = _month(start_s)
        if key in totals:
            totals[key][0] += wh
            totals[key][1] += 1
    return [MonthTotal(month=k, wh=totals[k][0], count=totals[k][1]) for k in keys]


@dataclass(frozen=True)
class SessionRow:
    serial: str
    epoch: int
    seq: int
    start_s: int
    end_s: int
    wh: int
    meter_start_wh: int
    meter_end_wh: int


def driver_sessions(
    db: Session, driver_id: int, *, start_s: int | None = None, end_s: int | None = None
) -> Iterable[SessionRow]:
    query = (
        select(ChargingSession, Cable.serial)
        .join(Cable, Cable.id == ChargingSession.cable_id)
        .where(ChargingSession.driver_id == driver_id)
        .order_by(ChargingSession.start_s, ChargingSession.id)
    )
    if start_s is not None:
        query = query.where(ChargingSession.start_s >= start_s)
    if end_s is not None:
        query = query.where(ChargingSession.start_s < end_s)
    for s, serial in db.execute(query.execution_options(yield_per=1000)):
        yield SessionRow(
            serial=serial,
            epoch=s.epoch,
            seq=s.seq,
            start_s=s.start_s,
            end_s=s.end_s,
            wh=s.wh,
            meter_start_wh=s.meter_start_wh,
            meter_end_wh=s.meter_end_wh,
        )


def pending_invitation(db: Session, user_id: int, now: dt.datetime) -> Invitation | None:
    return db.scalar(
        select(Invitation)
        .where(
            Invitation.user_id == user_id,
            Invitation.used_at.is_(None),
            Invitation.expires_at > now,
        )
        .order_by(Invitation.expires_at.desc())
        .limit(1)
    )


# ---------------------------------------------------------------- audit


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    target: str = ""
    actor: str = ""
    support_only: bool = False
    org_id: int | None = None  # support only: narrow to one organisation
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[audit_log.ShownEvent]
    next_before: int | None
    org_names: dict[int, str] = field(default_factory=dict)


def _audit_query(org_id: int | None, f: AuditFilter) -> Select[AuditEvent]:
    query = select(AuditEvent)
    if org_id is not None:
        query = query.where(AuditEvent.org_id == org_id)
    elif f.org_id is not None:
        query = query.where(AuditEvent.org_id == f.org_id)
    if f.action:
        if f.action.endswith("."):
            query = query.where(AuditEvent.action.startswith(f.action, autoescape=True))
        else:
            query = query.where(AuditEvent.action == f.action)
    if f.target:
        # A person is a pseudonym in the chain (``user:ID``): match their e-mail beside it.
        text_ = f.target.strip().lower()
        query = query.where(
            or_(
                func.lower(AuditEvent.target).contains(text_, autoescape=True),
                AuditEvent.target.in_(
                    select(literal("user:", String) + cast(AuditPerson.user_id, String)).where(
                        func.lower(AuditPerson.email).contains(text_, autoescape=True)
                    )
                ),
            )
        )
    if f.actor:
        query = query.where(
            AuditEvent.actor_id.in_(
                select(AuditPerson.user_id).where(
                    func.lower(AuditPerson.email).contains(f.actor.strip().lower(), autoescape=True)
                )
            )
        )
    if f.support_only:
        query = query.where(AuditEvent.actor_role == "support")
    if f.since is not None:
        query = query.where(AuditEvent.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEvent.at < f.until)
    return query


def audit_page(
    db: Session,
    org_id: int | None,
    f: AuditFilter,
    *,
    before: int | None = None,
    limit: int = AUDIT_PAGE,
    erased: str = audit_log.ERASED,
) -> AuditPage:
    """Newest first. ``org_id`` None (support) reads every organisation."""
    query = _audit_query(org_id, f).order_by(AuditEvent.seq.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    events = list(db.scalars(query))
    more = len(events) > limit
    events = events[:limit]
    ids = {e.org_id for e in events if e.org_id is not None}
    names = (
        dict(
            db.execute(
                select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    return AuditPage(
        events=audit_log.shown(db, events, erased=erased),
        next_before=events[-1].seq if more and events else None,
        org_names=names,
    )


def audit_all(
    db: Session, org_id: int | None, f: AuditFilter, *, erased: str = audit_log.ERASED
) -> Iterable[audit_log.ShownEvent]:
    """Every matching event, oldest first (CSV export), names joined a batch at a time."""
    query = _audit_query(org_id, f).order_by(AuditEvent.seq)
    batch: list[AuditEvent] = []
    for row in db.scalars(query.execution_options(yield_per=1000)):
        batch.append(row)
        if len(batch) == 1000:
            yield from audit_log.shown(db, batch, erased=erased)
            batch = []
    yield from audit_log.shown(db, batch, erased=erased)


def organisations(db: Session) -> list[tuple[int, str]]:
    return list(
        db.execute(select(Organisation.id, Organisation.name).order_by(Organisation.name)).all()
    )

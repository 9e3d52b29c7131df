"""The command lifecycle's SQL agrees with its pure rules, on SQLite and PostgreSQL.

``services/commands.py`` runs every rule of ``domain/commands.py`` in SQL
(``*_clause``) and every state change as a conditional UPDATE. Here each
clause picks, from a table holding every combination of kind, state, expiry
and lease, exactly the rows the pure function picks.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.domain.commands import (
    TRANSITIONS,
    Event,
    Purpose,
    State,
    claimable,
    expired,
    live,
)
from cablepin.cloud.errors import Conflict
from cablepin.cloud.models import Cable, CommandRow
from cablepin.cloud.services import accounts, commands
from cablepin.protocol.chain import genesis
from cablepin.protocol.commands import CommandKind

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
TIMES = (None, NOW - dt.timedelta(seconds=1), NOW, NOW + dt.timedelta(seconds=1))
SYSTEM = Actor(0, "system", "system", Role.SUPPORT, org_id=None)


@pytest.fixture
def db(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        yield session
    engine.dispose()


def _every_combination(db: Session) -> list[CommandRow]:
    """One cable per command: the schema allows one open command per cable and kind."""
    org = accounts.create_org(db, "Lifecycle", now=NOW)
    rows = []
    combos = itertools.product(CommandKind, State, TIMES, TIMES)
    for n, (kind, state, expires_at, lease_until) in enumerate(combos):
        serial = f"CBL-{n + 1:08d}"
        cable = Cable(
            serial=serial,
            org_id=org.id,
            cert_pem="-",
            registered_at=NOW,
            epoch=0,
            head_seq=0,
            head_hash=genesis(serial, 0),
        )
        db.add(cable)
        db.flush()
        row = CommandRow(
            id=str(uuid.uuid4()),
            cable_id=cable.id,
            kind=kind,
            purpose=Purpose.PIN_RESET if kind is CommandKind.ALLOW_PIN_SET else Purpose.HANDOVER,
            state=state,
            epoch=0,
            created_at=NOW,
            expires_at=expires_at,
            lease_until=lease_until,
        )
        db.add(row)
        rows.append(row)
    db.commit()
    return rows


def _chosen(db: Session, clause: ColumnElement[bool]) -> set[str]:
    return set(db.scalars(select(CommandRow.id).where(clause)))


def test_h4_p8_sql_predicates_agree_with_the_pure_rules(db: Session) -> None:
    rows = _every_combination(db)
    pairs: list[tuple[ColumnElement[bool], Callable[[CommandRow], bool]]] = [
        (commands.expired_clause(NOW), lambda r: expired(r.expires_at, NOW)),
        (commands.live_clause(NOW), lambda r: live(r.state, r.expires_at, NOW)),
        (commands.open_clause(), lambda r: live(r.state, None, NOW)),
    ]
    for kind in CommandKind:
        pairs.append(
            (
                commands.claimable_clause(kind, NOW) & (CommandRow.kind == kind),
                lambda r, kind=kind: (
                    r.kind is kind  # type: ignore[misc]
                    and claimable(kind, r.state, r.lease_until, NOW)
                ),
            )
        )
    for clause, rule in pairs:
        expected = {r.id for r in rows if rule(r)}
        assert expected, "each rule picks some rows, or the comparison proves nothing"
        assert _chosen(db, clause) == expected, clause


def test_h4_p8_a_state_change_happens_once_and_only_from_its_sources(db: Session) -> None:
    rows = _every_combination(db)
    pin = next(
        r
        for r in rows
        if r.kind is CommandKind.ALLOW_PIN_SET and r.state is State.PENDING and r.expires_at is None
    )
    assert commands.claim(db, pin, NOW)
    assert pin.state is State.ISSUED
    assert not commands.claim(db, pin, NOW), "a leased permission is not handed out twice"
    assert commands.release(db, pin)
    assert not commands.release(db, pin), "only a leased copy can be handed back"
    assert commands.transition(db, pin, Event.RECEIPT, done_at=NOW)
    assert not commands.transition(db, pin, Event.CANCEL), "done is final"
    db.commit()
    stored = db.scalar(select(CommandRow.state).where(CommandRow.id == pin.id))
    assert stored is State.DONE
    wipe = next(r for r in rows if r.kind is CommandKind.WIPE and r.state is State.ISSUED)
    assert commands.claim(db, wipe, NOW), "a wipe may go to a second connect"
    with pytest.raises(Conflict, match="cannot take 'expire'"):
        commands.transition(db, wipe, Event.EXPIRE)


def test_p8_a_receipt_leads_each_state_where_the_table_says_in_one_update(db: Session) -> None:
    """Red team finding 5: the target depends on the state the row has in the database
    (a revoked permission the cable took anyway becomes ``revoked_used``, not ``done``)."""
    rows = [r for r in _every_combination(db) if r.expires_at is None and r.lease_until is None]
    for row in rows:
        table = TRANSITIONS[row.kind]
        before = row.state
        moved = commands.transition(db, row, Event.RECEIPT, done_at=NOW)
        expected = table.get((before, Event.RECEIPT))
        assert moved is (expected is not None), (row.kind, before)
        stored = db.scalar(select(CommandRow.state).where(CommandRow.id == row.id))
        assert stored is (expected or before), (row.kind, before)
        assert row.state is stored
    db.commit()
    revoked = next(
        r for r in rows if r.kind is CommandKind.ALLOW_PIN_SET and r.state is State.REVOKED_USED
    )
    assert not commands.transition(db, revoked, Event.RECEIPT), "a receipt counts once"

"""One transaction policy (cloud/db.py): a unit of work commits once, at its outermost end."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cablepin.cloud.db import make_engine, make_sessionmaker, transaction
from cablepin.cloud.errors import AlreadyExists
from cablepin.cloud.models import Organisation
from cablepin.cloud.services import accounts

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _orgs(url: str) -> int:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as other:  # another connection sees only what was committed
        count = int(other.scalar(select(func.count()).select_from(Organisation)) or 0)
    engine.dispose()
    return count


def test_r2_a_service_called_alone_commits_and_inside_a_unit_joins_it(db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        accounts.create_org(db, "Alone", now=NOW)
        assert _orgs(db_url) == 1, "called alone (CLI, tests), a service is its own unit"
        with transaction(db):
            accounts.create_org(db, "Inner one", now=NOW)
            if not db_url.startswith("sqlite"):  # SQLite's writer lock keeps readers out
                assert _orgs(db_url) == 1, "inside a unit nothing is committed before its end"
            assert db.in_transaction()
            accounts.create_org(db, "Inner two", now=NOW)
        assert _orgs(db_url) == 3
    engine.dispose()


def _twice(db: Session) -> None:
    with transaction(db):
        accounts.create_org(db, "Half", now=NOW)
        accounts.create_org(db, "Half", now=NOW)  # refused: the first one goes too


def test_r2_a_unit_that_raises_leaves_nothing_behind(db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        with pytest.raises(AlreadyExists):
            _twice(db)
        assert _orgs(db_url) == 0
    engine.dispose()

"""Engines, sessions and migrations.

SQLite transactions start with ``BEGIN IMMEDIATE`` so a read-then-write
(claiming a permission, appending to the audit chain) holds the write lock
from its first statement: two processes on one SQLite file serialise instead
of both reading the same state. PostgreSQL uses conditional updates and row
locks instead (see services).

**The transaction policy: one unit of work, one commit.** ``transaction(db)``
(or ``@transactional`` on a service) commits when the *outermost* unit ends
and rolls back when it raises; an inner one joins it. In a request the
outermost unit is the request itself (``cloud/deps.py``: ``get_db``), so
everything a request changes, services and page code alike, is committed
once, before the response leaves, or not at all. A CLI command or a test that
calls a service directly gets the service's own unit. Nothing else calls
``commit``, except sign-in (``services/signin.py``): it counts an attempt
and commits before argon2 runs, so no transaction (on SQLite: no write lock)
is held while a password is checked, and a failed login is counted even
though the login raises.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from cablepin.cloud.settings import normalise_db_url

__all__ = [
    "MIGRATIONS",
    "make_engine",
    "make_sessionmaker",
    "migrate",
    "transaction",
    "transactional",
]

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_db_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_engine(
        url, connect_args={"check_same_thread": False}, poolclass=NullPool, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest schema)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not an option: URLs may contain '%', which ini interpolation eats.
    config.attributes["url"] = normalise_db_url(url)
    command.upgrade(config, revision)


_DEPTH = "cablepin.unit_of_work_depth"
P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def transaction(db: Session) -> Iterator[Session]:
    """One unit of work on ``db``: committed by the outermost block, rolled back if it raises."""
    depth: int = db.info.get(_DEPTH, 0)
    db.info[_DEPTH] = depth + 1
    try:
        yield db
    except BaseException:
        if depth == 0:
            db.rollback()
        raise
    else:
        if depth == 0:
            db.commit()
    finally:
        db.info[_DEPTH] = depth


def transactional(fn: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
    """Run a service (its first argument is the session) as a unit of work."""

    @functools.wraps(fn)
    def unit(db: Session, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with transaction(db):
            return fn(db, *args, **kwargs)

    return unit

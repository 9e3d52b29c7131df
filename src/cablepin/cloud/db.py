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

**Pooled PostgreSQL connections are checked without a round trip** (B3). Instead
of SQLAlchemy's pre-ping (a ``SELECT 1`` before every unit of work), a pooled
connection is given out only if its socket has nothing to read: an idle
connection the server ended (``pg_terminate_backend``, a restart or failover)
has its FATAL message or its end of stream waiting there, and is replaced
before anything runs on it. A connection lost silently (nothing arrived) fails
on its first statement like one cut mid-request: 503 ``database_unavailable``
with ``Retry-After`` (``api/errors.py``), and the pool is invalidated.

**Work whose every statement stands alone runs without a transaction**
(``autocommit``: reads, and a write that is one conditional statement, such as
the connect's compare-and-set of what the cable reported): on PostgreSQL an
autocommit connection, so psycopg sends no ``BEGIN`` and no ``COMMIT``; each
statement sees its own snapshot, as under READ COMMITTED, and a write is
committed as it runs. Anything else uses ``transaction`` as before.
"""

from __future__ import annotations

import functools
import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from cablepin.cloud.settings import normalise_db_url

__all__ = [
    "MIGRATIONS",
    "POOL_SIZE",
    "autocommit",
    "make_engine",
    "make_sessionmaker",
    "migrate",
    "transaction",
    "transactional",
]

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
#: PostgreSQL connections a process keeps, and how many more it may open for a peak (closed
#: again when returned). A hot path that holds one per thread (the connect) runs at most
#: POOL_SIZE at once, so it never opens and closes connections under load (B3).
POOL_SIZE = 10
POOL_OVERFLOW = 10


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_db_url(url)
    if not url.startswith("sqlite"):
        options = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, **kwargs}
        engine = create_engine(url, **options)
        _check_pooled_connections(engine)
        return engine
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


_FRESH = "cablepin.fresh"


def _check_pooled_connections(engine: Engine) -> None:
    """The pre-ping without its round trip (see the module's docstring)."""

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(_FRESH, False):
            return  # just opened: nothing to check
        if dbapi_connection.closed:
            raise DisconnectionError("the pooled connection is closed")
        # poll, not select: a busy server's descriptors pass select's limit of 1024.
        idle = select.poll()
        idle.register(dbapi_connection.pgconn.socket, select.POLLIN)
        if idle.poll(0):  # an idle connection the server spoke on: it ended it (or said why)
            raise DisconnectionError("the server ended this pooled connection")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


_AUTOCOMMIT = "cablepin.autocommit_bind"


@contextmanager
def autocommit(engine: Engine) -> Iterator[Connection]:
    """A pooled connection (no ORM session) whose statements each stand alone: no
    transaction on PostgreSQL (no BEGIN, no COMMIT: one round trip a statement);
    elsewhere one transaction, committed at the end, rolled back if the block raises."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            yield connection
        return
    bind = engine.__dict__.get(_AUTOCOMMIT)
    if bind is None:  # one per engine, sharing its pool
        bind = engine.__dict__[_AUTOCOMMIT] = engine.execution_options(isolation_level="AUTOCOMMIT")
    with bind.connect() as connection:
        yield connection


def connection_of(db: Session | Connection) -> Connection:
    """The connection to run plain (Core) statements on: ``db`` itself, or the session's."""
    return db if isinstance(db, Connection) else db.connection()


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

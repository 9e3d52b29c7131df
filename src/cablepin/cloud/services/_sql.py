"""Small SQL helpers shared by the services (dialect-specific INSERTs, bulk inserts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cablepin.cloud.models import Base

__all__ = ["dialect_insert", "insert_new_rows"]


def dialect_insert(db: Session, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both databases."""
    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_new_rows(db: Session, entity: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows the caller knows are new, all with the same keys, in one go: one
    cached INSERT executed with the rows as parameters. Nothing is skipped: a row that
    is not new after all (a unique key already taken) fails the whole unit of work, it
    is never dropped or doubled silently. (PostgreSQL's session batches go in with
    ``ingest._store_batch_pg``, one statement with the signed head and the cable's row.)
    """
    if rows:
        db.connection().execute(insert(cast(Table, entity.__table__)), list(rows))

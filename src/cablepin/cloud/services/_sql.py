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
    """Insert rows the caller knows are new, all with the same keys, in one go.

    PostgreSQL: ``COPY ... FROM STDIN`` on the session's own connection (so in
    its transaction). Elsewhere: one cached INSERT executed with the rows as
    parameters. Nothing is skipped: a row that is not new after all (a unique
    key already taken) fails the whole unit of work, it is never dropped or
    doubled silently. Values pass the columns' own bind processing (aware UTC
    datetimes, enums), exactly as an ORM insert would.
    """
    if not rows:
        return
    table = cast(Table, entity.__table__)
    names = list(rows[0])
    connection = db.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(insert(table), list(rows))
        return
    processors = [table.c[name].type.bind_processor(dialect) for name in names]
    columns = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    sql = f"COPY {dialect.identifier_preparer.format_table(table)} ({columns}) FROM STDIN"
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(
                [
                    value if process is None else process(value)
                    for value, process in zip(
                        (row[name] for name in names), processors, strict=True
                    )
                ]
            )

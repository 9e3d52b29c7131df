"""Small SQL helpers shared by the services (dialect-specific INSERTs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["dialect_insert"]


def dialect_insert(db: Session, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both databases."""
    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)

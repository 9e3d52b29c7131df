"""Alembic environment: metadata from ``cablepin.cloud.models``, URL from the app.

The URL comes from ``config.attributes["url"]`` (``cablepin.cloud.db.migrate``)
or else from the settings (``CABLEPIN_DB``). On PostgreSQL an advisory lock
keeps two processes that start at once from migrating concurrently.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cablepin.cloud.models import Base
from cablepin.cloud.settings import Settings, normalise_db_url

MIGRATION_LOCK = 0x6361626C  # "cabl"

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url")
    return normalise_db_url(url if isinstance(url, str) else Settings().db)


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(_url(), poolclass=NullPool)
    with engine.connect() as connection:
        is_pg = connection.dialect.name == "postgresql"
        if is_pg:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            connection.commit()
        try:
            context.configure(
                connection=connection, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if is_pg:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()

"""The cloud service: JSON API for app and portal, SQLAlchemy 2 + Alembic.

Layers (DESIGN.md "Cloud"): ``domain`` holds the rules without I/O,
``services`` do persistence (and are what the portal calls), ``api`` only
translates HTTP. ``create_app(settings)`` builds the FastAPI app;
``migrate(url)`` brings a database to the current schema.

The public names load on first use (PEP 562): importing a light module such
as ``cablepin.cloud.errors`` must not pull in FastAPI and SQLAlchemy, because
every ``cablepin`` command start would pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cablepin.cloud.app import create_app
    from cablepin.cloud.db import migrate
    from cablepin.cloud.errors import CloudError
    from cablepin.cloud.settings import Settings

__all__ = ["CloudError", "Settings", "create_app", "migrate"]

_HOMES = {
    "create_app": "cablepin.cloud.app",
    "migrate": "cablepin.cloud.db",
    "CloudError": "cablepin.cloud.errors",
    "Settings": "cablepin.cloud.settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cablepin.cloud' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

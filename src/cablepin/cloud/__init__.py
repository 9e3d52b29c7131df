"""The cloud service: JSON API for app and portal, SQLAlchemy 2 + Alembic.

Layers (DESIGN.md "Cloud"): ``domain`` holds the rules without I/O,
``services`` do persistence (and are what the portal calls), ``api`` only
translates HTTP. ``create_app(settings)`` builds the FastAPI app;
``migrate(url)`` brings a database to the current schema.
"""

from cablepin.cloud.app import create_app
from cablepin.cloud.db import migrate
from cablepin.cloud.errors import CloudError
from cablepin.cloud.settings import Settings

__all__ = ["CloudError", "Settings", "create_app", "migrate"]

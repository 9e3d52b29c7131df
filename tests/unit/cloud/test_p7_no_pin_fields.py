"""P7 by construction: no table column, API schema field, query parameter or
setting of the cloud is named for a PIN (only the allow-listed facts about one)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from cablepin.cloud import schemas
from cablepin.cloud.api.routes import connect_router, router
from cablepin.cloud.models import Base
from cablepin.cloud.settings import Settings

# pin_default: "the PIN is still 0000" as reported (a boolean); default_pin and pin_unknown:
# how many of an organisation's cables report that fact (org_cable_counts, integers); the
# rest name permissions.
ALLOWED = {
    "pin_default",
    "default_pin",
    "pin_unknown",
    "pin_reset_pending",
    "pending_pin_reset",
    "allow_pin_set",
    "pin-reset",
}


def suspicious(name: str) -> bool:
    return "pin" in name.lower() and name not in ALLOWED


def test_p7_no_table_column_holds_a_pin() -> None:
    columns = [f"{t.name}.{c.name}" for t in Base.metadata.tables.values() for c in t.columns]
    assert len(columns) > 50
    assert [c for c in columns if suspicious(c.split(".")[1])] == []
    assert [t for t in Base.metadata.tables if suspicious(t)] == []


def test_p7_no_schema_field_or_setting_holds_a_pin() -> None:
    models = [
        m
        for m in vars(schemas).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m is not BaseModel
    ]
    fields = [f"{m.__name__}.{name}" for m in models for name in m.model_fields]
    fields += [f"Settings.{name}" for name in Settings.model_fields]
    assert [f for f in fields if suspicious(f.split(".")[1])] == []


def _names(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                found.extend(value)
            if key == "parameters" and isinstance(value, list):
                found.extend(p.get("name", "") for p in value)
            found.extend(_names(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_names(item))
    return found


def test_p7_openapi_document_has_no_pin_field() -> None:
    app = FastAPI()
    app.include_router(router)
    app.include_router(connect_router)
    names = _names(app.openapi())
    assert "pin_default" in names
    assert [n for n in names if suspicious(n)] == []
    assert dt.UTC  # the document was built without a database or keys

"""Migrations keep what is there: an upgrade never changes the rules for rows made before it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import text

from cablepin.cloud.db import make_engine, migrate


def test_s1_h3_assignments_made_before_the_clean_start_rule_stay_clean(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0001")
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC).replace(tzinfo=None)
    engine = make_engine(url)
    with engine.begin() as db:
        db.execute(
            text("INSERT INTO organisations (id, name, created_at) VALUES (1, 'O', :t)"), {"t": now}
        )
        db.execute(
            text(
                "INSERT INTO users (id, org_id, email, name, role, created_at) "
                "VALUES (1, 1, 'd@o.example', 'D', 'driver', :t)"
            ),
            {"t": now},
        )
        db.execute(
            text(
                "INSERT INTO cables (id, serial, org_id, cert_pem, registered_at, epoch, "
                "head_seq, head_hash) VALUES (1, 'CBL-00000001', 1, '-', :t, 0, 0, :h)"
            ),
            {"t": now, "h": b"\0" * 32},
        )
        # A driver with unsynced sessions on the cable and no synced one yet.
        db.execute(
            text(
                "INSERT INTO assignments (id, cable_id, driver_id, epoch, started_at) "
                "VALUES (1, 1, 1, 0, :t)"
            ),
            {"t": now},
        )
    migrate(url)
    with engine.connect() as db:
        assert db.execute(text("SELECT clean_at FROM assignments")).scalar_one() is not None
    engine.dispose()

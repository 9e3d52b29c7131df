"""D2: migration 0005_audit_pseudonyms turns an existing chain (hashed with e-mail
addresses, 0001-0004) into one that names people by pseudonym, and
``cablepin admin verify-audit`` stays green. Checkpoints signed before it no longer
match (the command key is not the migration's); the documented step (move them aside,
sign a new one) makes ``verify-audit --keys`` green again. A chain that was already
broken stops the migration instead of being laundered by the re-hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from cablepin.cloud.db import make_engine, make_sessionmaker, migrate
from cablepin.cloud.services import audit

from .conftest import PG_ADMIN, PG_URL, Keys, _pg_available
from .test_audit_anchor import admin, own_keys

pytestmark = pytest.mark.slow

DRIVER, DRIVER_NAME, FM = "dora@o.example", "Dora Driver", "fm@o.example"
T0 = dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the shared ones are already at the newest schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    problem = _pg_available()
    if problem is not None:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 did not answer ({problem})")
    name = f"cablepin_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.format(name=name)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sql(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    with engine.begin() as db:
        result = db.execute(text(statement))
        rows = [tuple(r) for r in result] if result.returns_rows else []
    engine.dispose()
    return rows


def _old_hash(prev: str, fields: dict[str, object]) -> str:
    """How 0001-0004 hashed a link (actor_email inside), written out on its own."""
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(prev.encode() + b"\n" + body).hexdigest()


def old_chain(url: str) -> None:
    """A database at 0004 with people and a chain that names them by e-mail."""
    migrate(url, "0004")
    engine = make_engine(url)
    naive = T0.replace(tzinfo=None)
    events = [
        (2, FM, "fleet_manager", "assignment.created", "CBL-00000001", {"driver_email": DRIVER}),
        (1, DRIVER, "driver", "tariff.added", DRIVER, {"tariff_id": 1}),
        (2, FM, "fleet_manager", "driver.deactivated", DRIVER, {}),
        (None, None, None, "cable.registered", "CBL-00000001", {}),
    ]
    with engine.begin() as db:
        db.execute(
            text("INSERT INTO organisations (id, name, created_at) VALUES (1, 'O', :t)"),
            {"t": naive},
        )
        for uid, email, name, role in (
            (1, DRIVER, DRIVER_NAME, "driver"),
            (2, FM, "Fred", "fleet_manager"),
        ):
            db.execute(
                text(
                    "INSERT INTO users (id, org_id, email, name, role, created_at) "
                    "VALUES (:i, 1, :e, :n, :r, :t)"
                ),
                {"i": uid, "e": email, "n": name, "r": role, "t": naive},
            )
        prev = "0" * 64
        for seq, (actor_id, actor_email, role, action, target, details) in enumerate(events, 1):
            at = T0 + dt.timedelta(minutes=seq)
            canonical = json.dumps(details, sort_keys=True, separators=(",", ":"))
            fields = {
                "seq": seq,
                "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "actor_id": actor_id,
                "actor_email": actor_email,
                "actor_role": role,
                "org_id": 1,
                "action": action,
                "target": target,
                "reason": None,
                "details": canonical,
            }
            own = _old_hash(prev, fields)
            db.execute(
                text(
                    "INSERT INTO audit_events (seq, at, actor_id, actor_email, actor_role, "
                    "org_id, action, target, reason, details, prev_hash, hash) VALUES (:seq, "
                    ":at, :actor_id, :actor_email, :actor_role, :org_id, :action, :target, "
                    ":reason, :details, :p, :h)"
                ),
                {**fields, "at": at.replace(tzinfo=None), "p": prev, "h": own},
            )
            prev = own
        db.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"),
            {"s": len(events), "h": prev},
        )
    engine.dispose()


def test_d2_migration_0005_pseudonymises_the_chain_and_verify_audit_stays_green(
    fresh_url: str, tmp_path: Path, keys: Keys
) -> None:
    url = fresh_url
    old_chain(url)
    deployment = own_keys(keys, tmp_path)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:  # a checkpoint signed before the upgrade
        checkpoint = audit.sign_checkpoint(db, keys.command_key, now=T0)
    engine.dispose()
    (deployment / "audit-checkpoints.jsonl").write_text(json.dumps(checkpoint) + "\n")

    rc, answer = admin("verify-audit", db=url)  # migrates to the newest schema first
    assert (rc, answer.get("ok"), answer.get("checked")) == (0, True, 4), answer

    chain = "\n".join(map(str, _sql(url, "SELECT * FROM audit_events")))
    people = dict(_sql(url, "SELECT user_id, email FROM audit_people"))
    assert DRIVER not in chain
    assert FM not in chain
    assert "user:1" in chain  # Dora, by pseudonym
    assert people == {1: DRIVER, 2: FM}
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        from cablepin.cloud.models import AuditEvent

        rows = list(db.query(AuditEvent).order_by(AuditEvent.seq))
        shown = audit.shown(db, rows)
    engine.dispose()
    assert [(e.actor_email, e.target) for e in shown][:3] == [
        (FM, "CBL-00000001"),
        (DRIVER, DRIVER),
        (FM, DRIVER),
    ]
    assert json.loads(shown[0].details) == {"driver_email": DRIVER}

    # The old checkpoint names a head hash of the old rule: it no longer matches ...
    rc, answer = admin("verify-audit", "--keys", str(deployment), db=url)
    assert rc != 0
    assert answer["error"] == "audit_broken"
    # ... and the documented step makes the anchor whole again.
    (deployment / "audit-checkpoints.jsonl").rename(deployment / "audit-checkpoints.pre-0005.jsonl")
    rc, answer = admin("audit-checkpoint", "--keys", str(deployment), db=url)
    assert rc == 0, answer
    rc, answer = admin("verify-audit", "--keys", str(deployment), db=url)
    assert (rc, answer.get("ok"), answer.get("checkpoints")) == (0, True, 1), answer


def test_d2_migration_0005_refuses_a_chain_that_was_already_broken(fresh_url: str) -> None:
    url = fresh_url
    old_chain(url)
    _sql(url, "UPDATE audit_events SET reason = 'edited' WHERE seq = 2")
    with pytest.raises(RuntimeError, match="does not verify at event 2"):
        migrate(url)

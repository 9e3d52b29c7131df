"""Issue 11, finding 6: the audit chain rewritten by someone with write access to the
database (delete an event, recompute the later hashes and the head). The chain alone
still verifies; the signed checkpoints kept with the deployment keys do not."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from cablepin.cloud.db import make_engine, make_sessionmaker
from cablepin.cloud.domain.audit import GENESIS, AuditContent, event_hash
from cablepin.cloud.models import AuditEvent, AuditHead
from cablepin.cloud.services import audit

from .conftest import Clock, seed
from .fakes import Keys
from .test_race_pg import CABLEPIN

pytestmark = pytest.mark.slow


def admin(*args: str, db: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k != "CABLEPIN_KEYS"}
    done = subprocess.run(
        [CABLEPIN, "admin", *args, "--db", db, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


def rewrite_without(db_url: str, victim: int) -> None:
    """What the red team did: drop one event, renumber and re-hash the rest, move the head."""
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        db.execute(delete(AuditEvent).where(AuditEvent.seq == victim))
        rows = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        prev = GENESIS
        for new_seq, row in enumerate(rows, start=1):
            row.seq = new_seq
            content = AuditContent(
                seq=new_seq,
                at=row.at,
                actor_id=row.actor_id,
                actor_role=row.actor_role,
                org_id=row.org_id,
                action=row.action,
                target=row.target,
                reason=row.reason,
                details=row.details,
            )
            row.prev_hash, row.hash = prev, event_hash(prev, content)
            prev = row.hash
            db.flush()
        db.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=len(rows), hash=prev))
        db.commit()
    engine.dispose()


def append_events(db_url: str, clock: Clock, actions: list[str]) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        for action in actions:
            clock.advance(seconds=1)
            audit.append(db, now=clock(), action=action, actor=None, org_id=None, target=None)
        db.commit()
    engine.dispose()


def own_keys(keys: Keys, tmp_path: Path) -> Path:
    """A copy of the deployment keys for this test: the checkpoints file lives beside them."""
    directory = tmp_path / "keys"
    directory.mkdir()
    for name in ("command.key", "factory-ca.pem"):
        (directory / name).write_bytes((keys.directory / name).read_bytes())
    return directory


def test_a_rewritten_audit_chain_fails_against_its_signed_checkpoint(
    db_url: str, keys: Keys, tmp_path: Path
) -> None:
    clock = Clock()
    seed(db_url, keys, clock)
    deployment = own_keys(keys, tmp_path)
    append_events(db_url, clock, [f"test.event_{i}" for i in range(6)])
    rc, checkpoint = admin("audit-checkpoint", "--keys", str(deployment), db=db_url)
    assert rc == 0, checkpoint
    assert checkpoint["seq"] >= 6
    append_events(db_url, clock, ["test.after_checkpoint"])
    rc, ok = admin("verify-audit", "--keys", str(deployment), db=db_url)
    assert (rc, ok["ok"], ok["checkpoints"]) == (0, True, 1), ok

    rewrite_without(db_url, victim=2)

    rc, chain_only = admin("verify-audit", db=db_url)
    assert rc == 0, chain_only  # the chain alone cannot tell: that was the finding
    rc, anchored = admin("verify-audit", "--keys", str(deployment), db=db_url)
    assert rc != 0
    assert anchored["error"] == "audit_broken"
    assert "rewritten" in anchored["message"] or "no longer reaches" in anchored["message"]


def test_a_forged_checkpoint_is_refused(db_url: str, keys: Keys, tmp_path: Path) -> None:
    clock = Clock()
    seed(db_url, keys, clock)
    append_events(db_url, clock, ["test.one", "test.two"])
    forged_keys = own_keys(keys, tmp_path)
    rc, _ = admin("audit-checkpoint", "--keys", str(forged_keys), db=db_url)
    assert rc == 0
    path = forged_keys / "audit-checkpoints.jsonl"
    checkpoint = json.loads(path.read_text())
    checkpoint["hash"] = "f" * 64  # someone "fixes" the checkpoint to match a rewrite
    path.write_text(json.dumps(checkpoint) + "\n")
    rc, answer = admin("verify-audit", "--keys", str(forged_keys), db=db_url)
    assert rc != 0
    assert "signature" in answer["message"]

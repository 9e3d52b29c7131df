"""D2: the audit chain names people by pseudonym; their e-mail and name live beside it

- ``audit_people (user_id, email, name)``: who a pseudonym is, for display.
  Erasure deletes the row; no hashed byte changes, so the chain still verifies.
- ``audit_events.actor_email`` goes; events keep ``actor_id``. Every
  ``target`` or ``details`` value that is a user's e-mail address becomes
  ``user:ID`` (``domain/audit.person_ref``), and the whole chain is hashed
  again from the genesis by today's rule (``domain/audit.event_hash``), head
  included. Verifying first: a chain that does not verify under the old rule
  stops the migration, so re-hashing never launders a tampered chain.
- ``users.erased_at``: an erased driver's row stays as a tombstone (D2).

Signed audit checkpoints (``audit-checkpoints.jsonl`` beside the deployment
keys) name head hashes of the old rule, so after this migration ``verify-audit
--keys`` no longer finds them in the chain. The migration cannot sign new ones:
the command key is never in the database nor known to Alembic. The operator's
step (ARCHITECTURE.md, "Security decisions"): run ``verify-audit --keys`` and
``audit-checkpoint`` before upgrading, upgrade, move the old file aside as
``audit-checkpoints.pre-0005.jsonl`` and sign a new checkpoint at once.

Not reversible: an erasure after it cannot be undone, so downgrade refuses.

Revision ID: 0005_audit_pseudonyms
Revises: 0005_outbox (written against 0004; re-chained after the outbox at rebase)
Create Date: 2026-11-30 10:30:00

"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from cablepin.cloud.domain.audit import (
    GENESIS,
    AuditContent,
    canonical_details,
    event_hash,
    person_ref,
)
from cablepin.cloud.models import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0005_audit_pseudonyms"
down_revision: str | Sequence[str] | None = "0005_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000

events = sa.table(
    "audit_events",
    sa.column("seq", sa.BigInteger()),
    sa.column("at", UtcDateTime()),
    sa.column("actor_id", sa.Integer()),
    sa.column("actor_email", sa.String()),
    sa.column("actor_role", sa.String()),
    sa.column("org_id", sa.Integer()),
    sa.column("action", sa.String()),
    sa.column("target", sa.String()),
    sa.column("reason", sa.Text()),
    sa.column("details", sa.Text()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _old_hash(prev: str, row: Any) -> str:
    """The rule of 0001-0004 (actor_email hashed), to check the chain before re-hashing."""
    import hashlib

    fields = {
        "seq": row.seq,
        "at": row.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": row.actor_id,
        "actor_email": row.actor_email,
        "actor_role": row.actor_role,
        "org_id": row.org_id,
        "action": row.action,
        "target": row.target,
        "reason": row.reason,
        "details": row.details,
    }
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(prev.encode() + b"\n" + body).hexdigest()


def upgrade() -> None:
    """Upgrade schema."""
    bind = op.get_bind()
    op.create_table(
        "audit_people",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_audit_people")),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))

    users = {
        email: (user_id, name)
        for user_id, email, name in bind.execute(sa.text("SELECT id, email, name FROM users"))
    }
    people: dict[int, tuple[str, str]] = {
        uid: (email, name) for email, (uid, name) in users.items()
    }
    refs = {email: person_ref(uid) for email, (uid, _name) in users.items()}

    def swap(value: Any) -> Any:
        return refs.get(value, value) if isinstance(value, str) else value

    old_prev = new_prev = GENESIS
    last, expected = 0, 1
    while True:
        rows = bind.execute(
            sa.select(events).where(events.c.seq > last).order_by(events.c.seq).limit(BATCH)
        ).all()
        if not rows:
            break
        changes = []
        for row in rows:
            if (
                row.seq != expected
                or row.prev_hash != old_prev
                or _old_hash(old_prev, row) != row.hash
            ):
                raise RuntimeError(
                    f"the audit chain does not verify at event {row.seq} before migration "
                    "0005; run `cablepin admin verify-audit`, restore from a backup, then upgrade"
                )
            old_prev, expected = row.hash, expected + 1
            if row.actor_id is not None and row.actor_id not in people and row.actor_email:
                people[row.actor_id] = (row.actor_email, "")
            details = json.loads(row.details)
            if isinstance(details, dict) and any(swap(v) != v for v in details.values()):
                new_details = canonical_details({k: swap(v) for k, v in details.items()})
            else:
                new_details = row.details
            content = AuditContent(
                seq=row.seq,
                at=row.at,
                actor_id=row.actor_id,
                actor_role=row.actor_role,
                org_id=row.org_id,
                action=row.action,
                target=swap(row.target),
                reason=row.reason,
                details=new_details,
            )
            own = event_hash(new_prev, content)
            changes.append(
                {
                    "k": row.seq,
                    "target": content.target,
                    "details": new_details,
                    "prev_hash": new_prev,
                    "hash": own,
                }
            )
            new_prev = own
        bind.execute(
            sa.update(events)
            .where(events.c.seq == sa.bindparam("k"))
            .values(
                target=sa.bindparam("target"),
                details=sa.bindparam("details"),
                prev_hash=sa.bindparam("prev_hash"),
                hash=sa.bindparam("hash"),
            ),
            changes,
        )
        last = rows[-1].seq
    head = bind.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).one_or_none()
    if head is not None and (head.seq, head.hash) != (expected - 1, old_prev):
        raise RuntimeError(
            "the audit head does not match the chain before migration 0005; run "
            "`cablepin admin verify-audit`, restore from a backup, then upgrade"
        )
    bind.execute(
        sa.text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
        {"seq": expected - 1, "hash": new_prev},
    )
    if people:
        bind.execute(
            sa.text("INSERT INTO audit_people (user_id, email, name) VALUES (:u, :e, :n)"),
            [{"u": uid, "e": email, "n": name} for uid, (email, name) in sorted(people.items())],
        )
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("actor_email")


def downgrade() -> None:
    """Refused: e-mail addresses erased since cannot come back into the hashed content."""
    raise RuntimeError(
        "0005_audit_pseudonyms cannot be undone (erased people cannot be restored); "
        "restore a backup taken before the upgrade instead"
    )

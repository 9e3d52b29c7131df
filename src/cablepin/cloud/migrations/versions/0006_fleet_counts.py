"""fleet counts (issue 12, B4): per-organisation cable counts kept by triggers; a stale index

- ``org_cable_counts``: per organisation the number of cables, of cables on
  PIN 0000 (``pin_default`` true), of cables whose PIN is unknown (NULL) and of
  cables with an active assignment. The overview and the unassigned filter's
  total read this one row instead of counting 100,000 cables joined to their
  assignments (B4: 150 ms).
- The counts are kept by database triggers, in the transaction of every
  change to ``organisations``, ``cables`` and ``assignments``, whoever makes it
  (any service, a hand-run SQL fix): the one place they are kept.
  ``models.RECOUNT`` recomputes them from the rows (here for the rows that
  exist; a bulk load that skips triggers runs it too); the drift test
  compares the two after every kind of change.
- ``cables (org_id, last_sync_at, registered_at)``: "not synced for 14 days"
  depends on the time, so it is counted, as two index range scans.

Revision ID: 0006_fleet_counts
Revises: 0005_money_out
Create Date: 2026-11-30 13:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cablepin.cloud.models import RECOUNT

# revision identifiers, used by Alembic.
revision: str = "0006_fleet_counts"
down_revision: str | Sequence[str] | None = "0005_money_out"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What one cable row adds to its organisation's counts (sign 1) or takes away (-1).
# ``R`` is NEW or OLD; the CASE forms read the same in PostgreSQL and SQLite.
_CABLE = (
    "UPDATE org_cable_counts SET cables = cables + {s},"
    " default_pin = default_pin + {s} * (CASE WHEN {r}.pin_default THEN 1 ELSE 0 END),"
    " pin_unknown = pin_unknown + {s} * (CASE WHEN {r}.pin_default IS NULL THEN 1 ELSE 0 END),"
    " assigned = assigned + {s} * (CASE WHEN EXISTS (SELECT 1 FROM assignments AS a"
    "  WHERE a.cable_id = {r}.id AND a.ended_at IS NULL) THEN 1 ELSE 0 END)"
    " WHERE org_id = {r}.org_id"
)
_ASSIGNMENT = (
    "UPDATE org_cable_counts SET assigned = assigned + {s}"
    " WHERE org_id = (SELECT c.org_id FROM cables AS c WHERE c.id = {r}.cable_id)"
)
_ORG = (
    "INSERT INTO org_cable_counts (org_id, cables, default_pin, pin_unknown, assigned)"
    " VALUES (NEW.id, 0, 0, 0, 0)"
)
# A cable moves between organisations or changes what it counts as: the old row out, the new in.
_CABLE_CHANGED = "OLD.org_id <> NEW.org_id OR OLD.pin_default IS DISTINCT FROM NEW.pin_default"
_ACTIVE_CHANGED = "OLD.cable_id <> NEW.cable_id OR (OLD.ended_at IS NULL) <> (NEW.ended_at IS NULL)"

_PG_FUNCTIONS = {
    "org_cable_counts_org": f"{_ORG};",
    "org_cable_counts_cable": f"""
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {_CABLE.format(s=-1, r="OLD")}; END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN {_CABLE.format(s=1, r="NEW")}; END IF;""",
    "org_cable_counts_assignment": f"""
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.ended_at IS NULL THEN
            {_ASSIGNMENT.format(s=-1, r="OLD")};
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.ended_at IS NULL THEN
            {_ASSIGNMENT.format(s=1, r="NEW")};
        END IF;""",
    # TRUNCATE fires no row trigger: what it empties counts nothing any more.
    "org_cable_counts_cables_truncated": (
        "UPDATE org_cable_counts SET cables = 0, default_pin = 0, pin_unknown = 0, assigned = 0;"
    ),
    "org_cable_counts_assignments_truncated": "UPDATE org_cable_counts SET assigned = 0;",
}

_PG_TRIGGERS = (
    "CREATE TRIGGER tr_org_cable_counts AFTER INSERT ON organisations"
    " FOR EACH ROW EXECUTE FUNCTION org_cable_counts_org()",
    "CREATE TRIGGER tr_org_cable_counts AFTER INSERT OR DELETE ON cables"
    " FOR EACH ROW EXECUTE FUNCTION org_cable_counts_cable()",
    "CREATE TRIGGER tr_org_cable_counts_update AFTER UPDATE OF org_id, pin_default ON cables"
    f" FOR EACH ROW WHEN ({_CABLE_CHANGED}) EXECUTE FUNCTION org_cable_counts_cable()",
    "CREATE TRIGGER tr_org_cable_counts_truncate AFTER TRUNCATE ON cables"
    " FOR EACH STATEMENT EXECUTE FUNCTION org_cable_counts_cables_truncated()",
    "CREATE TRIGGER tr_org_cable_counts AFTER INSERT OR DELETE ON assignments"
    " FOR EACH ROW EXECUTE FUNCTION org_cable_counts_assignment()",
    "CREATE TRIGGER tr_org_cable_counts_update AFTER UPDATE OF cable_id, ended_at ON assignments"
    f" FOR EACH ROW WHEN ({_ACTIVE_CHANGED}) EXECUTE FUNCTION org_cable_counts_assignment()",
    "CREATE TRIGGER tr_org_cable_counts_truncate AFTER TRUNCATE ON assignments"
    " FOR EACH STATEMENT EXECUTE FUNCTION org_cable_counts_assignments_truncated()",
)

_SQLITE_TRIGGERS = (
    f"CREATE TRIGGER tr_org_cable_counts_org AFTER INSERT ON organisations BEGIN {_ORG}; END",
    "CREATE TRIGGER tr_org_cable_counts_cable_insert AFTER INSERT ON cables"
    f" BEGIN {_CABLE.format(s=1, r='NEW')}; END",
    "CREATE TRIGGER tr_org_cable_counts_cable_delete AFTER DELETE ON cables"
    f" BEGIN {_CABLE.format(s=-1, r='OLD')}; END",
    "CREATE TRIGGER tr_org_cable_counts_cable_update AFTER UPDATE OF org_id, pin_default"
    f" ON cables WHEN {_CABLE_CHANGED.replace('IS DISTINCT FROM', 'IS NOT')}"
    f" BEGIN {_CABLE.format(s=-1, r='OLD')}; {_CABLE.format(s=1, r='NEW')}; END",
    "CREATE TRIGGER tr_org_cable_counts_assignment_insert AFTER INSERT ON assignments"
    f" WHEN NEW.ended_at IS NULL BEGIN {_ASSIGNMENT.format(s=1, r='NEW')}; END",
    "CREATE TRIGGER tr_org_cable_counts_assignment_delete AFTER DELETE ON assignments"
    f" WHEN OLD.ended_at IS NULL BEGIN {_ASSIGNMENT.format(s=-1, r='OLD')}; END",
    "CREATE TRIGGER tr_org_cable_counts_assignment_update AFTER UPDATE OF cable_id, ended_at"
    f" ON assignments WHEN {_ACTIVE_CHANGED} BEGIN"
    f" {_ASSIGNMENT.format(s=-1, r='OLD')} AND OLD.ended_at IS NULL;"
    f" {_ASSIGNMENT.format(s=1, r='NEW')} AND NEW.ended_at IS NULL;"
    " END",
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "org_cable_counts",
        sa.Column("org_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cables", sa.Integer(), nullable=False),
        sa.Column("default_pin", sa.Integer(), nullable=False),
        sa.Column("pin_unknown", sa.Integer(), nullable=False),
        sa.Column("assigned", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_org_cable_counts_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_org_cable_counts")),
    )
    op.create_index(
        "ix_cables_org_sync_registered", "cables", ["org_id", "last_sync_at", "registered_at"]
    )
    if _postgres():
        for name, body in _PG_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {body} RETURN NULL; END $$"
            )
        for statement in _PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    for statement in RECOUNT:
        op.execute(statement)


def downgrade() -> None:
    """Downgrade schema."""
    if _postgres():
        for table in ("organisations", "cables", "assignments"):
            for suffix in ("", "_update", "_truncate"):
                op.execute(f"DROP TRIGGER IF EXISTS tr_org_cable_counts{suffix} ON {table}")
        for name in _PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute("DROP TRIGGER " + statement.split()[2])
    op.drop_index("ix_cables_org_sync_registered", table_name="cables")
    op.drop_table("org_cable_counts")

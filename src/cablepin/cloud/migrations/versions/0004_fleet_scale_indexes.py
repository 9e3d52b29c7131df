"""Fleet scale (issue 12, B4): keyset and search indexes; certificates out of the cables heap

- ``users (org_id, role, name, email)``: the drivers list pages by (name, email).
- ``audit_events (org_id, action, seq)``: the audit page filtered by one action.
- ``charging_sessions``: ``(start_s, id)`` for ``GET /sessions`` newest first,
  ``(driver_id, start_s, id)`` (replaces ``(driver_id, start_s)``) and
  ``(cable_id, start_s, id)`` for its cursor paging by driver and by cable.
- PostgreSQL only: ``cables (serial varchar_pattern_ops)`` so a serial prefix
  search (``LIKE 'CBL-0001%'``) uses an index under any collation; and the
  526-byte certificate stored out of line (TOAST, ``toast_tuple_target`` 128,
  ``STORAGE EXTERNAL``) so the counts and lists that read every cable of an
  organisation read a slim heap. This applies to rows written from now on;
  ``VACUUM FULL cables`` moves the certificates of existing rows.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-30 07:50:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_users_org_role_name_email", "users", ["org_id", "role", "name", "email"])
    op.create_index("ix_audit_events_org_action_seq", "audit_events", ["org_id", "action", "seq"])
    op.drop_index("ix_charging_sessions_driver_start", table_name="charging_sessions")
    op.create_index(
        "ix_charging_sessions_driver_start_id", "charging_sessions", ["driver_id", "start_s", "id"]
    )
    op.create_index(
        "ix_charging_sessions_cable_start_id", "charging_sessions", ["cable_id", "start_s", "id"]
    )
    op.create_index("ix_charging_sessions_start_id", "charging_sessions", ["start_s", "id"])
    if _postgres():
        op.create_index(
            "ix_cables_serial_pattern",
            "cables",
            ["serial"],
            postgresql_ops={"serial": "varchar_pattern_ops"},
        )
        op.execute("ALTER TABLE cables ALTER COLUMN cert_pem SET STORAGE EXTERNAL")
        op.execute("ALTER TABLE cables SET (toast_tuple_target = 128)")


def downgrade() -> None:
    """Downgrade schema."""
    if _postgres():
        op.execute("ALTER TABLE cables RESET (toast_tuple_target)")
        op.execute("ALTER TABLE cables ALTER COLUMN cert_pem SET STORAGE EXTENDED")
        op.drop_index("ix_cables_serial_pattern", table_name="cables")
    op.drop_index("ix_charging_sessions_start_id", table_name="charging_sessions")
    op.drop_index("ix_charging_sessions_cable_start_id", table_name="charging_sessions")
    op.drop_index("ix_charging_sessions_driver_start_id", table_name="charging_sessions")
    op.create_index(
        "ix_charging_sessions_driver_start", "charging_sessions", ["driver_id", "start_s"]
    )
    op.drop_index("ix_audit_events_org_action_seq", table_name="audit_events")
    op.drop_index("ix_users_org_role_name_email", table_name="users")

"""Fleet scale (issue 12, B4): keyset and search indexes; certificates in their own table

- ``users (org_id, role, name, email)``: the drivers list pages by (name, email).
- ``audit_events (org_id, action, seq)``: the audit page filtered by one action.
- ``charging_sessions``: ``(start_s, id)`` for ``GET /sessions`` newest first,
  ``(driver_id, start_s, id)`` (replaces ``(driver_id, start_s)``) and
  ``(cable_id, start_s, id)`` for its cursor paging by driver and by cable.
- PostgreSQL only: ``cables (serial varchar_pattern_ops)`` so a serial prefix
  search (``LIKE 'CBL-0001%'``) uses an index under any collation.
- ``cables.cert_pem`` moves to its own table ``cable_certs`` so that the counts
  and lists that read every cable of an organisation read slim rows (the
  certificate was about 530 of 680 bytes a row, below PostgreSQL's TOAST
  threshold, so it stayed in the heap).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 07:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
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
    op.create_table(
        "cable_certs",
        sa.Column("cable_id", sa.Integer(), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cable_id"], ["cables.id"], name=op.f("fk_cable_certs_cable_id_cables")
        ),
        sa.PrimaryKeyConstraint("cable_id", name=op.f("pk_cable_certs")),
    )
    op.execute("INSERT INTO cable_certs (cable_id, cert_pem) SELECT id, cert_pem FROM cables")
    with op.batch_alter_table("cables", schema=None) as batch_op:
        batch_op.drop_column("cert_pem")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("cables", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cert_pem", sa.Text(), nullable=True))
    op.execute(
        "UPDATE cables SET cert_pem = "
        "(SELECT cert_pem FROM cable_certs WHERE cable_certs.cable_id = cables.id)"
    )
    with op.batch_alter_table("cables", schema=None) as batch_op:
        batch_op.alter_column("cert_pem", existing_type=sa.Text(), nullable=False)
    op.drop_table("cable_certs")
    if _postgres():
        op.drop_index("ix_cables_serial_pattern", table_name="cables")
    op.drop_index("ix_charging_sessions_start_id", table_name="charging_sessions")
    op.drop_index("ix_charging_sessions_cable_start_id", table_name="charging_sessions")
    op.drop_index("ix_charging_sessions_driver_start_id", table_name="charging_sessions")
    op.create_index(
        "ix_charging_sessions_driver_start", "charging_sessions", ["driver_id", "start_s"]
    )
    op.drop_index("ix_audit_events_org_action_seq", table_name="audit_events")
    op.drop_index("ix_users_org_role_name_email", table_name="users")

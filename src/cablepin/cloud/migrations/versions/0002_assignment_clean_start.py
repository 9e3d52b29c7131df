"""assignments.clean_at: the clean-start check of an assignment (H3)

NULL means the check is open: the assignee cannot upload until a connect with
the cable's signed hello proves the cable clean (its epoch, head seq 0) or a
clean-start wipe's receipt arrives. Every assignment that exists when this runs
is marked clean: it was made under the rules of its day, and a check added
later must not wipe its driver's own sessions that are still on the cable.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clean_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE assignments SET clean_at = started_at")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("clean_at")

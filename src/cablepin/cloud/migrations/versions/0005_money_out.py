"""money out (M4): drivers' payroll and bank details, payment runs, receipts marked paid

- ``driver_accounts``: per driver the personnel number (fleet manager) and the
  IBAN (driver), the IBAN sealed with the deployment's bank key
  (``cloud/sealed.py``) next to its masked form.
- ``payment_runs``: each SEPA transfer file made for a month, kept (sealed)
  so it can be downloaded again.
- ``receipts.paid_at`` / ``receipts.payment_run_id``: set once, by the run
  that pays the receipt (``UPDATE ... WHERE paid_at IS NULL``).

Revision ID: 0005_money_out
Revises: 0005_audit_pseudonyms
Create Date: 2026-11-30 10:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005_money_out"
down_revision: str | Sequence[str] | None = "0005_audit_pseudonyms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "driver_accounts",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("personnel_number", sa.String(length=20), nullable=True),
        sa.Column("iban_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("iban_masked", sa.String(length=50), nullable=True),
        sa.Column("holder", sa.String(length=70), nullable=True),
        sa.Column("bank_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payroll_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_driver_accounts_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_driver_accounts")),
    )
    op.create_table(
        "payment_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("msg_id", sa.String(length=35), nullable=False),
        sa.Column("document_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_payment_runs_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_payment_runs_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_runs")),
    )
    op.create_index("ix_payment_runs_org_month", "payment_runs", ["org_id", "month"])
    op.add_column("receipts", sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("receipts", sa.Column("payment_run_id", sa.Integer(), nullable=True))
    # SQLite cannot add a constraint to a table in place (and receipts is referenced by
    # receipt_lines, so no copy-and-move either); PostgreSQL keeps the reference.
    if _postgres():
        op.create_foreign_key(
            "fk_receipts_payment_run_id_payment_runs",
            "receipts",
            "payment_runs",
            ["payment_run_id"],
            ["id"],
        )


def downgrade() -> None:
    """Downgrade schema."""
    if _postgres():
        op.drop_constraint(
            "fk_receipts_payment_run_id_payment_runs", "receipts", type_="foreignkey"
        )
    op.drop_column("receipts", "payment_run_id")
    op.drop_column("receipts", "paid_at")
    op.drop_index("ix_payment_runs_org_month", table_name="payment_runs")
    op.drop_table("payment_runs")
    op.drop_table("driver_accounts")

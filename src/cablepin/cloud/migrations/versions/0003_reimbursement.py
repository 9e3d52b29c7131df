"""reimbursement: billing policies, flat prices, tariffs, receipts, signed chain heads

``flat_prices`` is reference data: the statistical flat price per year
(2026: 0.34 EUR/kWh, BMF letter of 11 November 2025) is seeded here; only
support changes it afterwards (audited). ``chain_heads`` starts empty: heads
verified before this revision were not kept, and the next sync of each cable
brings a signed head that covers its earlier sessions too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 07:16:19

"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAT_PRICES = [
    {
        "year": 2026,
        "price": "0.34",
        "source": "Statistisches Bundesamt, Strompreis private Haushalte; BMF 11.11.2025",
    }
]


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "flat_prices",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_flat_prices")),
    )
    op.create_table(
        "billing_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("deadline_day", sa.Integer(), nullable=False),
        sa.Column("recipient_email", sa.String(length=320), nullable=True),
        sa.Column("wage_type", sa.String(length=40), nullable=True),
        sa.Column("debtor_name", sa.String(length=70), nullable=True),
        sa.Column("debtor_iban", sa.String(length=34), nullable=True),
        sa.Column("debtor_bic", sa.String(length=11), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_billing_policies_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_billing_policies_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_policies")),
        sa.UniqueConstraint("org_id", "year", name="uq_billing_policies_org_year"),
    )
    op.create_table(
        "chain_heads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cable_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sig", sa.LargeBinary(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cable_id"], ["cables.id"], name=op.f("fk_chain_heads_cable_id_cables")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_heads")),
        sa.UniqueConstraint("cable_id", "epoch", "seq", name="uq_chain_heads_cable_epoch_seq"),
    )
    op.create_table(
        "receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("total_wh", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("supplementary", sa.Boolean(), nullable=False),
        sa.Column("prices", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_receipts_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["users.id"], name=op.f("fk_receipts_driver_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_receipts_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipts_driver_id"), ["driver_id"], unique=False)
        batch_op.create_index("ix_receipts_org_month", ["org_id", "month"], unique=False)

    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=True),
        sa.Column("monthly_prices", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("document_type", sa.String(length=40), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_tariffs_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["users.id"], name=op.f("fk_tariffs_driver_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_tariffs_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariffs")),
    )
    with op.batch_alter_table("tariffs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tariffs_driver_id"), ["driver_id"], unique=False)

    op.create_table(
        "receipt_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=False),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("wh", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("price_ref", sa.String(length=40), nullable=False),
        sa.Column("rejected", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name=op.f("fk_receipt_lines_receipt_id_receipts")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["charging_sessions.id"],
            name=op.f("fk_receipt_lines_session_id_charging_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_lines")),
    )
    with op.batch_alter_table("receipt_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_receipt_lines_receipt_id"), ["receipt_id"], unique=False
        )
        batch_op.create_index("ix_receipt_lines_session", ["session_id"], unique=False)
        batch_op.create_index(
            "uq_receipt_lines_live_session",
            ["session_id"],
            unique=True,
            sqlite_where=sa.text("NOT rejected"),
            postgresql_where=sa.text("NOT rejected"),
        )

    op.bulk_insert(
        sa.table(
            "flat_prices",
            sa.column("year", sa.Integer),
            sa.column("price", sa.String),
            sa.column("source", sa.String),
            sa.column("updated_at", sa.DateTime(timezone=True)),
        ),
        [
            {**row, "updated_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC).replace(tzinfo=None)}
            for row in FLAT_PRICES
        ],
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("receipt_lines", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_receipt_lines_live_session",
            sqlite_where=sa.text("NOT rejected"),
            postgresql_where=sa.text("NOT rejected"),
        )
        batch_op.drop_index("ix_receipt_lines_session")
        batch_op.drop_index(batch_op.f("ix_receipt_lines_receipt_id"))

    op.drop_table("receipt_lines")
    with op.batch_alter_table("tariffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tariffs_driver_id"))

    op.drop_table("tariffs")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_receipts_org_month")
        batch_op.drop_index(batch_op.f("ix_receipts_driver_id"))

    op.drop_table("receipts")
    op.drop_table("chain_heads")
    op.drop_table("billing_policies")
    op.drop_table("flat_prices")

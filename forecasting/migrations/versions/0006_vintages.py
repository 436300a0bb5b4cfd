"""training plans as of past months (vintages)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vintages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("config", sa.String(length=32), nullable=False),
        sa.Column("data_hash", sa.String(length=64), nullable=False),
        sa.Column("library_versions", sa.Text(), nullable=False),
        sa.Column("artifact_path", sa.Text(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vintages")),
    )
    op.create_index(op.f("ix_vintages_month"), "vintages", ["month"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_vintages_month"), table_name="vintages")
    op.drop_table("vintages")

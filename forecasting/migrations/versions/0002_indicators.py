"""transit indicator values and their revisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00

Written by hand: creates exactly ``indicator_values`` and
``indicator_revisions`` of ``forecasting/schema.py``, with the names the
metadata's naming convention gives them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indicator_values",
        sa.Column("citizenship", sa.String(length=16), nullable=False),
        sa.Column("indicator", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("geo", sa.String(length=3), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_indicator_values_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint(
            "citizenship", "indicator", "period", "month", name=op.f("pk_indicator_values")
        ),
    )
    op.create_table(
        "indicator_revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("citizenship", sa.String(length=16), nullable=False),
        sa.Column("indicator", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("old_count", sa.Integer(), nullable=False),
        sa.Column("new_count", sa.Integer(), nullable=False),
        sa.Column("old_batch_id", sa.Integer(), nullable=False),
        sa.Column("new_batch_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["new_batch_id"],
            ["batches.id"],
            name=op.f("fk_indicator_revisions_new_batch_id_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["old_batch_id"],
            ["batches.id"],
            name=op.f("fk_indicator_revisions_old_batch_id_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_revisions")),
    )


def downgrade() -> None:
    op.drop_table("indicator_revisions")
    op.drop_table("indicator_values")

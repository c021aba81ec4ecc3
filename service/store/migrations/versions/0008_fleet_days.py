"""The fleet's findings per day, for the overview's 30-day trend.

A new table only.

Revision ID: 0008_fleet_days
Revises: 0007_image_layer_analysis
Create Date: 2026-12-06 03:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_fleet_days"
down_revision: str | None = "0007_image_layer_analysis"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fleet_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("fixable", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )


def downgrade() -> None:
    op.drop_table("fleet_day")

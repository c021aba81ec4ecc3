"""Per image, the analysis of its layers (efficiency, secrets left in them) as JSON.

Nullable: images scanned before have none, and policies on layers skip them until they
are scanned again.

Revision ID: 0007_image_layer_analysis
Revises: 0006_cve_facts
Create Date: 2026-12-06 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_image_layer_analysis"
down_revision: str | None = "0006_cve_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.add_column(sa.Column("layer_analysis", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_column("layer_analysis")

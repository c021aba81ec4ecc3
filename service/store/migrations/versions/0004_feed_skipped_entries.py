"""Per source, the ``affected`` entries the last import left out, counted by reason.

A new column with a server default, so existing rows read as "none left out".

Revision ID: 0004_feed_skipped_entries
Revises: 0003_vex_documents
Create Date: 2026-12-06 00:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_feed_skipped_entries"
down_revision: str | None = "0003_vex_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vuln_feed_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("skipped_entries", sa.JSON(), server_default="{}", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("vuln_feed_state", schema=None) as batch_op:
        batch_op.drop_column("skipped_entries")

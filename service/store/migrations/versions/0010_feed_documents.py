"""The ledger of each CVE feed's documents: per (feed, document name) its digest and the
stamp of each record it held when last imported, so a re-import reads only what changed
(empty after the upgrade: the first import of each document reads it whole, as before).
And, per package the change log names, whether only exploitation signals (KEV, EPSS)
changed for it (false for the changes logged before).

Revision ID: 0010_feed_documents
Revises: 0009_admission_log_exploitation
Create Date: 2026-12-06 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010_feed_documents"
down_revision: str | None = "0009_admission_log_exploitation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vuln_feed_document",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        sa.Column("records", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source", "name"),
    )
    with op.batch_alter_table("vuln_changed_package", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signals_only", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("vuln_changed_package", schema=None) as batch_op:
        batch_op.drop_column("signals_only")
    op.drop_table("vuln_feed_document")

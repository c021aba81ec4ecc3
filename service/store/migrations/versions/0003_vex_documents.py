"""VEX documents stored in the service (``/api/v1/vex``), applied to every stored image.

A new table only. ``digest`` scopes a document attested on one image to that image.

Revision ID: 0003_vex_documents
Revises: 0002_incremental_reevaluation
Create Date: 2026-12-06 00:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003_vex_documents"
down_revision: str | None = "0002_incremental_reevaluation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vex_document",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vex_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vex_document_digest"), ["digest"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vex_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vex_document_digest"))
    op.drop_table("vex_document")

"""API token terms: when a token expires and when it was last used.

A new table only (no column on an existing table), so a database adopted by creating the
missing tables still matches the models. Tokens created before this revision have no
term: they never expire until revoked, and their first use records one.

Revision ID: 0005_token_terms
Revises: 0004_feed_skipped_entries
Create Date: 2026-12-06 00:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0005_token_terms"
down_revision: str | None = "0004_feed_skipped_entries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token_term",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["api_token.id"]),
        sa.PrimaryKeyConstraint("token_id"),
    )


def downgrade() -> None:
    op.drop_table("api_token_term")

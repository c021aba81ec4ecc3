"""Incremental re-evaluation: the packages each vulnerability-database import changed, each
stored catalog's matched packages (lookup key and reference) and the revision its findings
were matched at.

New tables only (no column on an existing table), so a database adopted by creating the
missing tables still matches the models. Catalogs stored before this revision have no
packages and no matched revision: the next re-evaluation matches them and fills both in.

Revision ID: 0002_incremental_reevaluation
Revises: 0001_initial
Create Date: 2026-11-29 01:48:18.530482
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0002_incremental_reevaluation"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_match",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "catalog_package",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ecosystem", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("package", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("lookup_version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("package_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("purl", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("digest", "position"),
    )
    with op.batch_alter_table("catalog_package", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_package_key", ["ecosystem", "package"], unique=False)

    op.create_table(
        "vuln_changed_package",
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("ecosystem", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("package", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("revision", "ecosystem", "package"),
    )


def downgrade() -> None:
    op.drop_table("vuln_changed_package")
    with op.batch_alter_table("catalog_package", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_package_key")

    op.drop_table("catalog_package")
    op.drop_table("catalog_match")

"""Facts about CVEs (NVD and CVE-record CVSS, KEV, EPSS), one row per (feed, CVE), and
the CVEs each stored advisory names, so a CVE feed's import can log the packages whose
findings it changes.

The CVEs of advisories imported before this revision are filled in from their stored
payloads (the advisory's id and aliases).

Revision ID: 0006_cve_facts
Revises: 0005_token_terms
Create Date: 2026-12-06 02:10:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006_cve_facts"
down_revision: str | None = "0005_token_terms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 1000


def upgrade() -> None:
    op.create_table(
        "vuln_cve_fact",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cve_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("modified", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source", "cve_id"),
    )
    advisory_cve = op.create_table(
        "vuln_advisory_cve",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cve_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("ecosystem", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("package", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vuln_advisory_cve", schema=None) as batch_op:
        batch_op.create_index("ix_vuln_advisory_cve_cve", ["cve_id"], unique=False)
        batch_op.create_index("ix_vuln_advisory_cve_record", ["source", "record_id"], unique=False)
    _backfill(advisory_cve)


def _backfill(advisory_cve: sa.Table | None) -> None:
    assert advisory_cve is not None
    connection = op.get_bind()
    stored = connection.execute(
        sa.text("SELECT source, record_id, ecosystem, package, payload FROM vuln_advisory")
    )
    rows = []
    for source, record_id, ecosystem, package, payload in stored:
        data = json.loads(payload)
        names = {data.get("id", ""), *data.get("aliases", ())}
        rows += [
            {
                "source": source,
                "record_id": record_id,
                "cve_id": name,
                "ecosystem": ecosystem,
                "package": package,
            }
            for name in sorted(n for n in names if n.startswith("CVE-"))
        ]
        if len(rows) >= _CHUNK:
            op.bulk_insert(advisory_cve, rows)
            rows = []
    if rows:
        op.bulk_insert(advisory_cve, rows)


def downgrade() -> None:
    with op.batch_alter_table("vuln_advisory_cve", schema=None) as batch_op:
        batch_op.drop_index("ix_vuln_advisory_cve_record")
        batch_op.drop_index("ix_vuln_advisory_cve_cve")
    op.drop_table("vuln_advisory_cve")
    op.drop_table("vuln_cve_fact")

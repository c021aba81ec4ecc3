"""Initial schema: every Tollgate table (catalogs, vulnerability database, policies, scans,
images, tokens, webhook events).

Revision ID: 0001_initial
Revises: (none)
Create Date: 2026-11-28 20:46:30.324877
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("scopes", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "catalog_finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("vuln_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("package_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("catalog_finding", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_finding_digest", ["digest"], unique=False)

    op.create_table(
        "finding_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("vuln_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("package_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("db_revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("finding_event", schema=None) as batch_op:
        batch_op.create_index("ix_finding_event_digest", ["digest"], unique=False)

    op.create_table(
        "image",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("registry_host", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("repository", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("first_seen", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("scanned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_scan_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("packages", sa.Integer(), nullable=False),
        sa.Column("critical", sa.Integer(), nullable=False),
        sa.Column("high", sa.Integer(), nullable=False),
        sa.Column("medium", sa.Integer(), nullable=False),
        sa.Column("low", sa.Integer(), nullable=False),
        sa.Column("negligible", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("fixable", sa.Integer(), nullable=False),
        sa.Column("max_severity", sa.Integer(), nullable=False),
        sa.Column("policy_outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("scan_state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("signed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("attestations", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("config", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.create_index("ix_image_max_severity", ["max_severity"], unique=False)
        batch_op.create_index("ix_image_policy_outcome", ["policy_outcome"], unique=False)
        batch_op.create_index("ix_image_repository", ["repository"], unique=False)
        batch_op.create_index("ix_image_scanned_at", ["scanned_at"], unique=False)

    op.create_table(
        "image_vuln",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("vuln_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fixable", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("image_vuln", schema=None) as batch_op:
        batch_op.create_index("ix_image_vuln_digest", ["digest"], unique=False)
        batch_op.create_index("ix_image_vuln_vuln_id", ["vuln_id"], unique=False)

    op.create_table(
        "policy_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("bundle", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("bundle_version", sa.Integer(), nullable=True),
        sa.Column("policy", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("policy_decision", schema=None) as batch_op:
        batch_op.create_index("ix_policy_decision_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_policy_decision_digest", ["digest"], unique=False)

    op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="uq_policy_version_name_version"),
    )
    with op.batch_alter_table("policy_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_version_name"), ["name"], unique=False)

    op.create_table(
        "scan",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("queue", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("dedup_key", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("engine", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("engine_version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("db_revision", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("timings", sa.Text(), nullable=True),
        sa.Column("findings", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    with op.batch_alter_table("scan", schema=None) as batch_op:
        batch_op.create_index("ix_scan_digest", ["digest"], unique=False)
        batch_op.create_index("ix_scan_finished_at", ["finished_at"], unique=False)
        batch_op.create_index("ix_scan_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "stored_catalog",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stored_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "vuln_advisory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("ecosystem", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("package", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vuln_advisory", schema=None) as batch_op:
        batch_op.create_index("ix_vuln_advisory_package", ["ecosystem", "package"], unique=False)
        batch_op.create_index("ix_vuln_advisory_record", ["source", "record_id"], unique=False)

    op.create_table(
        "vuln_feed_state",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "vuln_record",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("modified", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("source", "record_id"),
    )
    op.create_table(
        "vuln_summary",
        sa.Column("vuln_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fixable", sa.Boolean(), nullable=False),
        sa.Column("affected_images", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("vuln_id"),
    )
    with op.batch_alter_table("vuln_summary", schema=None) as batch_op:
        batch_op.create_index("ix_vuln_summary_affected", ["affected_images"], unique=False)

    op.create_table(
        "webhook_event",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id"),
    )


def downgrade() -> None:
    op.drop_table("webhook_event")
    with op.batch_alter_table("vuln_summary", schema=None) as batch_op:
        batch_op.drop_index("ix_vuln_summary_affected")

    op.drop_table("vuln_summary")
    op.drop_table("vuln_record")
    op.drop_table("vuln_feed_state")
    with op.batch_alter_table("vuln_advisory", schema=None) as batch_op:
        batch_op.drop_index("ix_vuln_advisory_record")
        batch_op.drop_index("ix_vuln_advisory_package")

    op.drop_table("vuln_advisory")
    op.drop_table("stored_catalog")
    with op.batch_alter_table("scan", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_status_created")
        batch_op.drop_index("ix_scan_finished_at")
        batch_op.drop_index("ix_scan_digest")

    op.drop_table("scan")
    with op.batch_alter_table("policy_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_version_name"))

    op.drop_table("policy_version")
    with op.batch_alter_table("policy_decision", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_decision_digest")
        batch_op.drop_index("ix_policy_decision_created_at")

    op.drop_table("policy_decision")
    with op.batch_alter_table("image_vuln", schema=None) as batch_op:
        batch_op.drop_index("ix_image_vuln_vuln_id")
        batch_op.drop_index("ix_image_vuln_digest")

    op.drop_table("image_vuln")
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_index("ix_image_scanned_at")
        batch_op.drop_index("ix_image_repository")
        batch_op.drop_index("ix_image_policy_outcome")
        batch_op.drop_index("ix_image_max_severity")

    op.drop_table("image")
    with op.batch_alter_table("finding_event", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_event_digest")

    op.drop_table("finding_event")
    with op.batch_alter_table("catalog_finding", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_finding_digest")

    op.drop_table("catalog_finding")
    op.drop_table("api_token")

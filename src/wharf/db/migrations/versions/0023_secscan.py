"""secscan: manifest indexes, their packages, the vulnerability store, the matches and the
state of the vulnerability sources (issue 16)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "secscan_indexes",
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("indexer_version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("distribution_json", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("indexed_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_secscan_indexes")),
    )
    op.create_table(
        "secscan_packages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("manifest_digest", sa.String(length=160), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("version_format", sa.String(length=16), nullable=False),
        sa.Column("ecosystem", sa.String(length=64), nullable=False),
        sa.Column("match_name", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("source_version", sa.String(length=255), nullable=False),
        sa.Column("arch", sa.String(length=32), nullable=False),
        sa.Column("added_by", sa.String(length=160), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_digest"],
            ["secscan_indexes.digest"],
            name=op.f("fk_secscan_packages_manifest_digest_secscan_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secscan_packages")),
    )
    op.create_index(
        op.f("ix_secscan_packages_manifest_digest"), "secscan_packages", ["manifest_digest"], unique=False
    )
    op.create_index(
        "ix_secscan_packages_match", "secscan_packages", ["ecosystem", "match_name"], unique=False
    )
    op.create_table(
        "secscan_vulnerabilities",
        sa.Column("id", _ID, nullable=False),
        sa.Column("osv_id", sa.String(length=255), nullable=False),
        sa.Column("aliases_json", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("links_json", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("vector", sa.String(length=255), nullable=True),
        sa.Column("modified", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("imported_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secscan_vulnerabilities")),
        sa.UniqueConstraint("osv_id", name=op.f("uq_secscan_vulnerabilities_osv_id")),
    )
    op.create_table(
        "secscan_affected",
        sa.Column("id", _ID, nullable=False),
        sa.Column("vulnerability_id", _ID, nullable=False),
        sa.Column("ecosystem", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(length=255), nullable=False),
        sa.Column("affected_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vulnerability_id"],
            ["secscan_vulnerabilities.id"],
            name=op.f("fk_secscan_affected_vulnerability_id_secscan_vulnerabilities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secscan_affected")),
    )
    op.create_index(
        op.f("ix_secscan_affected_vulnerability_id"), "secscan_affected", ["vulnerability_id"], unique=False
    )
    op.create_index("ix_secscan_affected_package", "secscan_affected", ["ecosystem", "package"], unique=False)
    op.create_table(
        "secscan_matches",
        sa.Column("package_id", _ID, nullable=False),
        sa.Column("vulnerability_id", _ID, nullable=False),
        sa.Column("manifest_digest", sa.String(length=160), nullable=False),
        sa.Column("fixed_by", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["secscan_packages.id"],
            name=op.f("fk_secscan_matches_package_id_secscan_packages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vulnerability_id"],
            ["secscan_vulnerabilities.id"],
            name=op.f("fk_secscan_matches_vulnerability_id_secscan_vulnerabilities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("package_id", "vulnerability_id", name=op.f("pk_secscan_matches")),
    )
    op.create_index(
        op.f("ix_secscan_matches_manifest_digest"), "secscan_matches", ["manifest_digest"], unique=False
    )
    op.create_index(
        op.f("ix_secscan_matches_vulnerability_id"), "secscan_matches", ["vulnerability_id"], unique=False
    )
    op.create_table(
        "secscan_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("etag", sa.String(length=255), nullable=True),
        sa.Column("last_modified", sa.String(length=64), nullable=True),
        sa.Column("last_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_success_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("imported", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secscan_sources")),
        sa.UniqueConstraint("url", name=op.f("uq_secscan_sources_url")),
    )


def downgrade() -> None:
    op.drop_table("secscan_sources")
    op.drop_table("secscan_matches")
    op.drop_table("secscan_affected")
    op.drop_table("secscan_vulnerabilities")
    op.drop_table("secscan_packages")
    op.drop_table("secscan_indexes")

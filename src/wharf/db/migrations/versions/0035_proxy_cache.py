"""proxy cache: an organization's upstream registry, the blobs a pulled-through manifest names
that are not stored yet, and the leases of blob fetches in progress (issue 18)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "proxy_cache_configs",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("upstream_registry", sa.String(length=512), nullable=False),
        sa.Column("username_sealed", sa.Text(), nullable=True),
        sa.Column("password_sealed", sa.Text(), nullable=True),
        sa.Column("expiration_s", sa.Integer(), nullable=False),
        sa.Column("insecure", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["accounts.id"],
            name=op.f("fk_proxy_cache_configs_org_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_proxy_cache_configs")),
    )
    op.create_table(
        "proxy_cache_pending_blobs",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifests.id"],
            name=op.f("fk_proxy_cache_pending_blobs_manifest_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("manifest_id", "digest", name=op.f("pk_proxy_cache_pending_blobs")),
    )
    op.create_index(
        op.f("ix_proxy_cache_pending_blobs_digest"), "proxy_cache_pending_blobs", ["digest"], unique=False
    )
    op.create_table(
        "proxy_cache_fetches",
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.Column("holder", sa.String(length=32), nullable=False),
        sa.Column("until_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_proxy_cache_fetches")),
    )


def downgrade() -> None:
    op.drop_table("proxy_cache_fetches")
    op.drop_index(op.f("ix_proxy_cache_pending_blobs_digest"), table_name="proxy_cache_pending_blobs")
    op.drop_table("proxy_cache_pending_blobs")
    op.drop_table("proxy_cache_configs")

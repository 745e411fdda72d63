"""organization mirroring: an organization's mirror of a namespace in another registry, and the
repositories it discovered there (issue 18)

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "org_mirror_configs",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("external_registry_type", sa.String(length=16), nullable=False),
        sa.Column("external_registry_url", sa.String(length=1024), nullable=False),
        sa.Column("external_namespace", sa.String(length=255), nullable=False),
        sa.Column("username_sealed", sa.Text(), nullable=True),
        sa.Column("password_sealed", sa.Text(), nullable=True),
        sa.Column("robot_id", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("sync_interval", sa.Integer(), nullable=False),
        sa.Column("sync_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("sync_expiration_ms", sa.BigInteger(), nullable=True),
        sa.Column("sync_status", sa.String(length=16), nullable=False),
        sa.Column("sync_retries_remaining", sa.Integer(), nullable=False),
        sa.Column("external_registry_config", sa.Text(), nullable=False),
        sa.Column("repository_filters", sa.Text(), nullable=False),
        sa.Column("architecture_filter", sa.Text(), nullable=False),
        sa.Column("skopeo_timeout", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["accounts.id"],
            name=op.f("fk_org_mirror_configs_org_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["robot_id"],
            ["accounts.id"],
            name=op.f("fk_org_mirror_configs_robot_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_org_mirror_configs")),
    )
    op.create_table(
        "org_mirror_repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("discovered_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org_mirror_configs.org_id"],
            name=op.f("fk_org_mirror_repositories_org_id_org_mirror_configs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_org_mirror_repositories_repository_id_repositories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_mirror_repositories")),
        sa.UniqueConstraint("org_id", "name", name="uq_org_mirror_repositories_org_name"),
    )
    op.create_index(
        op.f("ix_org_mirror_repositories_org_id"), "org_mirror_repositories", ["org_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_org_mirror_repositories_org_id"), table_name="org_mirror_repositories")
    op.drop_table("org_mirror_repositories")
    op.drop_table("org_mirror_configs")

"""repository mirroring: a repository's mirror configuration and the state of its sync (issue 18)

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repo_mirror_configs",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("external_reference", sa.String(length=1024), nullable=False),
        sa.Column("username_sealed", sa.Text(), nullable=True),
        sa.Column("password_sealed", sa.Text(), nullable=True),
        sa.Column("robot_id", sa.Integer(), nullable=True),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("sync_interval", sa.Integer(), nullable=False),
        sa.Column("sync_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("sync_expiration_ms", sa.BigInteger(), nullable=True),
        sa.Column("sync_status", sa.String(length=16), nullable=False),
        sa.Column("sync_retries_remaining", sa.Integer(), nullable=False),
        sa.Column("root_rule", sa.Text(), nullable=False),
        sa.Column("external_registry_config", sa.Text(), nullable=False),
        sa.Column("skopeo_timeout_interval", sa.Integer(), nullable=False),
        sa.Column("architecture_filter", sa.Text(), nullable=False),
        sa.Column("tags_done", sa.Integer(), nullable=False),
        sa.Column("tags_total", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_repo_mirror_configs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["robot_id"],
            ["accounts.id"],
            name=op.f("fk_repo_mirror_configs_robot_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_repo_mirror_configs")),
    )


def downgrade() -> None:
    op.drop_table("repo_mirror_configs")

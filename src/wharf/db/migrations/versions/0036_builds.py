"""builds, build_log_entries, user_files: manual Dockerfile builds and their logs, and the files
dropped for them (issue 20)

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("mime_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["accounts.id"], name=op.f("fk_user_files_owner_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_files")),
    )
    op.create_index(op.f("ix_user_files_owner_id"), "user_files", ["owner_id"], unique=False)
    op.create_index(op.f("ix_user_files_expires_ms"), "user_files", ["expires_ms"], unique=False)
    op.create_table(
        "builds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("docker_tags_json", sa.Text(), nullable=False),
        sa.Column("dockerfile_path", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("subdirectory", sa.Text(), nullable=False),
        sa.Column("archive_url", sa.Text(), nullable=True),
        sa.Column("resource_key", sa.String(length=36), nullable=True),
        sa.Column("pull_robot_id", sa.Integer(), nullable=True),
        sa.Column("manual_user_id", sa.Integer(), nullable=True),
        sa.Column("manual_user", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=True),
        sa.Column("completed_ms", sa.BigInteger(), nullable=True),
        sa.Column("manifest_digest", sa.String(length=160), nullable=True),
        sa.ForeignKeyConstraint(
            ["manual_user_id"],
            ["accounts.id"],
            name=op.f("fk_builds_manual_user_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pull_robot_id"],
            ["accounts.id"],
            name=op.f("fk_builds_pull_robot_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_builds_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds")),
        sa.UniqueConstraint("uuid", name=op.f("uq_builds_uuid")),
    )
    op.create_index("ix_builds_repository_created", "builds", ["repository_id", "created_ms"], unique=False)
    op.create_index(op.f("ix_builds_resource_key"), "builds", ["resource_key"], unique=False)
    op.create_index(op.f("ix_builds_completed_ms"), "builds", ["completed_ms"], unique=False)
    op.create_table(
        "build_log_entries",
        sa.Column("build_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data_json", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"], ["builds.id"], name=op.f("fk_build_log_entries_build_id_builds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("build_id", "sequence", name=op.f("pk_build_log_entries")),
    )


def downgrade() -> None:
    op.drop_table("build_log_entries")
    op.drop_table("builds")
    op.drop_table("user_files")

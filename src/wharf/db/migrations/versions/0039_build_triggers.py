"""build_triggers, and the trigger and its metadata on builds: builds started by a git push
(issue 20, Quay's RepositoryBuildTrigger)

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "build_triggers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("connected_user_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.String(length=64), nullable=True),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=True),
        sa.Column("private_key_sealed", sa.Text(), nullable=True),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("pull_robot_id", sa.Integer(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_build_triggers_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connected_user_id"],
            ["accounts.id"],
            name=op.f("fk_build_triggers_connected_user_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pull_robot_id"],
            ["accounts.id"],
            name=op.f("fk_build_triggers_pull_robot_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_build_triggers")),
        sa.UniqueConstraint("uuid", name=op.f("uq_build_triggers_uuid")),
    )
    op.create_index(
        op.f("ix_build_triggers_repository_id"), "build_triggers", ["repository_id"], unique=False
    )
    with op.batch_alter_table("builds") as batch:
        batch.add_column(sa.Column("trigger_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trigger_metadata_json", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_builds_trigger_id_build_triggers"),
            "build_triggers",
            ["trigger_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_builds_trigger_id"), ["trigger_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("builds") as batch:
        batch.drop_index(op.f("ix_builds_trigger_id"))
        batch.drop_constraint(op.f("fk_builds_trigger_id_build_triggers"), type_="foreignkey")
        batch.drop_column("trigger_metadata_json")
        batch.drop_column("trigger_id")
    op.drop_index(op.f("ix_build_triggers_repository_id"), table_name="build_triggers")
    op.drop_table("build_triggers")

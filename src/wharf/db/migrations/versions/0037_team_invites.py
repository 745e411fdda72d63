"""team invitations and password recovery: pending invitations to teams, password-reset codes,
and a pattern-ops index of account names for the entity search's prefix match (issue 19)

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("inviter_id", sa.Integer(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_invites_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["accounts.id"], name=op.f("fk_team_invites_user_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"],
            ["accounts.id"],
            name=op.f("fk_team_invites_inviter_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_invites")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_team_invites_code_hash")),
    )
    op.create_index(op.f("ix_team_invites_team_id"), "team_invites", ["team_id"])
    op.create_index(op.f("ix_team_invites_user_id"), "team_invites", ["user_id"])
    op.create_table(
        "recovery_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_recovery_tokens_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_tokens")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_recovery_tokens_code_hash")),
    )
    op.create_index(op.f("ix_recovery_tokens_account_id"), "recovery_tokens", ["account_id"])
    # The entity search's prefix match of account names. PostgreSQL's LIKE 'prefix%' uses a plain
    # index only under the C collation: text_pattern_ops serves it under any. (SQLite's GLOB uses
    # the unique index; this one is a copy there, kept so that the models are one schema.)
    op.create_index(
        "ix_accounts_name_pattern", "accounts", ["name"], postgresql_ops={"name": "text_pattern_ops"}
    )


def downgrade() -> None:
    op.drop_index("ix_accounts_name_pattern", table_name="accounts")
    op.drop_table("recovery_tokens")
    op.drop_table("team_invites")

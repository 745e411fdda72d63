"""external_login_states: logins under way at an OpenID Connect provider (issue 19)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "external_login_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("intent", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("verifier", sa.String(length=128), nullable=False),
        sa.Column("redirect", sa.String(length=2048), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_external_login_states_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_login_states")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_external_login_states_state_hash")),
    )
    with op.batch_alter_table("external_login_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_external_login_states_expires_ms"), ["expires_ms"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("external_login_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_login_states_expires_ms"))
    op.drop_table("external_login_states")

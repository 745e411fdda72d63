"""federated_logins: user accounts' identities in an LDAP directory (issue 19)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "federated_logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("service_ident", sa.String(length=255), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_federated_logins_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federated_logins")),
        sa.UniqueConstraint("service", "service_ident", name="uq_federated_logins_ident"),
    )
    with op.batch_alter_table("federated_logins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_federated_logins_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("federated_logins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federated_logins_account_id"))
    op.drop_table("federated_logins")

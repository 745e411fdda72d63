"""federated_logins.confirm_username: an account made at a first external sign-in under another
name than the external one, whose owner has not yet confirmed it (Quay's confirm_username prompt)

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("federated_logins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("confirm_username", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("federated_logins", schema=None) as batch_op:
        batch_op.drop_column("confirm_username")

"""build_triggers.auth_token_sealed: the OAuth token a GitHub build trigger was connected with
(sealed with the secret box): Wharf lists the user's repositories and installs and removes the
deploy key and webhook with it

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("build_triggers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auth_token_sealed", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("build_triggers", schema=None) as batch_op:
        batch_op.drop_column("auth_token_sealed")

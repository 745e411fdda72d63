"""secscan: indexes that failed for a passing reason (storage) are retried with a backoff

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("secscan_indexes") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("retry_after_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("secscan_indexes") as batch:
        batch.drop_column("retry_after_ms")
        batch.drop_column("attempts")

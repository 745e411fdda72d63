"""pull statistics: pull count and last pull per repository, tag name and manifest (issue 17)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 11:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _counters(table: str, *key: "sa.Column[str]") -> None:
    op.create_table(
        table,
        sa.Column("repository_id", sa.Integer(), nullable=False),
        *key,
        sa.Column("pull_count", sa.BigInteger(), nullable=False),
        sa.Column("last_pull_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f(f"fk_{table}_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", *(c.name for c in key), name=op.f(f"pk_{table}")),
    )


def upgrade() -> None:
    _counters("repository_pull_statistics")
    _counters("tag_pull_statistics", sa.Column("tag_name", sa.String(length=128), nullable=False))
    _counters("manifest_pull_statistics", sa.Column("manifest_digest", sa.String(length=160), nullable=False))


def downgrade() -> None:
    op.drop_table("manifest_pull_statistics")
    op.drop_table("tag_pull_statistics")
    op.drop_table("repository_pull_statistics")

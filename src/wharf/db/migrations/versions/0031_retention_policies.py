"""retention policies: auto-prune and immutability policies of namespaces and repositories
(issue 17)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 11:50:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _scoped(table: str) -> list[Any]:
    """The columns and keys both policy tables share: a uuid, a namespace, maybe a repository."""
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["accounts.id"],
            name=op.f(f"fk_{table}_namespace_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f(f"fk_{table}_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("uuid", name=op.f(f"uq_{table}_uuid")),
    ]


def upgrade() -> None:
    op.create_table(
        "autoprune_policies",
        *_scoped("autoprune_policies"),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("tag_pattern", sa.String(length=256), nullable=True),
        sa.Column("tag_pattern_matches", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "immutability_policies",
        *_scoped("immutability_policies"),
        sa.Column("tag_pattern", sa.String(length=256), nullable=False),
        sa.Column("tag_pattern_matches", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    for table in ("autoprune_policies", "immutability_policies"):
        for column in ("namespace_id", "repository_id"):
            op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)
    # An immutable tag never expires now (freezing clears the expiry): tags frozen by hand before
    # this revision may still carry one, which would end them behind their immutability.
    op.execute(sa.text("UPDATE tags SET expires_ms = NULL WHERE immutable AND lifetime_end_ms IS NULL"))


def downgrade() -> None:
    op.drop_table("immutability_policies")
    op.drop_table("autoprune_policies")

"""secscan_announced: the vulnerabilities `vulnerability_found` announced per manifest digest, so
that a re-match never announces one again (issue 16)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 11:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "secscan_announced",
        sa.Column("manifest_digest", sa.String(length=160), nullable=False),
        sa.Column("vulnerability_id", _ID, nullable=False),
        sa.Column("announced_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vulnerability_id"],
            ["secscan_vulnerabilities.id"],
            name=op.f("fk_secscan_announced_vulnerability_id_secscan_vulnerabilities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("manifest_digest", "vulnerability_id", name=op.f("pk_secscan_announced")),
    )
    op.create_index(
        op.f("ix_secscan_announced_vulnerability_id"), "secscan_announced", ["vulnerability_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("secscan_announced")

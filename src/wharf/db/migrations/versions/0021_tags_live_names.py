"""tags live names: a covering index for tag listings

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 06:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # tags/list reads the names of a repository's live tags that are neither hidden nor expired:
    # with `hidden` and `expires_ms` in the index, a page is read from the index alone, without a
    # table lookup per tag (uq_tags_live holds only repository_id and name).
    op.create_index(
        "ix_tags_live_names",
        "tags",
        ["repository_id", "name", "hidden", "expires_ms"],
        unique=False,
        sqlite_where=sa.text("lifetime_end_ms IS NULL"),
        postgresql_where=sa.text("lifetime_end_ms IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tags_live_names", table_name="tags")

"""tags live modified: an index for the Tags tab sorted by last change

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The web's Tags tab pages a repository's live tags by last change (core/tag_pages): with the
    # start time first, a page at any offset and its ordering are read from this index alone, and
    # `name` breaks ties so that the order is total.
    op.create_index(
        "ix_tags_live_modified",
        "tags",
        ["repository_id", "lifetime_start_ms", "name", "hidden", "expires_ms"],
        unique=False,
        sqlite_where=sa.text("lifetime_end_ms IS NULL"),
        postgresql_where=sa.text("lifetime_end_ms IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tags_live_modified", table_name="tags")

"""list indexes: tag history by time, public repositories by name

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The Tag history tab (core/history_pages) pages every lifetime of a repository newest first:
    # walked backwards, this index gives a page at any offset without sorting the repository's
    # rows (100,000 and more), `id` breaking ties as the query does; with `hidden` in it the count
    # and the page's ids are read from the index alone.
    op.create_index(
        "ix_tags_repository_start",
        "tags",
        ["repository_id", "lifetime_start_ms", "id", "hidden"],
        unique=False,
    )
    # The public repository list (anonymous visitors, the Public scope): its count and its pages in
    # name order from the public repositories' part of the index, not a scan of every repository.
    op.create_index(
        "ix_repositories_visibility_full_name",
        "repositories",
        ["visibility", "full_name"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_repositories_visibility_full_name", table_name="repositories")
    op.drop_index("ix_tags_repository_start", table_name="tags")

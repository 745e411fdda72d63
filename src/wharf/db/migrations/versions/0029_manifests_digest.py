"""manifests digest: find a manifest by digest in any repository

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 12:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Indexes are per digest and shared across repositories (issue 16): the index job reads a
    # manifest's body by digest alone (core/secscan.manifest_content), and vulnerability_found
    # looks for every repository holding a digest. The unique (repository_id, digest) index
    # cannot serve either: both scanned the whole table, once per indexed image.
    op.create_index("ix_manifests_digest", "manifests", ["digest"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_manifests_digest", table_name="manifests")

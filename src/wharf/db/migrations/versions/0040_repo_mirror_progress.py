"""repository mirroring: bytes copied by the running sync, when the last sync succeeded (for
getRepositoryMirrorHealth's stale mirrors), and the running sync's token (a sync resumed by
another worker makes the first one's writes no-ops) (issue 18)

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("repo_mirror_configs") as batch:
        batch.add_column(sa.Column("bytes_done", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_success_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("sync_token", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("repo_mirror_configs") as batch:
        batch.drop_column("sync_token")
        batch.drop_column("last_success_ms")
        batch.drop_column("bytes_done")

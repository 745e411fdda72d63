"""repo_mirror_configs.org_mirror: the repository mirror was made by its organization's mirror
(and nobody reconfigured it since). A new organization mirror takes such a repository over again
after the old configuration was deleted; a repository of the same name with no such mirror stays
the user's. Backfilled from the repositories organization mirrors list today.

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07 18:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("repo_mirror_configs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_mirror", sa.Boolean(), nullable=False, server_default=sa.false()))
    configs = sa.table("repo_mirror_configs", sa.column("repository_id"), sa.column("org_mirror", sa.Boolean))
    found = sa.table("org_mirror_repositories", sa.column("repository_id"))
    made = sa.select(found.c.repository_id).where(found.c.repository_id.is_not(None))
    op.execute(configs.update().where(configs.c.repository_id.in_(made)).values(org_mirror=True))


def downgrade() -> None:
    with op.batch_alter_table("repo_mirror_configs", schema=None) as batch_op:
        batch_op.drop_column("org_mirror")

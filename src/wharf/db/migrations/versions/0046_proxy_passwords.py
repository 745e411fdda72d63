"""repo_mirror_configs and org_mirror_configs .proxy_passwords_sealed: the passwords of the proxy
URLs in `external_registry_config`, sealed with the secret box (core/proxy_passwords.py); the
stored URLs show them as ********.

The secret box's key is not the migration's (it is in the configuration or in DATA_DIR, which
`wharf migrate` on another node may not have): rows written before keep their clear passwords
until their next write, or `wharf admin seal-proxy-passwords` seals them all.

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("repo_mirror_configs", "org_mirror_configs")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("proxy_passwords_sealed", sa.Text(), nullable=True))


def downgrade() -> None:
    # the sealed passwords are lost: the proxies of the mirrors written since want them again
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("proxy_passwords_sealed")

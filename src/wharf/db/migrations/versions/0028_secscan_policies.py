"""secscan settings: an organization's pull policy and SBOM attachment, a repository's SBOM
attachment (issue 16). Nullable columns: nodes still on the older code ignore them.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("secscan_pull_policy", sa.Text(), nullable=True))
        batch.add_column(sa.Column("secscan_sbom_format", sa.String(length=16), nullable=True))
    with op.batch_alter_table("repositories") as batch:
        batch.add_column(sa.Column("secscan_sbom_format", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.drop_column("secscan_sbom_format")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("secscan_sbom_format")
        batch.drop_column("secscan_pull_policy")

"""repositories.tags_version: a counter the database bumps whenever a live tag of the repository
changes, so that a server process may keep a page of tags/list and know, from the repository
lookup every request makes anyway, whether it still holds (core/tag_list_cache.py).

Triggers keep it rather than the code: every write to `tags` counts, whatever function makes it
(pushes, deletions, expiry changes, restores, proxy-cache eviction, a direct INSERT of a tool),
and it costs no statement of the writer's. A change that cannot alter a listing is not counted:
deleting a row that had already ended (garbage collection, the time machine's `forget`).
SQLite drops a table's triggers with the table: a later migration that rebuilds `tags` (batch
mode) must create them again (tests/core/test_migrations.py checks they exist at head).

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-07 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "UPDATE repositories SET tags_version = tags_version + 1 WHERE id = {row}.repository_id"

_SQLITE = [
    f"CREATE TRIGGER tags_version_insert AFTER INSERT ON tags BEGIN {_BUMP.format(row='NEW')}; END",
    "CREATE TRIGGER tags_version_update AFTER UPDATE ON tags"
    " WHEN OLD.lifetime_end_ms IS NULL OR NEW.lifetime_end_ms IS NULL"
    f" BEGIN {_BUMP.format(row='NEW')}; END",
    "CREATE TRIGGER tags_version_delete AFTER DELETE ON tags WHEN OLD.lifetime_end_ms IS NULL"
    f" BEGIN {_BUMP.format(row='OLD')}; END",
]

# On PostgreSQL the bump locks the repository's row until the transaction ends, so two pushes to
# one repository wait for each other there: run at COMMIT (a deferred constraint trigger), it
# holds the lock for the commit only, not for the statements of the push that follow the tag's.
_AT_COMMIT = "DEFERRABLE INITIALLY DEFERRED"

_POSTGRESQL = [
    "CREATE FUNCTION wharf_tags_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP = 'DELETE' THEN"
    f" {_BUMP.format(row='OLD')}; RETURN OLD;"
    " END IF;"
    f" {_BUMP.format(row='NEW')}; RETURN NEW;"
    " END $$",
    f"CREATE CONSTRAINT TRIGGER tags_version_insert AFTER INSERT ON tags {_AT_COMMIT}"
    " FOR EACH ROW EXECUTE FUNCTION wharf_tags_version()",
    f"CREATE CONSTRAINT TRIGGER tags_version_update AFTER UPDATE ON tags {_AT_COMMIT}"
    " FOR EACH ROW WHEN (OLD.lifetime_end_ms IS NULL OR NEW.lifetime_end_ms IS NULL)"
    " EXECUTE FUNCTION wharf_tags_version()",
    f"CREATE CONSTRAINT TRIGGER tags_version_delete AFTER DELETE ON tags {_AT_COMMIT}"
    " FOR EACH ROW WHEN (OLD.lifetime_end_ms IS NULL) EXECUTE FUNCTION wharf_tags_version()",
]

TRIGGERS = ("tags_version_insert", "tags_version_update", "tags_version_delete")


def upgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags_version", sa.BigInteger(), nullable=False, server_default="0"))
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}" if sqlite else f"DROP TRIGGER {name} ON tags")
    if not sqlite:
        op.execute("DROP FUNCTION wharf_tags_version()")
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("tags_version")

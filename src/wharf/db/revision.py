"""The schema revision this code needs, and the one a database is at, without Alembic.

Reading the migration scripts takes Alembic and Mako (about 7 MiB resident) and a moment; a
readiness probe asks every few seconds, in processes that never migrate. So the newest
revision is written down here, and tests/integration/test_migrations.py checks that it is the
head of db/migrations: a new migration that does not move HEAD fails that test.
"""

from __future__ import annotations

from sqlalchemy import text

from wharf.db.engine import Db

HEAD = "0046"
"""The newest migration in db/migrations/versions (Alembic's head)."""

_CURRENT = text("SELECT version_num FROM alembic_version")


def current(db: Db) -> str | None:
    """The revision the database is at, as Alembic records it (one row in alembic_version); None
    when it records none or several. Raises the database's error if there is no such table."""
    rows = db.execute(_CURRENT).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None

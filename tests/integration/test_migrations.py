"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL: a model
change without its migration (or a migration that differs from the model) fails here, not on an
operator's upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from wharf.config import Settings
from wharf.db.engine import Database
from wharf.db.migrate import upgrade
from wharf.db.models import Base


def test_migrations_match_the_models(settings: Settings) -> None:
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_uri, pool_size=1)
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        db.dispose()
    assert differences == [], "the models and the migrations differ: add a migration (docs/development.md)"

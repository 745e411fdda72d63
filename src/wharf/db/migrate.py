"""Run Alembic migrations programmatically, on SQLite or PostgreSQL."""

from __future__ import annotations

import functools
import logging
from pathlib import Path


def _not_routine(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(("Context impl ", "Will assume "))


# Alembic logs seven "setup plugin" lines when it is imported, and which dialect it talks to at
# every start: noise at INFO, so set aside before the imports below. "Running upgrade A -> B"
# stays: it is news.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
logging.getLogger("alembic.runtime.migration").addFilter(_not_routine)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection  # noqa: E402

from wharf.db.engine import Database  # noqa: E402

_SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    with db.engine.connect() as conn:
        command.upgrade(alembic_config(conn), revision)
        conn.commit()


@functools.cache
def head_revision() -> str | None:
    """The newest migration this code ships (parsed once: reading the scripts is slow)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The schema revision the database is at."""
    return MigrationContext.configure(conn).get_current_revision()


def is_current(db: Database) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head

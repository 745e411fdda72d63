"""SQL helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from wharf.db.engine import Db
from wharf.db.models import Base


def insert_ignore(db: Db, model: type[Base], rows: list[dict[str, Any]] | dict[str, Any]) -> None:
    """Insert rows, silently skipping those that would violate a unique constraint."""
    if not rows:
        return
    table = cast(Table, model.__table__)
    dialect = sqlite if db.dialect.name == "sqlite" else postgresql
    db.execute(dialect.insert(table).on_conflict_do_nothing(), rows if isinstance(rows, list) else [rows])

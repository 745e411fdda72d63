"""SQL helpers that differ between SQLite and PostgreSQL, and the DBAPI path of hot statements."""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import CursorResult, Insert, Table, text

from wharf.db import statements
from wharf.db.engine import Db
from wharf.db.models import Base

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

T = TypeVar("T")


def dialect_insert(dialect_name: str, table: Any) -> SqliteInsert | PgInsert:
    """The dialect's INSERT (with ON CONFLICT). The PostgreSQL dialect is imported only when used:
    a SQLite server never loads it (~2 MiB; tests/process/test_lazy_imports.py)."""
    if dialect_name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    from sqlalchemy.dialects import postgresql

    return postgresql.insert(table)


def insert_ignore(db: Db, model: type[Base], rows: list[dict[str, Any]] | dict[str, Any]) -> None:
    """Insert rows, silently skipping those that would violate a unique constraint: one statement
    for all of them (a manifest's blob links are one INSERT, not one per blob)."""
    if not rows:
        return
    db.execute(_insert_ignore(db.dialect.name, model), rows if isinstance(rows, list) else [rows])


@functools.cache
def _insert_ignore(dialect_name: str, model: type[Base]) -> Insert:
    table = cast(Table, model.__table__)
    statement = dialect_insert(dialect_name, table).on_conflict_do_nothing()
    # With RETURNING, SQLAlchemy sends the rows of an executemany as one multi-row VALUES
    # ("insertmanyvalues"); without it, the driver runs the statement once per row.
    return cast(Insert, statement.returning(*table.primary_key.columns))


def lock(db: Db, *key: object, shared: bool = False) -> None:
    """Serialise transactions that touch the same logical thing (a tag, a repository) until commit.

    SQLite needs nothing: its write transactions already run one at a time. PostgreSQL takes a
    transaction-scoped advisory lock on a 64-bit hash of the key; `shared` locks exclude only the
    exclusive holders of the same key (many pushes at once, but not while GC sweeps).
    """
    if db.dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    statement = _LOCK_SHARED if shared else _LOCK
    db.execute(statement, {"k": int.from_bytes(digest, "big", signed=True)})


_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(:k)")


def upsert_touch(
    db: Db, model: type[Base], row: dict[str, Any], keys: tuple[str, ...], touch: str | tuple[str, ...]
) -> None:
    """Insert a row, or when its key exists, refresh the `touch` column(s) to the row's values."""
    columns = (touch,) if isinstance(touch, str) else touch
    db.execute(_upsert_touch(db.dialect.name, model, keys, columns), row)


@functools.cache
def _upsert_touch(
    dialect_name: str, model: type[Base], keys: tuple[str, ...], columns: tuple[str, ...]
) -> Insert:
    # Built once per table: this is on the path of every finished upload (blobs.link).
    statement = dialect_insert(dialect_name, cast(Table, model.__table__))
    update = {c: statement.excluded[c] for c in columns}
    return cast(Insert, statement.on_conflict_do_update(index_elements=list(keys), set_=update))


def strings(result: CursorResult[Any]) -> list[str]:
    """The first column of every row, straight from the DBAPI cursor. A listing page of plain
    names needs no Row objects, and building them cost two thirds of a 1,000-name tag page."""
    try:
        return [r[0] for r in result.cursor.fetchall()]
    finally:
        result.close()


# The hot statements' DBAPI path (db/statements.py), for core's reads inside a transaction.
first = statements.first
rows = statements.rows
column = statements.column

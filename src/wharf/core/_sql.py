"""SQL helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import hashlib
from typing import Any, cast

from sqlalchemy import CursorResult, Insert, Table, text
from sqlalchemy.dialects import postgresql, sqlite

from wharf.db.engine import Db
from wharf.db.models import Base


def insert_ignore(db: Db, model: type[Base], rows: list[dict[str, Any]] | dict[str, Any]) -> None:
    """Insert rows, silently skipping those that would violate a unique constraint."""
    if not rows:
        return
    db.execute(_insert_ignore(db.dialect.name, model), rows if isinstance(rows, list) else [rows])


@functools.cache
def _insert_ignore(dialect_name: str, model: type[Base]) -> Insert:
    table = cast(Table, model.__table__)
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    return cast(Insert, dialect.insert(table).on_conflict_do_nothing())


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
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    statement = dialect.insert(cast(Table, model.__table__))
    update = {c: statement.excluded[c] for c in columns}
    return cast(Insert, statement.on_conflict_do_update(index_elements=list(keys), set_=update))


def strings(result: CursorResult[Any]) -> list[str]:
    """The first column of every row, straight from the DBAPI cursor. A listing page of plain
    names needs no Row objects, and building them cost two thirds of a 1,000-name tag page."""
    try:
        return [r[0] for r in result.cursor.fetchall()]
    finally:
        result.close()

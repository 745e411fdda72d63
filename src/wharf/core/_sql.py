"""SQL helpers that differ between SQLite and PostgreSQL, and the DBAPI path of hot statements."""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import CursorResult, Insert, Table, text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.selectable import GenerativeSelect

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


# --- Hot statements on the DBAPI cursor ---------------------------------------------------------
#
# `Connection.execute` of a prebuilt `select()` still walks the whole statement to compute its
# cache key, builds an execution context and Row objects: measured on the manifest GET's join,
# 430 µs of CPU against 210 µs for the same statement on psycopg's cursor, on SQLite about the
# same overhead against a statement that itself takes tens of microseconds. The few statements on
# the hottest paths (a manifest GET, a token's access check, a tag page) therefore run here:
# compiled once per dialect, executed on the driver's cursor, rows returned as tuples. psycopg
# prepares a statement on the server after it has run a few times on a connection
# (`prepare_threshold`), as it does under SQLAlchemy.


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    defaults: dict[str, Any]
    """Every parameter the statement takes, with its own values (literals) or None."""
    positions: tuple[str, ...] | None
    """For a positional paramstyle (SQLite's qmark), the parameters' order."""
    processors: tuple[Callable[[Any], Any] | None, ...] | None
    """Result conversions SQLAlchemy would apply (SQLite's 0/1 to bool), None when there is none."""


_compiled: dict[tuple[int, str], tuple[object, _Compiled]] = {}
_compiled_lock = threading.Lock()


def _compile(statement: GenerativeSelect, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    for bind in compiled.binds.values():
        # Hot statements take plain values: no type conversion on the way in, no expanding IN.
        if bind.expanding or bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
            raise ValueError(f"{bind.key!r} needs SQLAlchemy's parameter processing: use db.execute")
    processors = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.selected_columns
    )
    positions = tuple(compiled.positiontup) if compiled.positiontup else None
    return _Compiled(
        compiled.string,
        dict(compiled.params),
        positions,
        processors if any(p is not None for p in processors) else None,
    )


def _prepared(statement: GenerativeSelect, dialect: Dialect) -> _Compiled:
    key = (id(statement), dialect.name)
    hit = _compiled.get(key)
    if hit is None or hit[0] is not statement:
        with _compiled_lock:
            hit = (statement, _compile(statement, dialect))  # the statement kept: its id stays its own
            _compiled[key] = hit
    return hit[1]


def _execute(db: Db, statement: GenerativeSelect, params: Mapping[str, Any], fetch: Callable[[Any], T]) -> T:
    c = _prepared(statement, db.dialect)
    values = {**c.defaults, **params}  # as SQLAlchemy, a parameter the statement lacks is ignored
    args: Sequence[Any] | Mapping[str, Any] = (
        values if c.positions is None else [values[name] for name in c.positions]
    )
    cursor = None
    try:
        cursor = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(c.sql, args)
        result = fetch(cursor)
    except Exception as e:
        if not isinstance(e, db.dialect.loaded_dbapi.Error):
            raise
        # As SQLAlchemy does for its own statements: the DBAPI error wrapped (DataError,
        # IntegrityError...), and a connection found dead invalidated so that the caller may retry.
        db._handle_dbapi_exception(e, c.sql, args, cursor, None)
    finally:
        if cursor is not None:
            cursor.close()
    return result


def _convert(c: _Compiled, row: Sequence[Any]) -> tuple[Any, ...]:
    if c.processors is None:
        return tuple(row)
    return tuple(v if p is None or v is None else p(v) for p, v in zip(c.processors, row, strict=True))


def first(db: Db, statement: GenerativeSelect, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The first row of a hot statement (see above), as a tuple, or None."""
    row = _execute(db, statement, params, lambda cursor: cursor.fetchone())
    return None if row is None else _convert(_prepared(statement, db.dialect), row)


def rows(db: Db, statement: GenerativeSelect, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Every row of a hot statement, as tuples."""
    found = _execute(db, statement, params, lambda cursor: cursor.fetchall())
    c = _prepared(statement, db.dialect)
    return [tuple(r) for r in found] if c.processors is None else [_convert(c, r) for r in found]


def column(db: Db, statement: GenerativeSelect, params: Mapping[str, Any]) -> list[Any]:
    """The first column of every row of a hot statement: a listing page of plain names."""
    found = _execute(db, statement, params, lambda cursor: cursor.fetchall())
    c = _prepared(statement, db.dialect)
    convert = c.processors[0] if c.processors is not None else None
    if convert is None:
        return [r[0] for r in found]
    return [None if r[0] is None else convert(r[0]) for r in found]

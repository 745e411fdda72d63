"""How `Database` runs transactions, on SQLite and PostgreSQL: reads without BEGIN (each statement
reads committed data on its own), writes in one transaction, and a connection the server closed
is replaced instead of failing the next request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    literal,
    select,
    text,
    union_all,
)

from tests.conftest import DB_BACKEND, PG_URI
from wharf.config import Settings
from wharf.core import _sql
from wharf.db.engine import Database, Db


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    database = Database(settings.db_uri, pool_size=2)
    database.run_write(lambda c: c.execute(text("CREATE TABLE things (n INTEGER)")))
    yield database
    database.dispose()


def _in_transaction_block(conn: Db) -> bool:
    """Whether the statements so far run inside one BEGIN ... COMMIT."""
    conn.execute(text("SELECT 1"))  # a statement before: its transaction would still be open
    if conn.dialect.name == "sqlite":
        return bool(conn.connection.dbapi_connection.in_transaction)  # type: ignore[union-attr]
    # Within a transaction block, the block started before the statement that asks.
    started_before = "SELECT xact_start < query_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    return bool(conn.execute(text(started_before)).scalar_one())


def test_reads_run_without_a_transaction_block_and_writes_in_one(db: Database) -> None:
    assert db.run_read(_in_transaction_block) is False
    assert db.run_write(_in_transaction_block) is True


def test_a_failed_write_commits_nothing(db: Database) -> None:
    def insert_then_fail(conn: Db) -> None:
        conn.execute(text("INSERT INTO things (n) VALUES (1)"))
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        db.run_write(insert_then_fail)
    assert db.run_read(lambda c: c.execute(text("SELECT count(*) FROM things")).scalar_one()) == 0


def _end_connections(db: Database) -> int:
    """Terminate every server process serving `db`'s database, as a server restart would."""
    name = db.engine.url.database
    with psycopg.connect(PG_URI, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(*) FROM ("
            " SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()) AS t",
            (name,),
        ).fetchone()
    assert ended is not None
    return int(ended[0])


@pytest.mark.skipif(DB_BACKEND != "postgresql", reason="SQLite has no server to lose")
def test_connections_the_server_closed_are_replaced(db: Database) -> None:
    """Connections are not pinged when taken from the pool (a round trip per transaction): a
    transaction that meets a dead one runs again on a fresh connection."""
    count = "SELECT count(*) FROM things"
    db.run_write(lambda c: c.execute(text("INSERT INTO things (n) VALUES (1)")))
    assert _end_connections(db) >= 1
    assert db.run_read(lambda c: c.execute(text(count)).scalar_one()) == 1

    assert _end_connections(db) >= 1
    db.run_write(lambda c: c.execute(text("INSERT INTO things (n) VALUES (2)")))
    assert db.run_read(lambda c: c.execute(text("SELECT sum(n) FROM things")).scalar_one()) == 3

    # A hot statement, run on the DBAPI cursor, meets a dead connection the same way.
    assert _end_connections(db) >= 1
    assert db.run_read(lambda c: _sql.column(c, _THINGS, {"above": 0})) == [1, 2]


_META = MetaData()
_RECORDS = Table(
    "records",
    _META,
    Column("id", Integer, primary_key=True),
    Column("name", String(100)),
    Column("flag", Boolean),
    Column("data", LargeBinary),
)
_THINGS = (
    select(Table("things", MetaData(), Column("n", Integer)).c.n).where(text("n > :above")).order_by("n")
)
_BY_NAME = select(_RECORDS).where(_RECORDS.c.name == bindparam("name"))
_SOME = (
    select(_RECORDS.c.name, _RECORDS.c.flag)
    .where(_RECORDS.c.id > bindparam("after"), _RECORDS.c.flag.is_(True))
    .order_by(_RECORDS.c.name)
    .limit(bindparam("limit"))
)
_LABELLED = union_all(
    select(literal("first").label("source"), _RECORDS.c.id).where(_RECORDS.c.name == bindparam("name")),
    select(literal("second").label("source"), _RECORDS.c.id).where(_RECORDS.c.id == bindparam("id")),
)


def test_hot_statements_on_the_cursor_read_what_sqlalchemy_reads(db: Database) -> None:
    """`_sql.first`/`rows`/`column` run prebuilt statements on the DBAPI cursor: the same rows as
    `Connection.execute`, with its conversions (SQLite's 0/1 booleans), literals and LIMIT."""
    db.run_write(lambda c: _META.create_all(c))
    db.run_write(
        lambda c: c.execute(
            _RECORDS.insert(),
            [
                {"id": 1, "name": "b", "flag": True, "data": b"\x00\x01"},
                {"id": 2, "name": "a", "flag": False, "data": None},
                {"id": 3, "name": "c", "flag": True, "data": b""},
            ],
        )
    )

    def both(c: Db) -> None:
        for name in ("a", "b", "zzz"):
            expected = c.execute(_BY_NAME, {"name": name}).first()
            got = _sql.first(c, _BY_NAME, {"name": name})
            assert got == (None if expected is None else tuple(expected))
        got_rows = _sql.rows(c, _SOME, {"after": 0, "limit": 10})
        assert got_rows == [("b", True), ("c", True)]
        assert all(type(flag) is bool for _, flag in got_rows)
        assert _sql.column(c, _SOME, {"after": 0, "limit": 1}) == ["b"]
        assert sorted(_sql.rows(c, _LABELLED, {"name": "a", "id": 3})) == [("first", 2), ("second", 3)]
        assert _sql.first(c, _BY_NAME, {"name": "b"}) == (1, "b", True, b"\x00\x01")

    db.run_read(both)


def test_a_value_a_hot_statement_cannot_take_is_bad_input(settings: Settings) -> None:
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    database = Database(settings.db_uri, pool_size=1, value_error=ValueError)
    try:
        database.run_write(lambda c: _META.create_all(c))
        with pytest.raises(ValueError, match="cannot be stored"):
            database.run_read(lambda c: _sql.first(c, _BY_NAME, {"name": "lone \ud800 surrogate"}))
        # The connection is still good for the next read.
        assert database.run_read(lambda c: _sql.first(c, _BY_NAME, {"name": "x"})) is None
    finally:
        database.dispose()


# --- `first_row`: a hot statement on its own (on PostgreSQL, on the event loop's connections) ----

_SLEEP = select(func.pg_sleep(bindparam("seconds")))


def _connections(db: Database) -> int:
    """The server processes serving `db`'s database."""
    with psycopg.connect(PG_URI, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db.engine.url.database,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_first_row_reads_what_a_transaction_reads(db: Database) -> None:
    db.run_write(lambda c: _META.create_all(c))
    db.run_write(
        lambda c: c.execute(_RECORDS.insert(), [{"id": 1, "name": "b", "flag": True, "data": b"\x00"}])
    )
    for name in ("b", "zzz"):
        expected = db.run_read(lambda c, n=name: _sql.first(c, _BY_NAME, {"name": n}))  # type: ignore[misc]
        assert await db.first_row(_BY_NAME, {"name": name}) == expected
    row = await db.first_row(_BY_NAME, {"name": "b"})
    assert row is not None and type(row[2]) is bool


async def test_first_row_turns_a_value_the_server_cannot_take_into_bad_input(settings: Settings) -> None:
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    database = Database(settings.db_uri, pool_size=1, value_error=ValueError, hot_pool_size=1)
    try:
        database.run_write(lambda c: _META.create_all(c))
        with pytest.raises(ValueError, match="cannot be stored"):
            await database.first_row(_BY_NAME, {"name": "lone \ud800 surrogate"})
        assert await database.first_row(_BY_NAME, {"name": "x"}) is None  # the connection is still good
    finally:
        database.dispose()


@pytest.mark.skipif(DB_BACKEND != "postgresql", reason="SQLite reads inline, without a pool of its own")
async def test_first_row_replaces_connections_the_server_closed(db: Database) -> None:
    db.run_write(lambda c: c.execute(text("INSERT INTO things (n) VALUES (1)")))
    assert await db.first_row(_THINGS, {"above": 0}) == (1,)
    assert _end_connections(db) >= 1
    assert await db.first_row(_THINGS, {"above": 0}) == (1,)


@pytest.mark.skipif(DB_BACKEND != "postgresql", reason="SQLite reads inline, without a pool of its own")
async def test_first_row_shares_a_few_connections_among_many_requests(settings: Settings) -> None:
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    database = Database(settings.db_uri, pool_size=1, hot_pool_size=3)
    try:
        database.run_write(lambda c: c.execute(text("CREATE TABLE things (n INTEGER)")))
        database.run_write(lambda c: c.execute(text("INSERT INTO things (n) VALUES (7)")))
        base = _connections(database)  # the synchronous pool's
        sleeps = [asyncio.create_task(database.first_row(_SLEEP, {"seconds": 0.2})) for _ in range(6)]
        reads = [asyncio.create_task(database.first_row(_THINGS, {"above": 0})) for _ in range(40)]
        await asyncio.sleep(0.05)
        assert _connections(database) == base + 3
        assert await asyncio.gather(*reads) == [(7,)] * 40
        await asyncio.gather(*sleeps)
        assert _connections(database) == base + 3
    finally:
        database.dispose()
    assert _connections(database) == 0


@pytest.mark.skipif(DB_BACKEND != "postgresql", reason="SQLite reads inline, without a pool of its own")
async def test_a_read_cancelled_midway_leaves_no_connection_behind_busy(settings: Settings) -> None:
    """A request cancelled while its statement runs (the server shutting down): the statement is
    cancelled on the server, and the next reads find a connection that answers them."""
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    database = Database(settings.db_uri, pool_size=1, hot_pool_size=1)
    try:
        database.run_write(lambda c: c.execute(text("CREATE TABLE things (n INTEGER)")))
        slow = asyncio.create_task(database.first_row(_SLEEP, {"seconds": 30}))
        waiting = asyncio.create_task(database.first_row(_THINGS, {"above": 0}))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await waiting is None
        assert await database.first_row(_THINGS, {"above": -1}) is None
    finally:
        database.dispose()


@pytest.mark.skipif(DB_BACKEND != "postgresql", reason="SQLite reads inline, without a pool of its own")
def test_each_event_loop_has_its_own_connections(db: Database) -> None:
    db.run_write(lambda c: c.execute(text("INSERT INTO things (n) VALUES (3)")))
    for _ in range(2):  # a second loop cannot use the first one's connections
        assert asyncio.run(db.first_row(_THINGS, {"above": 0})) == (3,)

"""How `Database` runs transactions, on SQLite and PostgreSQL: reads without BEGIN (each statement
reads committed data on its own), writes in one transaction, and a connection the server closed
is replaced instead of failing the next request."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from tests.conftest import DB_BACKEND, PG_URI
from wharf.config import Settings
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

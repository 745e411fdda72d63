"""Engine creation and the two kinds of transaction Wharf uses.

SQLite allows one writer at a time. A deferred transaction that reads and then writes can fail at
once with "database is locked" when another writer got there first, whatever the busy timeout, so
writing transactions start with BEGIN IMMEDIATE and wait their turn instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

Db = AsyncConnection


def create_engine(uri: str, pool_size: int = 10) -> AsyncEngine:
    if uri.startswith("sqlite"):
        engine = create_async_engine(uri, connect_args={"timeout": 60}, pool_size=pool_size, max_overflow=20)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(uri, pool_size=pool_size, max_overflow=20, pool_pre_ping=False)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("wharf_begin", "BEGIN")
        conn.exec_driver_sql(mode)


@asynccontextmanager
async def read(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn, conn.begin():
        yield conn


@asynccontextmanager
async def write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = await conn.execution_options(wharf_begin="BEGIN IMMEDIATE")
        async with conn.begin():
            yield conn

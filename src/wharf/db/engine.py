"""The database: a synchronous SQLAlchemy engine driven from async code, one hop per transaction.

Why not SQLAlchemy's asyncio extension: measured here, it costs ~0.4 ms per statement and
~1.1 ms per read transaction on aiosqlite (every DBAPI call is a thread hop), while a whole
transaction run by a sync engine costs ~0.05 ms inline or one ~0.06 ms hop to a thread. Core
functions therefore take a plain `Connection` and are called through `Database.read` and
`Database.write`, which run the whole function in one transaction.

SQLite in WAL mode never blocks readers, so SQLite reads run inline on the event loop. Writes, and
every PostgreSQL transaction, run on a small thread pool so that lock waits and network round
trips never stall the loop. SQLite allows one writer at a time: a deferred transaction that reads
and then writes can fail at once with "database is locked" when another writer got there first,
whatever the busy timeout, so writing transactions start with BEGIN IMMEDIATE and wait their turn.

Round trips are what a PostgreSQL node pays for, so both drivers run in autocommit and BEGIN is
ours to send: writes send it, reads do not. Under READ COMMITTED (PostgreSQL's default, which
writes keep) every statement takes its own snapshot whether or not it is inside a transaction, so
a read gains nothing from BEGIN and COMMIT but two round trips; SQLite reads already ran that way.
Reads must therefore not take transaction-scoped locks (`core._sql.lock`); none does. Connections
are not pinged when taken from the pool (one more round trip per transaction): a transaction that
finds its connection dead (the server restarted, an idle connection was cut) runs again on a fresh
one, unless it was a write whose COMMIT had been sent, whose outcome is then unknown.

The hottest reads are single statements (a manifest GET, a blob's lookup): `first_row` runs one
on its own. On SQLite that is inline, as every read; on PostgreSQL it runs on a psycopg async
connection of the event loop (hot_reads.py), which spares the thread hop and the pool checkout
that cost more than the statement itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.sql.selectable import GenerativeSelect

from wharf.db import statements

if TYPE_CHECKING:
    from wharf.db.hot_reads import HotReads

Db = Connection
P = ParamSpec("P")
T = TypeVar("T")
WRITE_ATTEMPTS = 3
# How often a transaction runs again after finding its connection dead; the first failure
# invalidates every connection the pool held before it, so one more attempt is enough.
RECONNECT_ATTEMPTS = 2


def normalize_uri(uri: str) -> str:
    """Accept the URLs people write (postgresql://, postgres://, +asyncpg) and pick our drivers."""
    url = make_url(uri.replace("postgres://", "postgresql://", 1) if uri.startswith("postgres://") else uri)
    backend = url.get_backend_name()
    if backend == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        url = url.set(drivername="sqlite")
    else:
        raise ValueError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    return url.render_as_string(hide_password=False)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()


def _issue_begin(engine: Engine) -> None:
    """Send BEGIN when a transaction starts, unless the connection says otherwise (`wharf_begin`:
    "" for none, "BEGIN IMMEDIATE" for a SQLite writer)."""

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        statement = conn.get_execution_options().get("wharf_begin", "BEGIN")
        if statement:
            conn.exec_driver_sql(statement)


class Database:
    """`read_only_error`, when given, makes every write raise it instead of running (REGISTRY_STATE
    `readonly`); `record` then skips bookkeeping, and `write_despite_read_only` is for the few
    documented writes that maintenance mode keeps (browser sessions)."""

    def __init__(
        self,
        uri: str,
        pool_size: int = 10,
        read_only_error: Callable[[], Exception] | None = None,
        value_error: Callable[[str], Exception] | None = None,
        hot_pool_size: int = 4,
    ) -> None:
        self.uri = normalize_uri(uri)
        self.read_only_error = read_only_error
        # What a value the database cannot take (text with NUL or a lone surrogate, a number out of
        # range) becomes, so that every surface answers it as bad input, not as a failure.
        self.value_error = value_error
        self.is_sqlite = self.uri.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_engine(
                self.uri,
                connect_args={"timeout": 60, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=pool_size,
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(
                self.uri,
                pool_size=pool_size,
                max_overflow=pool_size,
                # psycopg then leaves BEGIN to `_issue_begin`, so that reads run without one.
                isolation_level="AUTOCOMMIT",
            )
        _issue_begin(self.engine)
        self._hot: HotReads | None = None
        if not self.is_sqlite:
            # Imported here: a SQLite server never loads psycopg.
            from wharf.db.hot_reads import HotReads

            cargs, ckwargs = self.engine.dialect.create_connect_args(self.engine.url)
            self._hot = HotReads(cargs, ckwargs, hot_pool_size, value_error)
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="wharf-db")
        # SQLite has one writer. Writers of this process queue here, in order, instead of inside
        # SQLite's busy handler, which sleeps up to 100 ms between attempts.
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def run_read(self, fn: Callable[Concatenate[Db, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(RECONNECT_ATTEMPTS):
            try:
                # No BEGIN: each statement reads committed data on its own (see the module's doc).
                with self.engine.connect() as conn:
                    conn = conn.execution_options(wharf_begin="")
                    with conn.begin(), self._values_checked():
                        return fn(conn, *args, **kwargs)
            except DBAPIError as e:
                if not e.connection_invalidated or attempt == RECONNECT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _values_checked(self) -> Any:
        try:
            yield
        except (DataError, UnicodeEncodeError) as e:
            if self.value_error is None:
                raise
            raise self.value_error(statements.BAD_VALUE) from e

    @property
    def read_only(self) -> bool:
        return self.read_only_error is not None

    def run_write(self, fn: Callable[Concatenate[Db, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self.read_only_error is not None:
            raise self.read_only_error()
        return self._run_write(fn, *args, **kwargs)

    def _run_write(self, fn: Callable[Concatenate[Db, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        # Check-then-insert races (two pushes creating the same tag or repository at once) surface
        # on PostgreSQL as a unique violation; the whole function runs again and sees the winner.
        conflicts = reconnects = 0
        while True:
            committing = False
            try:
                with self._write_lock, self.engine.connect() as conn:
                    if self.is_sqlite:
                        conn = conn.execution_options(wharf_begin="BEGIN IMMEDIATE")
                    with conn.begin(), self._values_checked():
                        result = fn(conn, *args, **kwargs)
                        committing = True
                    return result
            except IntegrityError:
                conflicts += 1
                if conflicts == WRITE_ATTEMPTS:
                    raise
            except DBAPIError as e:
                # A connection that died before COMMIT was sent committed nothing: run it again.
                reconnects += 1
                if committing or not e.connection_invalidated or reconnects == RECONNECT_ATTEMPTS:
                    raise

    async def read(self, fn: Callable[Concatenate[Db, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(conn, ...)` in a read transaction."""
        if self.is_sqlite:
            return self.run_read(fn, *args, **kwargs)
        call = functools.partial(self.run_read, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def first_row(self, statement: GenerativeSelect, params: dict[str, Any]) -> statements.Row | None:
        """The first row of the hot statement `statement` (db/statements.py), read on its own,
        outside any transaction: inline on SQLite, on the event loop's async connections on
        PostgreSQL."""
        if self._hot is None:
            return self.run_read(statements.first, statement, params)
        compiled = statements.prepared(statement, self.engine.dialect)
        row = await self._hot.first(compiled.sql, compiled.arguments(params))
        return None if row is None else compiled.convert(row)

    async def read_in_pool(self, fn: Callable[Concatenate[Db, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`read` on the thread pool on SQLite too: for reads long enough (a large listing page)
        that running them inline would hold up every other request of the process."""
        call = functools.partial(self.run_read, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def write(self, fn: Callable[Concatenate[Db, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(conn, ...)` in a write transaction, committed when it returns."""
        if self.read_only_error is not None:
            raise self.read_only_error()
        call = functools.partial(self._run_write, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def record(self, fn: Callable[Concatenate[Db, P], None], *args: P.args, **kwargs: P.kwargs) -> None:
        """A write that is bookkeeping (last-access marks, login records): skipped when read-only."""
        if self.read_only_error is None:
            await self.write(fn, *args, **kwargs)

    async def write_despite_read_only(
        self, fn: Callable[Concatenate[Db, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A write read-only mode keeps on purpose; docs/deploy.md lists each one and why."""
        call = functools.partial(self._run_write, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def dispose(self) -> None:
        if self._hot is not None:
            self._hot.close()
        self._executor.shutdown(wait=True)
        self.engine.dispose()

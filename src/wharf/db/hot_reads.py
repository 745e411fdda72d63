"""The hottest PostgreSQL reads on the event loop: a few psycopg async connections per loop.

A manifest GET is one statement, and on PostgreSQL most of its cost in the server was not the
statement but getting to it: the hop to a thread of the database's pool and back, and the checkout
of a pooled SQLAlchemy connection. Measured on the manifest GET's statement with 32 requests at
once (2 cores, loopback): 194 µs of the server's CPU per read through `Database.read`, 33 µs on
four async connections taken from a queue, 25 µs when each connection keeps its cursor.
psycopg_pool's AsyncConnectionPool measured 57-65 µs (it checks, counts and schedules more per
checkout), which is why this is a pool of its own: the few connections are opened on first use,
taken and given back without a check, and one found broken is closed and replaced on the next
checkout.

Only single statements that need no transaction run here (`Database.first_row`): reads in
autocommit, as every read of the synchronous engine already is (see engine.py). A connection
belongs to the loop that opened it, so each event loop has its own few.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg

from wharf.db import statements

Row = tuple[Any, ...]
RECONNECT_ATTEMPTS = 2


class _Link:
    """A connection and the one cursor its reads use: a new cursor per read cost 8 of 33 µs."""

    __slots__ = ("conn", "cursor")

    def __init__(self, conn: psycopg.AsyncConnection[Row]) -> None:
        self.conn = conn
        self.cursor = conn.cursor()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.pgconn.finish()


class _LoopPool:
    """The connections of one event loop. Not thread-safe: only its loop uses it."""

    def __init__(self, connect: Callable[[], Any], size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[_Link] = []
        self._opened = 0
        self._waiters: deque[asyncio.Future[_Link | None]] = deque()

    async def take(self) -> _Link:
        while True:
            if self._idle:
                return self._idle.pop()
            if self._opened < self._size:
                self._opened += 1
                try:
                    link = _Link(await self._connect())
                except BaseException:
                    self._opened -= 1
                    self._wake(None)
                    raise
                return link
            waiter: asyncio.Future[_Link | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                # Handed a connection just before the cancellation: it goes to the next in line.
                if waiter.done() and not waiter.cancelled() and (lost := waiter.result()) is not None:
                    self.give_back(lost)
                raise
            if handed is not None:
                return handed
            # None: a connection was closed, so there is room to open one.

    def give_back(self, link: _Link) -> None:
        if link.conn.closed or link.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            # Broken, or left in the middle of something by an interruption: never reused.
            link.close()
            self._opened -= 1
            self._wake(None)
            return
        if not self._wake(link):
            self._idle.append(link)

    def _wake(self, link: _Link | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(link)
                return True
        return False

    def drop_idle(self) -> None:
        """Close every idle connection: after one was found dead (a server restart ends them all),
        the others are likely dead as well, and each would cost a failed statement to find out."""
        idle, self._idle = self._idle, []
        for link in idle:
            link.close()
            self._opened -= 1

    def close(self) -> None:
        self.drop_idle()


class HotReads:
    """`first(sql, args)` on an async connection of the running loop. `connect_args` and
    `connect_kwargs` are what the synchronous engine's dialect passes to psycopg.connect, so both
    reach the same server the same way. `value_error`, as in `Database`, turns a value the server
    cannot take into bad input."""

    def __init__(
        self,
        connect_args: Sequence[Any],
        connect_kwargs: Mapping[str, Any],
        size: int,
        value_error: Callable[[str], Exception] | None = None,
    ) -> None:
        self._args = tuple(connect_args)
        self._kwargs = {**connect_kwargs, "autocommit": True}
        self._size = size
        self._value_error = value_error
        # Held strongly, so that a loop's connections are closed by us rather than left to the
        # garbage collector: those of a loop that has ended are closed when another loop starts.
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        return psycopg.AsyncConnection.connect(*self._args, **self._kwargs)

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            with self._lock:  # loops of other threads (in-process workers, tests) may start too
                for ended in [other for other in self._pools if other.is_closed()]:
                    self._pools.pop(ended).close()
                pool = self._pools[loop] = _LoopPool(self._connect, self._size)
        return pool

    async def first(self, sql: str, args: Sequence[Any] | Mapping[str, Any]) -> Row | None:
        pool = self._pool()
        for attempt in range(RECONNECT_ATTEMPTS):
            link = await pool.take()
            try:
                await link.cursor.execute(sql, args)
                return await link.cursor.fetchone()
            except (psycopg.DataError, UnicodeEncodeError) as e:
                if self._value_error is None:
                    raise
                raise self._value_error(statements.BAD_VALUE) from e
            except psycopg.OperationalError:
                # A connection the server closed (a restart, an idle timeout) fails its next
                # statement; a read has no effects, so it runs again on a fresh one.
                if not link.conn.broken or attempt == RECONNECT_ATTEMPTS - 1:
                    raise
                pool.drop_idle()
            finally:
                pool.give_back(link)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close every connection of every loop. Called when the process is done with the
        database, after the requests have ended; no loop needs to be running."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()

"""Streaming writes into S3 part objects: what `S3BlobStore.writer` hands out.

One writer session writes one part object (a new one every `part_max` bytes) named after the
offset it starts at. Small sessions are a single PUT; larger ones stream into obstore's multipart
put, which never holds more than a couple of S3 parts in memory, whatever the session's size.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import obstore
from obstore.store import S3Store

from wharf.storage.base import StorageError

# S3's smallest multipart part; below it a session is sent as one PUT from memory.
STREAM_CHUNK = 5 * 1024 * 1024
# A session whose writer was never closed (a caller bug, a task killed outright) gives up and
# aborts its multipart upload after this long without data, rather than waiting forever.
IDLE_TIMEOUT_S = 600.0

_END = object()


class _Aborted(StorageError):
    """Ends a streaming put on purpose, so obstore aborts its multipart upload."""


class PartUpload:
    """One part object, sent as its bytes arrive."""

    def __init__(self, store: S3Store, key: str) -> None:
        self._store = store
        self.key = key
        self.size = 0
        self._head: list[bytes] = []
        self._head_size = 0
        self._queue: asyncio.Queue[object] | None = None
        self._task: asyncio.Task[Any] | None = None

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._task is None:
            if self._head_size + len(data) < STREAM_CHUNK:
                self._head.append(data)
                self._head_size += len(data)
                return
            self._start_stream()
        await self._send(data)

    def _start_stream(self) -> None:
        self._queue = asyncio.Queue(maxsize=1)
        head, self._head = self._head, []

        async def run() -> None:
            await obstore.put_async(
                self._store, self.key, self._chunks(head), chunk_size=STREAM_CHUNK, max_concurrency=1
            )

        self._task = asyncio.create_task(run())

    async def _chunks(self, head: list[bytes]) -> AsyncIterator[bytes]:
        while head:
            yield head.pop(0)
        assert self._queue is not None
        while True:
            try:
                item = await asyncio.wait_for(self._queue.get(), IDLE_TIMEOUT_S)
            except TimeoutError:
                raise _Aborted("writer idle too long") from None
            if item is _END:
                return
            if isinstance(item, _Aborted):
                raise item
            yield cast(bytes, item)

    async def _send(self, item: object) -> None:
        """Hand `item` to the streaming put; raises its error if it failed meanwhile."""
        assert self._queue is not None and self._task is not None
        if self._task.done():
            await self._task  # raises why the upload stopped
            raise StorageError(f"upload of {self.key} already ended")
        if not self._queue.full():
            self._queue.put_nowait(item)
            return
        put = asyncio.ensure_future(self._queue.put(item))
        await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            await self._task  # raises why the upload stopped
            raise StorageError(f"upload of {self.key} stopped early")

    async def finish(self) -> None:
        if self._task is None:
            data = b"".join(self._head)
            self._head = []
            await obstore.put_async(self._store, self.key, data, use_multipart=False)
            return
        await self._send(_END)
        await self._task

    async def abort(self) -> None:
        """Drop what was sent: the failed put aborts its multipart upload."""
        self._head = []
        if self._task is None:
            return
        if not self._task.done():
            with contextlib.suppress(Exception):
                await self._send(_Aborted("cancelled"))
        with contextlib.suppress(Exception):
            await self._task


class S3Writer:
    """A FileWriter over part objects; `part_key(offset)` names the part that starts at offset."""

    def __init__(
        self,
        store: S3Store,
        part_key: Callable[[int], str],
        start: int,
        discard: Callable[[], Awaitable[None]],
        *,
        marker: bool,
        part_max: int,
    ) -> None:
        self._store = store
        self._part_key = part_key
        self._size = start
        self._discard = discard
        # The object has no part yet: closing without data still writes an empty one, so the
        # object exists (an empty upload is a valid blob).
        self._marker = marker
        self._part: PartUpload | None = None
        self._part_max = part_max
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise StorageError("write to a closed writer")
        # Held until sent: a caller reusing a mutable buffer must not change what is uploaded.
        data = bytes(data)
        while data:
            if self._part is None:
                self._part = PartUpload(self._store, self._part_key(self._size))
            room = self._part_max - self._part.size
            chunk, data = (data, b"") if len(data) <= room else (data[:room], data[room:])
            await self._part.write(chunk)
            self._size += len(chunk)
            if self._part.size >= self._part_max:
                part, self._part = self._part, None
                await part.finish()
                self._marker = False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._part is None and self._marker:
            self._part = PartUpload(self._store, self._part_key(self._size))
        if self._part is not None:
            part, self._part = self._part, None
            await part.finish()

    async def cancel(self) -> None:
        self._closed = True
        if self._part is not None:
            part, self._part = self._part, None
            await part.abort()
        await self._discard()

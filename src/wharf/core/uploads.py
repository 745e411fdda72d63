"""Resumable blob uploads.

The upload's bytes are appended to `uploads/<id>` in the blob store and its committed length is
kept in the database, so an upload survives a restart and can continue on another process. Bytes
are hashed while they are written; a process that did not see the earlier chunks re-reads them
once from storage. The blob becomes visible only after its digest is verified, by an atomic move
to its content address; the database row that lets a repository serve it is written after that.
No database transaction is held open while a body streams in.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from wharf.core import blobs
from wharf.core._sql import lock
from wharf.core.clock import now_ms
from wharf.core.errors import Busy, InvalidDigest, InvalidRange, InvalidSize, UploadNotFound
from wharf.db.engine import Database, Db
from wharf.db.models import BlobDeletion, Upload
from wharf.oci.digest import Digest, Hasher, new_hasher
from wharf.storage.base import BlobStore, FileWriter, blob_path, upload_path


@dataclass(frozen=True, slots=True)
class UploadState:
    id: str
    repository_id: int
    offset: int


class _HasherCache:
    """Running hashes of uploads this process has seen, valid only at the offset they reached."""

    def __init__(self, capacity: int = 1024) -> None:
        self._items: OrderedDict[str, tuple[int, Hasher]] = OrderedDict()
        self._capacity = capacity

    def take(self, upload_id: str, offset: int) -> Hasher | None:
        item = self._items.pop(upload_id, None)
        if item is None or item[0] != offset:
            return None
        return item[1]

    def put(self, upload_id: str, offset: int, hasher: Hasher) -> None:
        self._items[upload_id] = (offset, hasher)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def drop(self, upload_id: str) -> None:
        self._items.pop(upload_id, None)


_hashers = _HasherCache()


# Uploads are hashed with sha256 as they stream in, since nearly every client uses it; an upload
# finished with another algorithm is re-read once from storage.
STREAMING_ALGORITHM = "sha256"
# How long finishing an upload waits for garbage collection to finish deleting the same digest.
PUBLISH_WAIT_S = 60
_BEING_DELETED = select(BlobDeletion.digest).where(BlobDeletion.digest == bindparam("digest"))


async def start(database: Database, store: BlobStore, repository_id: int) -> UploadState:
    upload_id = str(uuid.uuid4())
    now = now_ms()
    # The row comes first: a file under uploads/ without a row is an orphan garbage collection removes.
    await database.write(
        lambda db: db.execute(
            insert(Upload).values(
                id=upload_id, repository_id=repository_id, offset=0, created_ms=now, updated_ms=now
            )
        )
    )
    writer = await store.writer(upload_path(upload_id))
    await writer.close()
    _hashers.put(upload_id, 0, new_hasher(STREAMING_ALGORITHM))
    return UploadState(upload_id, repository_id, 0)


async def get(database: Database, repository_id: int, upload_id: str) -> UploadState:
    try:
        uuid.UUID(upload_id)
    except ValueError:
        raise UploadNotFound("no such upload") from None
    row = await database.read(
        lambda db: db.execute(
            select(Upload.offset).where(Upload.id == upload_id, Upload.repository_id == repository_id)
        ).first()
    )
    if row is None:
        raise UploadNotFound("no such upload")
    return UploadState(upload_id, repository_id, row.offset)


async def append(
    database: Database,
    store: BlobStore,
    upload: UploadState,
    body: AsyncIterator[bytes],
    *,
    start: int | None = None,
    length: int | None = None,
) -> UploadState:
    """Append a chunk. `start` is where the client says it begins; `length` how long it says it is."""
    if start is not None and start != upload.offset:
        raise InvalidRange(
            f"chunk starts at {start} but the upload has {upload.offset} bytes", offset=upload.offset
        )
    async with _sole_writer(database, upload) as token:
        hasher = _hashers.take(upload.id, upload.offset)
        writer = await _writer_at(store, upload)
        # A body that fails half-way (client gone) commits nothing: its bytes lie past the committed
        # offset and the next writer discards them, so the client resumes from the offset it was told.
        try:
            received = await _pipe(body, writer, hasher)
        finally:
            await writer.close()
        if length is not None and received != length:
            raise InvalidSize(
                f"chunk has {received} bytes but its range or length says {length}", offset=upload.offset
            )
        new_offset = upload.offset + received
        if received and not await database.write(_advance, upload, new_offset, token):
            raise InvalidRange("the upload was changed by another request", offset=upload.offset)
    if hasher is not None:
        _hashers.put(upload.id, new_offset, hasher)
    return UploadState(upload.id, upload.repository_id, new_offset)


async def _writer_at(store: BlobStore, upload: UploadState) -> FileWriter:
    """A writer positioned at the committed offset: bytes a dead request left past it are dropped."""
    writer = await store.writer(upload_path(upload.id), append=True)
    if writer.size != upload.offset:
        await writer.close()
        writer = await store.writer(upload_path(upload.id), append=True, offset=upload.offset)
    return writer


# One request at a time writes to an upload, whichever node it reaches: two at once would
# interleave their bytes under one running hash. The lease is renewed while the request runs, so
# only a writer that died loses it, after WRITER_LEASE_MS.
WRITER_LEASE_MS = 30_000
_RENEW_EVERY_S = 10.0


@contextlib.asynccontextmanager
async def _sole_writer(database: Database, upload: UploadState) -> AsyncIterator[str]:
    token = secrets.token_hex(16)
    if not await database.write(_claim_writer, upload, token, now_ms()):
        raise Busy(
            "another request is writing to this upload; retry when it has finished", offset=upload.offset
        )

    async def renew() -> None:
        while True:
            await asyncio.sleep(_RENEW_EVERY_S)
            await database.write(_renew_writer, upload.id, token, now_ms() + WRITER_LEASE_MS)

    renewer = asyncio.create_task(renew())
    try:
        yield token
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        # Released here unless _advance or _publish already did (or removed the upload).
        await database.write(_release_writer, upload.id, token)


def _claim_writer(db: Db, upload: UploadState, token: str, now: int) -> bool:
    result = db.execute(
        update(Upload)
        .where(
            Upload.id == upload.id,
            Upload.offset == upload.offset,
            or_(Upload.writer_until_ms.is_(None), Upload.writer_until_ms < now),
        )
        .values(writer_token=token, writer_until_ms=now + WRITER_LEASE_MS)
    )
    return result.rowcount == 1


def _renew_writer(db: Db, upload_id: str, token: str, until: int) -> None:
    db.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.writer_token == token)
        .values(writer_until_ms=until)
    )


def _release_writer(db: Db, upload_id: str, token: str) -> None:
    db.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.writer_token == token)
        .values(writer_token=None, writer_until_ms=None)
    )


BATCH = 1024 * 1024


async def _pipe(body: AsyncIterator[bytes], writer: FileWriter, hasher: Hasher | None) -> int:
    """Copy the body to the writer, hashing it, in batches handed to threads.

    While one batch is written and hashed off the event loop (both release the GIL), the next one
    is received, so a push uses both cores; at most two batches are in memory at a time.
    """
    received = 0
    pending: asyncio.Future[Any] | None = None
    batch: list[bytes] = []
    size = 0

    def flush() -> asyncio.Future[Any]:
        data = b"".join(batch) if len(batch) > 1 else batch[0]
        batch.clear()
        jobs = [writer.write(data)]
        if hasher is not None:
            jobs.append(asyncio.to_thread(hasher.update, data))
        return asyncio.gather(*jobs)

    try:
        async for chunk in body:
            if not chunk:
                continue
            batch.append(chunk)
            size += len(chunk)
            received += len(chunk)
            if size >= BATCH:
                if pending is not None:
                    await pending
                pending, size = flush(), 0
        if pending is not None:
            await pending
            pending = None
        if batch:
            await flush()
    finally:
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)
    return received


def _advance(db: Db, upload: UploadState, new_offset: int, token: str) -> bool:
    """Commit the new offset, if this request still holds the upload (its lease did not run out)."""
    result = db.execute(
        update(Upload)
        .where(Upload.id == upload.id, Upload.offset == upload.offset, Upload.writer_token == token)
        .values(offset=new_offset, updated_ms=now_ms(), writer_token=None, writer_until_ms=None)
    )
    return result.rowcount == 1


def _publish(db: Db, upload: UploadState, digest: str) -> blobs.BlobRecord | None:
    """Register and link the blob; None while garbage collection is deleting the same digest."""
    lock(db, "blob", digest)
    if db.execute(_BEING_DELETED, {"digest": digest}).first() is not None:
        return None
    blob = blobs.register(db, digest, upload.offset)
    blobs.link(db, upload.repository_id, blob.id)
    db.execute(delete(Upload).where(Upload.id == upload.id))
    return blob


async def _rehash(store: BlobStore, upload_id: str, length: int, algorithm: str) -> Hasher:
    hasher = new_hasher(algorithm)
    async for chunk in store.read(upload_path(upload_id), 0, length):
        hasher.update(chunk)
    return hasher


async def finish(
    database: Database, store: BlobStore, upload: UploadState, digest: Digest
) -> blobs.BlobRecord:
    """Verify the upload against `digest` and publish it as a blob of the upload's repository."""
    async with _sole_writer(database, upload):
        return await _finish(database, store, upload, digest)


async def _finish(
    database: Database, store: BlobStore, upload: UploadState, digest: Digest
) -> blobs.BlobRecord:
    # Bytes a dead request left past the committed offset must not become part of the blob.
    if await store.stat(upload_path(upload.id)) != upload.offset:
        await (await _writer_at(store, upload)).close()
    hasher = _hashers.take(upload.id, upload.offset) if digest.algorithm == STREAMING_ALGORITHM else None
    if hasher is None:
        hasher = await _rehash(store, upload.id, upload.offset, digest.algorithm)
    actual = hasher.hexdigest()
    if actual != digest.encoded:
        await cancel(database, store, upload)
        raise InvalidDigest(f"content digest {digest.algorithm}:{actual} does not match {digest}")
    # The bytes are copied into place before the row that publishes them exists, every time (also
    # when the digest is already stored): garbage collection may be deleting that very file, and
    # then _publish waits for it to finish and the copy is made again.
    source, target = upload_path(upload.id), blob_path(digest)
    deadline = time.monotonic() + PUBLISH_WAIT_S
    while True:
        await store.copy(source, target)
        blob = await database.write(_publish, upload, str(digest))
        if blob is not None:
            break
        if time.monotonic() > deadline:
            raise Busy(f"blob {digest} is being garbage-collected; retry the upload")
        await asyncio.sleep(0.05)
    # A deletion of this digest that was under way when we copied (garbage collection, or the
    # orphan sweep removing an old stray copy of the same bytes) may have removed our copy, and
    # finished, before the row was committed. Once the row exists no deletion can begin until it
    # is unreferenced again, so one look now is enough to be sure the published blob has its file.
    if await store.stat(target) is None:
        await store.copy(source, target)
    await store.delete(source)
    return blob


async def cancel(database: Database, store: BlobStore, upload: UploadState) -> None:
    _hashers.drop(upload.id)
    await database.write(lambda db: db.execute(delete(Upload).where(Upload.id == upload.id)))
    await store.delete(upload_path(upload.id))


async def expire_abandoned(database: Database, store: BlobStore, older_than_ms: int) -> int:
    """Remove uploads untouched since `older_than_ms`; returns how many."""
    rows = await database.read(
        lambda db: db.execute(
            select(Upload.id, Upload.repository_id, Upload.offset).where(Upload.updated_ms < older_than_ms)
        ).all()
    )
    for row in rows:
        await cancel(database, store, UploadState(row.id, row.repository_id, row.offset))
    return len(rows)


def open_count(db: Db) -> int:
    """Uploads started and not yet finished or cancelled (the /metrics gauge)."""
    return int(db.execute(select(func.count()).select_from(Upload)).scalar_one())

"""Resumable blob uploads.

The upload's bytes are appended to `uploads/<id>` in the blob store and its committed length is
kept in the database, so an upload survives a restart and can continue on another process. Bytes
are hashed while they are written; a process that did not see the earlier chunks re-reads them
once from storage. The blob becomes visible only after its digest is verified, by an atomic move
to its content address; the database row that lets a repository serve it is written after that.
No database transaction is held open while a body streams in.

Finishing is on every push's path, so it costs two write transactions: one finds and claims the
upload (`claim`, in the transaction of the caller that looks the upload up), one publishes the blob
and removes the upload (a last chunk sent with the finishing PUT is written between them, under the
same claim). A small blob sent whole to an empty upload costs a read and one write
(`publish_whole`). Hot statements are built once, with bind parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update

from wharf.core import blobs, repositories
from wharf.core._sql import first, lock
from wharf.core.clock import now_ms
from wharf.core.errors import Busy, InvalidDigest, InvalidRange, InvalidSize, UploadNotFound
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Database, Db
from wharf.db.models import BlobDeletion, Repository, Upload
from wharf.oci.digest import Digest, Hasher, new_hasher
from wharf.storage.base import BlobStore, FileWriter, PathNotFound, StorageError, blob_path, upload_path


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
# Bind parameters are named apart from the columns: a name shared with a column that an UPDATE
# sets would be taken for that column's new value.
_INSERT = insert(Upload)
_GET = select(Upload.offset).where(
    Upload.id == bindparam("u_id"), Upload.repository_id == bindparam("u_repo")
)
_CLAIM = (
    update(Upload)
    .where(
        Upload.id == bindparam("u_id"),
        Upload.offset == bindparam("u_offset"),
        or_(Upload.writer_until_ms.is_(None), Upload.writer_until_ms < bindparam("u_now")),
    )
    .values(writer_token=bindparam("u_token"), writer_until_ms=bindparam("u_until"))
)
_RENEW = (
    update(Upload)
    .where(Upload.id == bindparam("u_id"), Upload.writer_token == bindparam("u_token"))
    .values(writer_until_ms=bindparam("u_until"))
)
_RELEASE = (
    update(Upload)
    .where(Upload.id == bindparam("u_id"), Upload.writer_token == bindparam("u_token"))
    .values(writer_token=None, writer_until_ms=None)
)
_ADVANCE = (
    update(Upload)
    .where(
        Upload.id == bindparam("u_id"),
        Upload.offset == bindparam("u_offset"),
        Upload.writer_token == bindparam("u_token"),
    )
    .values(
        offset=bindparam("u_new_offset"),
        updated_ms=bindparam("u_now"),
        writer_token=None,
        writer_until_ms=None,
    )
)
# Removing the upload as its blob is published, only while this request still holds it.
_TAKE = delete(Upload).where(
    Upload.id == bindparam("u_id"),
    Upload.offset == bindparam("u_offset"),
    Upload.writer_token == bindparam("u_token"),
)
# `publish_whole`'s take: the upload still empty and nobody's (a lapsed claim is nobody's, as
# for `_CLAIM`).
_TAKE_UNHELD = delete(Upload).where(
    Upload.id == bindparam("u_id"),
    Upload.offset == 0,
    or_(Upload.writer_until_ms.is_(None), Upload.writer_until_ms < bindparam("u_now")),
)
_DELETE = delete(Upload).where(Upload.id == bindparam("u_id"))


# Open uploads counted up to the limit, never further: the cost stays bounded by the limit.
_OPEN_IN_REPOSITORY = select(func.count()).select_from(
    select(Upload.id).where(Upload.repository_id == bindparam("u_repo")).limit(bindparam("u_max")).subquery()
)
_OPEN_IN_NAMESPACE = select(func.count()).select_from(
    select(Upload.id)
    .join(Repository, Repository.id == Upload.repository_id)
    .where(Repository.namespace_id == bindparam("u_ns"))
    .limit(bindparam("u_ns_max"))
    .subquery()
)
# Both counts in one statement, for an existing repository (every upload of a push but a first one's).
_OPEN_IN_BOTH = select(
    _OPEN_IN_REPOSITORY.scalar_subquery().label("in_repository"),
    _OPEN_IN_NAMESPACE.scalar_subquery().label("in_namespace"),
)


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """How many uploads may be open at once in one repository and in one namespace (account)."""

    per_repository: int
    per_namespace: int


def _check_limits(
    db: Db, repository_id: int, namespace_id: int, limits: UploadLimits, *, new_repository: bool = False
) -> None:
    """Refuse a new upload when its repository or namespace has as many open as allowed. Under
    concurrent starts on PostgreSQL a few more may slip through: the limit bounds, it does not count.
    A repository created in this transaction has none open: only its namespace is counted."""
    params = {
        "u_repo": repository_id,
        "u_max": limits.per_repository,
        "u_ns": namespace_id,
        "u_ns_max": limits.per_namespace,
    }
    if new_repository:
        in_repository, in_namespace = 0, db.execute(_OPEN_IN_NAMESPACE, params).scalar_one()
    else:
        in_repository, in_namespace = db.execute(_OPEN_IN_BOTH, params).one()
    if in_repository >= limits.per_repository:
        raise Busy(
            f"too many open uploads in this repository (at most {limits.per_repository}): finish or "
            "cancel some (DELETE the upload), or wait until they expire",
            limit=limits.per_repository,
        )
    if in_namespace >= limits.per_namespace:
        raise Busy(
            f"too many open uploads in this namespace (at most {limits.per_namespace}): finish or "
            "cancel some (DELETE the upload), or wait until they expire",
            limit=limits.per_namespace,
        )


Target = Callable[[Db], tuple[RepositoryRecord, bool]]
"""Finds the repository an upload goes to inside the upload's own transaction, creating it when a
first push starts there: returns the repository and whether it was created just now."""


def mount(
    db: Db, target: Target, source_namespace: str, source_name: str, digest: str, *, if_public: bool
) -> bool:
    """Cross-repository mount into the repository `target` finds or creates, in this transaction:
    False when the source does not hold the blob (or, with `if_public`, is no longer public)."""
    repo, _ = target(db)
    return blobs.mount_from(db, source_namespace, source_name, repo.id, digest, if_public=if_public)


async def start(
    database: Database,
    store: BlobStore,
    target: RepositoryRecord | Target,
    limits: UploadLimits | None = None,
) -> UploadState:
    """Open an upload, in one write transaction with whatever `target` does (looking the repository
    up, creating it on a first push); with `limits`, only while its repository and namespace have
    fewer open uploads than they allow (else Busy)."""
    return await _open(database, store, target, limits, None)


async def start_held(
    database: Database,
    store: BlobStore,
    target: RepositoryRecord | Target,
    limits: UploadLimits | None = None,
) -> Claim:
    """`start`, the upload claimed for this request as it is opened (a POST that carries the whole
    blob finishes it at once: no transaction of its own for the claim). Pass the claim to `finish`
    at once, as for `claim`."""
    token = secrets.token_hex(16)
    return Claim(await _open(database, store, target, limits, token), token)


async def _open(
    database: Database,
    store: BlobStore,
    target: RepositoryRecord | Target,
    limits: UploadLimits | None,
    token: str | None,
) -> UploadState:
    upload_id = str(uuid.uuid4())
    now = now_ms()
    until = None if token is None else now + WRITER_LEASE_MS

    def _insert(db: Db) -> int:
        repo, created = (target, False) if isinstance(target, RepositoryRecord) else target(db)
        if limits is not None:
            _check_limits(db, repo.id, repo.namespace_id, limits, new_repository=created)
        # The row comes first: a file under uploads/ without a row is an orphan that garbage
        # collection removes.
        db.execute(
            _INSERT,
            {
                "id": upload_id,
                "repository_id": repo.id,
                "offset": 0,
                "created_ms": now,
                "updated_ms": now,
                "writer_token": token,
                "writer_until_ms": until,
            },
        )
        return repo.id

    repository_id = await database.write(_insert)
    writer = await store.writer(upload_path(upload_id))
    await writer.close()
    _hashers.put(upload_id, 0, new_hasher(STREAMING_ALGORITHM))
    return UploadState(upload_id, repository_id, 0)


async def get(database: Database, repository_id: int, upload_id: str) -> UploadState:
    return await database.read(find, repository_id, upload_id)


# The repository, the caller's generation and the open upload, in one statement: what every PATCH
# and PUT of an upload reads first (a first push finishes two uploads).
_FIND_AS = repositories.GET_AS.add_columns(Upload.offset).outerjoin(
    Upload, and_(Upload.id == bindparam("u_id"), Upload.repository_id == Repository.id)
)


def find_as(
    db: Db, namespace: str, name: str, account_id: int, upload_id: str
) -> tuple[RepositoryRecord | None, int | None, UploadState | None]:
    """`repositories.get_as` (the repository and the caller's credential generation) and the
    repository's open upload `upload_id` (None when there is none), in one statement when the
    repository exists."""
    try:
        uuid.UUID(upload_id)
    except ValueError:
        upload_id = ""  # never an upload's id: the upload is None
    params = {"full_name": f"{namespace}/{name}", "account_id": account_id, "u_id": upload_id}
    row = first(db, _FIND_AS, params)
    if row is None:
        repo, generation, _ = repositories.get_as(db, namespace, name, account_id)
        return repo, generation, None
    *columns, generation, offset = row
    repo = RepositoryRecord(*columns)
    upload = None if offset is None else UploadState(upload_id, repo.id, offset)
    return repo, None if generation is None else int(generation), upload


def find(db: Db, repository_id: int, upload_id: str) -> UploadState:
    """The open upload `upload_id` of the repository (UploadNotFound if there is none): `get`
    inside a transaction that reads more, such as the repository itself."""
    try:
        uuid.UUID(upload_id)
    except ValueError:
        raise UploadNotFound("no such upload") from None
    row = db.execute(_GET, {"u_id": upload_id, "u_repo": repository_id}).first()
    if row is None:
        raise UploadNotFound("no such upload")
    return UploadState(upload_id, repository_id, row.offset)


async def append(
    database: Database,
    store: BlobStore,
    held: UploadState | Claim,
    body: AsyncIterator[bytes],
    *,
    start: int | None = None,
    length: int | None = None,
) -> UploadState:
    """Append a chunk. `start` is where the client says it begins; `length` how long it says it is.
    A Claim (its `start` checked by `claim`) is released here, whatever happens."""
    upload = _unclaimed(held)
    if not isinstance(held, Claim):
        _check_start(upload, start)
    async with _sole_writer(database, held) as lease:
        grown, hasher = await _receive(database, store, upload, lease, body, length)
        if grown.offset != upload.offset:
            if not await database.write(_advance, upload, grown.offset, lease.token):
                raise InvalidRange("the upload was changed by another request", offset=upload.offset)
            lease.held = False  # _advance released it
    if hasher is not None:
        _hashers.put(upload.id, grown.offset, hasher)
    return grown


def _check_start(upload: UploadState, start: int | None) -> None:
    if start is not None and start != upload.offset:
        raise InvalidRange(
            f"chunk starts at {start} but the upload has {upload.offset} bytes", offset=upload.offset
        )


async def _receive(
    database: Database,
    store: BlobStore,
    upload: UploadState,
    lease: _Lease,
    body: AsyncIterator[bytes],
    length: int | None,
) -> tuple[UploadState, Hasher | None]:
    """Write a chunk after the committed offset (the caller holds the upload); nothing is committed.

    Returns the upload as it would be with the chunk committed, and the running hash over it.
    """
    hasher = _hashers.take(upload.id, upload.offset)
    writer = await _writer_at(database, store, upload, lease)
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
    return UploadState(upload.id, upload.repository_id, upload.offset + received), hasher


async def _writer_at(database: Database, store: BlobStore, upload: UploadState, lease: _Lease) -> FileWriter:
    """A writer positioned at the committed offset: bytes a dead request left past it are dropped.

    Dropping them is the one destructive step, so it is taken only while the lease is confirmed
    still ours: a request that stalled past its lease, while another took the upload over and
    committed more, would otherwise cut the other's committed bytes off at its own older offset."""
    writer = await store.writer(upload_path(upload.id), append=True)
    if writer.size != upload.offset:
        await writer.close()
        if not await database.write(_renew_writer, upload.id, lease.token, now_ms() + WRITER_LEASE_MS):
            lease.held = False
            raise InvalidRange("the upload was changed by another request", offset=upload.offset)
        writer = await store.writer(upload_path(upload.id), append=True, offset=upload.offset)
    return writer


# One request at a time writes to an upload, whichever node it reaches: two at once would
# interleave their bytes under one running hash. The lease is renewed while the request runs, so
# only a writer that died loses it, after WRITER_LEASE_MS.
WRITER_LEASE_MS = 30_000
_RENEW_EVERY_S = 10.0


@dataclass(slots=True)
class _Lease:
    token: str
    held: bool = True
    """False once a transaction that released it (_advance) or removed the upload (_publish) committed."""


@dataclass(frozen=True, slots=True)
class Claim:
    """An upload this request holds already: claimed (`claim`) in the transaction that found it."""

    upload: UploadState
    token: str


def claim(db: Db, upload: UploadState, start: int | None = None) -> Claim:
    """Hold `upload` for this request, inside the caller's transaction (the one that read the
    upload: a PATCH or PUT then takes one transaction less). `start` is checked first, as `append`
    and `finish` do. Raises InvalidRange, or Busy while another request writes to the upload.

    From the commit on, the claim is the caller's to give back: pass it to `append` or `finish` at
    once, which release it whatever happens (a claim that is lost, say to a cancelled task, runs
    out after WRITER_LEASE_MS)."""
    _check_start(upload, start)
    token = secrets.token_hex(16)
    if not _claim_writer(db, upload, token, now_ms()):
        raise _busy(upload)
    return Claim(upload, token)


def _busy(upload: UploadState) -> Busy:
    return Busy("another request is writing to this upload; retry when it has finished", offset=upload.offset)


def _unclaimed(upload: UploadState | Claim) -> UploadState:
    return upload.upload if isinstance(upload, Claim) else upload


@contextlib.asynccontextmanager
async def _sole_writer(database: Database, held: UploadState | Claim) -> AsyncIterator[_Lease]:
    """The upload held by this request for the block, released after it (unless `_advance` or
    `_publish` did); a Claim is held already, an UploadState is claimed here first."""
    if isinstance(held, Claim):
        upload, lease = held.upload, _Lease(held.token)
    else:
        upload, lease = held, _Lease(secrets.token_hex(16))
        if not await database.write(_claim_writer, upload, lease.token, now_ms()):
            raise _busy(upload)

    async def renew() -> None:
        while True:
            await asyncio.sleep(_RENEW_EVERY_S)
            await database.write(_renew_writer, upload.id, lease.token, now_ms() + WRITER_LEASE_MS)

    renewer = asyncio.create_task(renew())
    try:
        yield lease
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        # Released here unless _advance already did or _publish removed the upload: a transaction
        # that would change nothing is not worth its thread hop and commit.
        if lease.held:
            await database.write(_release_writer, upload.id, lease.token)


def _claim_writer(db: Db, upload: UploadState, token: str, now: int) -> bool:
    params = {
        "u_id": upload.id,
        "u_offset": upload.offset,
        "u_now": now,
        "u_token": token,
        "u_until": now + WRITER_LEASE_MS,
    }
    return db.execute(_CLAIM, params).rowcount == 1


def _renew_writer(db: Db, upload_id: str, token: str, until: int) -> bool:
    """Extend the lease; False when it is no longer this request's (another took the upload over)."""
    return db.execute(_RENEW, {"u_id": upload_id, "u_token": token, "u_until": until}).rowcount == 1


def _release_writer(db: Db, upload_id: str, token: str) -> None:
    db.execute(_RELEASE, {"u_id": upload_id, "u_token": token})


BATCH = 1024 * 1024
# Hashing this much costs about 45 µs on the event loop, less than a hop to a thread and back.
HASH_INLINE_MAX = 64 * 1024


async def _pipe(body: AsyncIterator[bytes], writer: FileWriter, hasher: Hasher | None) -> int:
    """Copy the body to the writer, hashing it, in batches handed to threads.

    While one batch is written and hashed off the event loop (both release the GIL), the next one
    is received, so a push uses both cores; at most two batches are in memory at a time. A small
    batch (a small blob, or the tail of a chunk) is hashed in place.
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
            if len(data) <= HASH_INLINE_MAX:
                hasher.update(data)
            else:
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
    params = {
        "u_id": upload.id,
        "u_offset": upload.offset,
        "u_token": token,
        "u_new_offset": new_offset,
        "u_now": now_ms(),
    }
    return db.execute(_ADVANCE, params).rowcount == 1


def _publish(
    db: Db, upload: UploadState, token: str | None, digest: str, size: int
) -> blobs.BlobRecord | None:
    """Register and link the blob and remove the upload; None while garbage collection is deleting
    the same digest. `size` is more than the upload's committed offset when the last chunk came
    with the finishing request: this commits that chunk too. Without a `token` (`publish_whole`),
    the upload must still be empty and held by nobody."""
    lock(db, "blob", digest)
    if db.execute(_BEING_DELETED, {"digest": digest}).first() is not None:
        return None
    if token is None:
        # Refused as the claim would have refused it: nearly always another request holds it.
        if not _drop_unheld(db, upload):
            raise _busy(upload)
    # The same test _advance makes: only the request holding the upload may finish it.
    elif db.execute(_TAKE, {"u_id": upload.id, "u_offset": upload.offset, "u_token": token}).rowcount != 1:
        raise InvalidRange("the upload was changed by another request", offset=upload.offset)
    blob = blobs.register(db, digest, size)
    blobs.link(db, upload.repository_id, blob.id)
    return blob


async def _rehash(store: BlobStore, upload_id: str, length: int, algorithm: str) -> Hasher:
    hasher = new_hasher(algorithm)
    async for chunk in store.read(upload_path(upload_id), 0, length):
        hasher.update(chunk)
    return hasher


async def finish(
    database: Database,
    store: BlobStore,
    held: UploadState | Claim,
    digest: Digest,
    body: AsyncIterator[bytes] | None = None,
    *,
    start: int | None = None,
    length: int | None = None,
) -> blobs.BlobRecord:
    """Verify the upload against `digest` and publish it as a blob of the upload's repository.

    A `body` is a last chunk (with `start` and `length` as for `append`), written under the same
    claim as the publication: its offset is never committed on its own. A Claim (its `start`
    checked by `claim`) is released here, whatever happens.
    """
    upload = _unclaimed(held)
    if not isinstance(held, Claim):
        _check_start(upload, start)
    async with _sole_writer(database, held) as lease:
        if body is None:
            # Bytes a dead request left past the committed offset must not become part of the blob.
            if await store.stat(upload_path(upload.id)) != upload.offset:
                await (await _writer_at(database, store, upload, lease)).close()
            complete, hasher = upload, _hashers.take(upload.id, upload.offset)
        else:
            # _receive wrote from the committed offset on, dropping whatever lay past it.
            complete, hasher = await _receive(database, store, upload, lease, body, length)
        return await _finish(database, store, upload, complete, hasher, digest, lease)


async def _finish(
    database: Database,
    store: BlobStore,
    upload: UploadState,
    complete: UploadState,
    hasher: Hasher | None,
    digest: Digest,
    lease: _Lease,
) -> blobs.BlobRecord:
    """Publish `complete` (the upload with any last chunk written), whose bytes hash to `hasher`."""
    if hasher is None or digest.algorithm != STREAMING_ALGORITHM:
        hasher = await _rehash(store, upload.id, complete.offset, digest.algorithm)
    actual = hasher.hexdigest()
    if actual != digest.encoded:
        await cancel(database, store, upload)
        lease.held = False
        raise InvalidDigest(f"content digest {digest.algorithm}:{actual} does not match {digest}")
    # The bytes are copied into place before the row that publishes them exists, every time (also
    # when the digest is already stored): garbage collection may be deleting that very file, and
    # then _publish waits for it to finish and the copy is made again.
    # The copy is of the verified bytes only, and an object of its own: a request that took the
    # upload over after this one's claim ran out (this one stalled) may append to or truncate the
    # upload's file, and must not change the blob at its content address.
    source, target = upload_path(upload.id), blob_path(digest)
    deadline = time.monotonic() + PUBLISH_WAIT_S
    while True:
        await _copy_verified(store, upload, source, target, complete.offset)
        blob = await database.write(_publish, upload, lease.token, str(digest), complete.offset)
        if blob is not None:
            lease.held = False  # the upload's row is gone, and the lease with it
            break
        if time.monotonic() > deadline:
            raise Busy(f"blob {digest} is being garbage-collected; retry the upload")
        await asyncio.sleep(0.05)
    # A deletion of this digest that was under way when we copied (garbage collection, or the
    # orphan sweep removing an old stray copy of the same bytes) may have removed our copy, and
    # finished, before the row was committed. Once the row exists no deletion can begin until it
    # is unreferenced again, so one look now is enough to be sure the published blob has its file.
    if await store.stat(target) is None:
        await _copy_verified(store, upload, source, target, complete.offset)
    await store.delete(source)
    return blob


WHOLE_MAX = BATCH
"""The largest blob a PUT may bring whole to an empty upload and have published by
`publish_whole`, held in memory meanwhile: no more than a streamed body holds at a time."""


async def publish_whole(
    database: Database, store: BlobStore, upload: UploadState, digest: Digest, data: bytes
) -> blobs.BlobRecord:
    """Publish `data`, the whole blob (at most WHOLE_MAX bytes), which the request finishing the
    empty `upload` brought (POST, then PUT with the body: the bench's and several clients' push of
    a small blob), without claiming the upload first.

    The claim keeps a second writer off the upload's file; these bytes never go there. They are
    verified in memory and written to the blob's address, and the transaction that publishes them
    removes the upload only if it is still empty and held by nobody (`_TAKE_UNHELD`): a request
    that claimed or grew it meanwhile wins, and this one is refused (Busy) as by the claim.
    One write transaction instead of two. A digest that does not match removes the upload, as
    `finish` does, unless another request holds it."""
    hasher = new_hasher(digest.algorithm)
    if len(data) <= HASH_INLINE_MAX:
        hasher.update(data)
    else:
        await asyncio.to_thread(hasher.update, data)
    actual = hasher.hexdigest()
    if actual != digest.encoded:
        # Removed as `finish` removes it, unless another request holds it meanwhile: this one
        # never did, and must not pull the upload from under the one that does.
        if await database.write(_drop_unheld, upload):
            _hashers.drop(upload.id)
            await store.delete(upload_path(upload.id))
        raise InvalidDigest(f"content digest {digest.algorithm}:{actual} does not match {digest}")
    # As in _finish: the bytes are in place before the row that publishes them, every time, and
    # once more if a deletion of the same digest removed them before the row was committed.
    target = blob_path(digest)
    deadline = time.monotonic() + PUBLISH_WAIT_S
    while True:
        await store.put_bytes(target, data)
        blob = await database.write(_publish, upload, None, str(digest), len(data))
        if blob is not None:
            break
        if time.monotonic() > deadline:
            raise Busy(f"blob {digest} is being garbage-collected; retry the upload")
        await asyncio.sleep(0.05)
    if await store.stat(target) is None:
        await store.put_bytes(target, data)
    _hashers.drop(upload.id)
    await store.delete(upload_path(upload.id))
    return blob


def _drop_unheld(db: Db, upload: UploadState) -> bool:
    return db.execute(_TAKE_UNHELD, {"u_id": upload.id, "u_now": now_ms()}).rowcount == 1


async def _copy_verified(
    store: BlobStore, upload: UploadState, source: str, target: str, length: int
) -> None:
    try:
        await store.copy(source, target, length)
    except PathNotFound:
        raise
    except StorageError:
        # Fewer bytes than were verified: a request that took the upload over cut it meanwhile.
        raise InvalidRange("the upload was changed by another request", offset=upload.offset) from None


async def cancel(database: Database, store: BlobStore, upload: UploadState) -> None:
    _hashers.drop(upload.id)
    await database.write(lambda db: db.execute(_DELETE, {"u_id": upload.id}))
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

"""S3 driver (AWS S3, Ceph RGW, SeaweedFS, MinIO...) on obstore.

Two kinds of object live under the key prefix:

- plain objects at `<prefix><path>`: blobs, manifests' configs, anything `put_bytes`, `move` or
  `copy` wrote. Reads try these first, so serving a blob costs one request.
- staged objects, written by `writer`: part objects `<prefix>.parts/<path>/<offset:020d>`, one per
  writer session (PATCH request), each named by the offset where its bytes begin. The object is
  their concatenation. All state is in the bucket, so any node can append to an upload another
  node began, after a restart too. `check_path` refuses a leading dot, so no caller's path can
  reach the `.parts` keys.

`move`/`copy` of a staged object assemble the parts into one plain object with a multipart upload
whose parts are copied server-side (UploadPartCopy, `_compose.plan`): bytes pass through Wharf
only to top up runs of parts smaller than S3's 5 MiB minimum part. A single part is one CopyObject.
Without static credentials (obstore finding them in the environment or instance metadata) or with
`server_side_assembly` off (for stores without UploadPartCopy), assembly streams the bytes
through Wharf instead, in bounded memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import GenericError
from obstore.store import S3Store

from wharf.storage import _sigv4
from wharf.storage._compose import Piece, Span, plan
from wharf.storage._s3api import Endpoint, MultipartApi, S3RequestError
from wharf.storage._s3writer import STREAM_CHUNK, S3Writer
from wharf.storage.base import PathNotFound, StorageError, StoredObject, check_path
from wharf.storage.locations import S3Options

__all__ = ["S3BlobStore", "S3Options"]

if TYPE_CHECKING:
    from obstore import GetOptions, GetResult, ObjectMeta
    from obstore.store import S3Config

# Chunks handed to the caller: small enough that a streamed download leaves no large buffers
# behind in the allocator (1 MiB chunks grew a 1 GiB pull's RSS by twice as much).
READ_CHUNK = 256 * 1024
PARTS_DIR = ".parts"
# S3 refuses CopyObject of a larger source: those are copied as a multipart upload of ranges.
COPY_OBJECT_MAX = 5 * 1024 * 1024 * 1024
# Part copies of one assembly in flight at once.
COPY_CONCURRENCY = 4
HEALTH_TIMEOUT_S = 5.0
_DIGITS = 20

log = logging.getLogger("wharf.storage")


@dataclass(frozen=True, slots=True)
class _Part:
    start: int
    size: int
    key: str


def _normal_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{check_path(prefix)}/" if prefix else ""


class S3BlobStore:
    name = "s3"

    def __init__(self, options: S3Options) -> None:
        self.options = options
        self._prefix = _normal_prefix(options.prefix)
        endpoint = options.endpoint or f"https://s3.{options.region}.amazonaws.com"
        config: S3Config = {
            "endpoint": endpoint,
            "region": options.region,
            "virtual_hosted_style_request": False,
        }
        # Without keys obstore finds credentials itself (environment, web identity, instance role).
        if options.access_key and options.secret_key:
            config["access_key_id"] = options.access_key
            config["secret_access_key"] = options.secret_key
        if options.session_token:
            config["session_token"] = options.session_token
        self._store = S3Store(
            options.bucket,
            config=config,
            # obstore's default 30 s for a whole request would cut off a large blob streamed to a
            # slow client, or a multi-GiB server-side copy: stalls are caught per read instead.
            client_options={
                "allow_http": endpoint.startswith("http://"),
                "connect_timeout": "5s",
                "timeout": "6h",
                "read_timeout": "120s",
            },
            retry_config={"max_retries": 4, "retry_timeout": timedelta(seconds=60)},
        )
        # The calls obstore lacks are signed with static keys; without them there are none.
        self._endpoint: Endpoint | None = None
        if options.access_key and options.secret_key:
            creds = _sigv4.Credentials(options.access_key, options.secret_key, options.session_token)
            self._endpoint = Endpoint(endpoint, options.bucket, options.region, creds)
        self._api = self._endpoint if options.server_side_assembly else None

    @property
    def obstore(self) -> S3Store:
        """The underlying obstore store (tests look at the bucket through it)."""
        return self._store

    @property
    def multipart_endpoint(self) -> Endpoint | None:
        """Where server-side assembly sends its requests; None when it streams instead."""
        return self._api

    @property
    def key_prefix(self) -> str:
        """What every key of this store begins with: `` or `<prefix>/`."""
        return self._prefix

    def key(self, path: str) -> str:
        """The bucket key of the plain object at `path`."""
        return self._key(path)

    # -- key layout -------------------------------------------------------------------------------

    def _key(self, path: str) -> str:
        return self._prefix + check_path(path)

    def _parts_dir(self, path: str) -> str:
        return f"{self._prefix}{PARTS_DIR}/{check_path(path)}"

    def _part_key(self, path: str, start: int) -> str:
        return f"{self._parts_dir(path)}/{start:0{_DIGITS}d}"

    async def _parts(self, path: str) -> tuple[list[_Part], list[str]]:
        """The staged object's parts that chain from offset 0, and every other key in its parts dir.

        Anything off the chain (a part past a truncation, a leftover temporary) is garbage the
        next writer removes.
        """
        parts_dir = self._parts_dir(path)
        listing = await obstore.list_with_delimiter_async(self._store, parts_dir)
        found: list[_Part] = []
        other: list[str] = []
        for meta in listing["objects"]:
            directory, _, name = meta["path"].rpartition("/")
            if directory != parts_dir:
                continue  # SeaweedFS lists a directory emptied of its files as an object itself
            if len(name) == _DIGITS and name.isdigit():
                found.append(_Part(int(name), meta["size"], meta["path"]))
            else:
                other.append(meta["path"])
        chain: list[_Part] = []
        end = 0
        for part in sorted(found, key=lambda p: p.start):
            if part.start == end:
                chain.append(part)
                end += part.size
            else:
                other.append(part.key)
        return chain, other

    async def _head(self, key: str) -> int | None:
        try:
            meta = await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return None
        return meta["size"]

    async def _spans(self, path: str) -> list[Span]:
        """Where the object's bytes are, in order; raises PathNotFound."""
        key = self._key(path)
        size = await self._head(key)
        if size is not None:
            return [Span(key, 0, size, size)]
        chain, _ = await self._parts(path)
        if not chain:
            raise PathNotFound(path)
        return [Span(p.key, 0, p.size, p.size) for p in chain]

    # -- reading ----------------------------------------------------------------------------------

    async def stat(self, path: str) -> int | None:
        size = await self._head(self._key(path))
        if size is not None:
            return size
        chain, _ = await self._parts(path)
        return sum(p.size for p in chain) if chain else None

    async def _open(self, key: str, start: int, end: int | None) -> AsyncIterator[bytes] | None:
        """Bytes [start, end) of one object (to its end when `end` is None); None if it is missing."""
        options: GetOptions = {}
        if end is not None:
            if end <= start:
                return _nothing()
            options["range"] = (start, end)
        elif start:
            options["range"] = {"offset": start}
        try:
            result = await obstore.get_async(self._store, key, options=options)
        except FileNotFoundError:
            return None
        except GenericError:
            # S3 answers 416 to a range that starts at or past the end: like a file, read nothing.
            size = await self._head(key)
            if size is not None and start >= size:
                return _nothing()
            raise
        return _chunks(result)

    async def _read_spans(self, spans: Sequence[Span]) -> AsyncIterator[bytes]:
        for span in spans:
            stream = await self._open(span.key, span.start, span.end)
            if stream is None:
                raise PathNotFound(span.key)
            async for chunk in stream:
                yield chunk

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        end = None if length is None else offset + length
        if length == 0:
            if await self.stat(path) is None:
                raise PathNotFound(path)
            return
        stream = await self._open(self._key(path), offset, end)
        if stream is None:
            chain, _ = await self._parts(path)
            if not chain:
                raise PathNotFound(path)
            stream = self._read_spans(_slice(chain, offset, end))
        async for chunk in stream:
            yield chunk

    async def get_bytes(self, path: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, self._key(path))
            return bytes(await result.bytes_async())
        except FileNotFoundError:
            pass
        return b"".join([chunk async for chunk in self.read(path)])

    # -- writing ----------------------------------------------------------------------------------

    async def put_bytes(self, path: str, data: bytes) -> None:
        await obstore.put_async(self._store, self._key(path), data)

    async def writer(self, path: str, append: bool = False, offset: int | None = None) -> S3Writer:
        check_path(path)
        if not append:
            await self.delete_object(path)
            return self._writer(path, 0, marker=True)
        chain, garbage = await self._parts(path)
        if not chain:
            chain = await self._adopt_plain(path)
        end = sum(p.size for p in chain)
        if offset is not None:
            if offset > end:
                raise StorageError(f"cannot resume {path} at {offset}: it holds {end} bytes")
            chain, cut = await self._truncate(path, chain, offset)
            garbage += cut
            end = offset
        if garbage:
            await obstore.delete_async(self._store, garbage)
        return self._writer(path, end, marker=not chain)

    def _writer(self, path: str, start: int, *, marker: bool) -> S3Writer:
        async def discard() -> None:
            await self.delete_object(path)

        return S3Writer(
            self._store,
            lambda offset: self._part_key(path, offset),
            start,
            discard,
            marker=marker,
            part_max=self.options.part_object_max,
        )

    async def _adopt_plain(self, path: str) -> list[_Part]:
        """Appending to a plain object: it becomes the first part (a server-side copy)."""
        key = self._key(path)
        size = await self._head(key)
        if size is None:
            return []
        first = self._part_key(path, 0)
        await self._compose(first, [Span(key, 0, size, size)])
        await obstore.delete_async(self._store, key)
        return [_Part(0, size, first)]

    async def _truncate(self, path: str, chain: list[_Part], offset: int) -> tuple[list[_Part], list[str]]:
        """Keep the first `offset` bytes; returns the parts left and the keys to delete."""
        kept: list[_Part] = []
        dropped: list[str] = []
        for part in chain:
            if part.start >= offset:
                dropped.append(part.key)
            elif part.start + part.size <= offset:
                kept.append(part)
            else:
                # The part straddles the offset: rewrite it shorter, through a temporary object
                # (a copy onto itself is not something every S3 implementation handles).
                length = offset - part.start
                temp = f"{part.key}.cut"
                await self._compose(temp, [Span(part.key, 0, length, part.size)])
                await self._compose(part.key, [Span(temp, 0, length, length)])
                dropped.append(temp)
                kept.append(_Part(part.start, length, part.key))
        return kept, dropped

    # -- assembling -------------------------------------------------------------------------------

    async def _compose(self, dst: str, spans: list[Span]) -> None:
        """Write the concatenation of `spans` to the key `dst`, server-side where S3 allows."""
        spans = [s for s in spans if s.length > 0]
        total = sum(s.length for s in spans)
        if len(spans) == 1 and spans[0].whole and total <= COPY_OBJECT_MAX:
            await obstore.copy_async(self._store, spans[0].key, dst)
        elif total < self.options.min_part:
            # Under one part's size (empty included): a single PUT from memory is cheapest.
            data = b"".join([chunk async for chunk in self._read_spans(spans)])
            await obstore.put_async(self._store, dst, data, use_multipart=False)
        elif self._api is None:
            await obstore.put_async(
                self._store, dst, self._read_spans(spans), chunk_size=STREAM_CHUNK, max_concurrency=1
            )
        else:
            await self._multipart_copy(self._api, dst, spans)

    async def _multipart_copy(self, endpoint: Endpoint, dst: str, spans: list[Span]) -> None:
        pieces = plan(spans, self.options.min_part, self.options.max_part)
        limit = asyncio.Semaphore(COPY_CONCURRENCY)
        async with MultipartApi.session(endpoint) as api:
            upload_id = await api.create(dst)

            async def part(number: int, piece: Piece) -> str:
                async with limit:
                    if piece.copy:
                        (s,) = piece.spans
                        return await api.copy_part(dst, upload_id, number, s.key, s.start, s.end)
                    body = self._read_spans(piece.spans)
                    return await api.upload_part(dst, upload_id, number, body, piece.length)

            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(part(n, p)) for n, p in enumerate(pieces, 1)]
                await api.complete(dst, upload_id, [t.result() for t in tasks])
            except BaseException:
                # Parts of an unfinished multipart upload are stored (and billed) until aborted.
                with contextlib.suppress(Exception):
                    await api.abort(dst, upload_id)
                raise

    async def copy(self, src: str, dst: str, length: int | None = None) -> None:
        spans = await self._spans(src)
        if length is not None:
            held = sum(s.length for s in spans)
            if held < length:
                raise StorageError(f"cannot copy {length} bytes of {src}: it holds {held}")
            spans = _first_bytes(spans, length)
        await self._compose(self._key(dst), spans)

    async def move(self, src: str, dst: str) -> None:
        # S3 has no rename: a copy (server-side) that is atomic at dst, then the source goes.
        await self.copy(src, dst)
        await self.delete_object(src)

    # -- deleting and listing ---------------------------------------------------------------------

    async def delete_object(self, path: str) -> None:
        """Remove the object at `path` (plain and staged), not what lies under it."""
        chain, other = await self._parts(path)
        await obstore.delete_async(self._store, [self._key(path), *(p.key for p in chain), *other])

    async def delete(self, path: str) -> None:
        keys = [self._key(path)]
        await obstore.delete_async(self._store, keys)
        for prefix in (self._key(path), self._parts_dir(path)):
            async for batch in obstore.list(self._store, prefix, chunk_size=1000):
                await obstore.delete_async(self._store, [m["path"] for m in batch])

    async def list(self, prefix: str) -> AsyncIterator[str]:
        async for found in self.scan(prefix):
            yield found.path

    async def scan(self, prefix: str) -> AsyncIterator[StoredObject]:
        key = self._key(prefix)
        # Staged objects first, held until the plain listing has passed their paths: few (uploads in
        # progress), where the plain objects under a prefix may be millions.
        staged: dict[str, StoredObject] = {}
        parts_root = f"{self._prefix}{PARTS_DIR}/"
        async for batch in obstore.list(self._store, self._parts_dir(prefix), chunk_size=1000):
            for meta in batch:
                path = _staged_path(meta["path"], parts_root)
                if path is not None:
                    staged[path] = _joined(staged.get(path), path, meta)
        with contextlib.suppress(FileNotFoundError):
            meta = await obstore.head_async(self._store, key)
            yield _joined(staged.pop(prefix, None), prefix, meta)
        async for batch in obstore.list(self._store, key, chunk_size=1000):
            for meta in batch:
                path = meta["path"][len(self._prefix) :]
                yield _joined(staged.pop(path, None), path, meta)
        for found in staged.values():
            yield found

    async def remove_interrupted_writes(self, before: float) -> int:
        """Abort the multipart uploads begun under the key prefix before `before`: their parts are
        stored (and billed) until then, and no listing of objects shows them."""
        if self._endpoint is None:
            log.warning(
                "cannot list incomplete multipart uploads without s3_access_key/s3_secret_key; "
                "a bucket lifecycle rule (AbortIncompleteMultipartUpload) has to remove them"
            )
            return 0
        aborted = 0
        async with MultipartApi.session(self._endpoint) as api:
            stale = [
                u
                async for u in api.incomplete(self._prefix)
                if u.initiated is not None and u.initiated < before
            ]
            for upload in stale:
                try:
                    await api.abort(upload.key, upload.upload_id)
                except S3RequestError as e:  # completed or aborted meanwhile
                    log.warning("could not abort multipart upload of %s: %s", upload.key, e)
                    continue
                aborted += 1
        return aborted

    # -- serving ----------------------------------------------------------------------------------

    async def open_file(self, path: str) -> int | None:
        return None  # objects are not local files: read() streams them

    async def redirect_url(self, path: str) -> str | None:
        if not self.options.redirect:
            return None
        lifetime = timedelta(seconds=self.options.redirect_lifetime_s)
        return await obstore.sign_async(self._store, "GET", self._key(path), lifetime)

    async def healthy(self) -> bool:
        # A listing that finds nothing still proves the bucket exists and the credentials work.
        probe = f"{self._prefix}{PARTS_DIR}/health-check"
        try:
            await asyncio.wait_for(obstore.list_with_delimiter_async(self._store, probe), HEALTH_TIMEOUT_S)
        except Exception:
            return False
        return True


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield


async def _chunks(result: GetResult) -> AsyncIterator[bytes]:
    async for chunk in result.stream(min_chunk_size=READ_CHUNK):
        yield bytes(chunk)


def _slice(chain: Sequence[_Part], start: int, end: int | None) -> list[Span]:
    """The spans of the parts that hold bytes [start, end) of their concatenation."""
    spans = []
    for p in chain:
        lo = max(start, p.start)
        hi = p.start + p.size if end is None else min(end, p.start + p.size)
        if lo < hi:
            spans.append(Span(p.key, lo - p.start, hi - p.start, p.size))
    return spans


def _first_bytes(spans: Sequence[Span], length: int) -> list[Span]:
    """The spans that hold the first `length` bytes of their concatenation."""
    kept = []
    for span in spans:
        if length <= 0:
            break
        take = min(span.length, length)
        kept.append(Span(span.key, span.start, span.start + take, span.size))
        length -= take
    return kept


def _staged_path(key: str, parts_root: str) -> str | None:
    """The path of the staged object a key in `.parts/` belongs to: its parts, and the temporaries
    named after them (`<offset>.cut`)."""
    path, _, name = key[len(parts_root) :].rpartition("/")
    if path and len(name) >= _DIGITS and name[:_DIGITS].isdigit():
        return path
    return None


def _joined(seen: StoredObject | None, path: str, meta: ObjectMeta) -> StoredObject:
    """`seen` (the same path's objects found so far) and one more: sizes add up, the newest counts."""
    modified = meta["last_modified"].timestamp()
    if seen is None:
        return StoredObject(path, meta["size"], modified)
    return StoredObject(path, seen.size + meta["size"], max(seen.modified, modified))

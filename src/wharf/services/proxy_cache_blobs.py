"""Pull-through of blobs in a proxy-cache organization.

Blobs are fetched when a client asks for one that a cached manifest names: the bytes go to the
client and into storage together, the digest checked as they pass, and the blob is recorded only
once it matched. One request at a time fetches a given blob (a lease in the database).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from wharf.auth import tokens
from wharf.auth.tokens import Grant
from wharf.core import proxy_cache
from wharf.core.errors import BlobNotFound, RepositoryNotFound
from wharf.core.proxy_cache import ProxyCacheRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.integrations.outbound import OutboundRefused
from wharf.integrations.upstream import RegistryClient, UpstreamDigestMismatch, UpstreamError
from wharf.oci.digest import Digest
from wharf.oci.names import RepositoryName
from wharf.runtime import Runtime
from wharf.services.proxy_cache import domain_error, upstream_client, upstream_of
from wharf.storage.base import FileWriter, blob_path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PulledBlob:
    """A blob on its way from the upstream: `size` as the upstream declared it (None if it did
    not), `chunks` what to send the client (storing them as they pass)."""

    size: int | None
    chunks: AsyncIterator[bytes] | None
    """None for a HEAD."""


def _waiting_for(db: Db, grant: Grant | None, name: RepositoryName, digest: str) -> RepositoryRecord:
    repo = tokens.repository_for(db, grant, name.namespace, name.name)
    if repo is None:
        raise RepositoryNotFound(f"repository {name.namespace}/{name.name} not found")
    if not proxy_cache.is_named(db, repo.id, digest):
        raise BlobNotFound(f"blob {digest} is not in {name.namespace}/{name.name}")
    return repo


FETCH_LEASE_S = 30.0
"""How long a blob fetch's lease lasts without renewal; the fetching request renews it while it
streams, so only a fetch whose request or node died leaves it to run out (and then another pull
takes over)."""
_FOLLOW_POLL_S = (0.05, 0.5)


async def blob(
    rt: Runtime,
    config: ProxyCacheRecord,
    grant: Grant | None,
    name: RepositoryName,
    digest: Digest,
    *,
    head: bool,
) -> PulledBlob:
    """A blob a cached manifest of the repository names and Wharf does not hold yet, from the
    upstream. BlobNotFound for any other digest: the cache holds images, not arbitrary blobs.

    One request at a time fetches a given blob (a lease in the database, so across processes and
    nodes): the others wait for it, then read the blob from storage."""
    repo = await rt.db.read(_waiting_for, grant, name, str(digest))
    if head:
        return await _head(rt, config, name, digest)
    holder = uuid.uuid4().hex
    size = await _wait_for_turn(rt, str(digest), holder)
    if size is not None:
        await rt.db.write(
            proxy_cache.link_fetched_blob,
            repo.id,
            str(digest),
            size,
            scan=rt.settings.FEATURE_SECURITY_SCANNER,
        )
        return PulledBlob(size, rt.store.read(blob_path(digest)))
    try:
        return await _fetch_blob(rt, config, repo, name, digest, holder)
    except BaseException:
        await rt.db.write(proxy_cache.release_fetch, str(digest), holder)
        raise


async def _head(rt: Runtime, config: ProxyCacheRecord, name: RepositoryName, digest: Digest) -> PulledBlob:
    try:
        async with upstream_client(rt, upstream_of(rt, config)) as client:
            return PulledBlob(await client.blob_size(name.name, digest), None)
    except (UpstreamError, OutboundRefused) as e:
        raise domain_error(e, f"blob {digest}") from None


async def _wait_for_turn(rt: Runtime, digest: str, holder: str) -> int | None:
    """None once this request holds the fetch's lease; the blob's size when another request
    stored it meanwhile."""
    pause = _FOLLOW_POLL_S[0]
    while True:
        claim = await rt.db.write(proxy_cache.claim_fetch, digest, holder, int(FETCH_LEASE_S * 1000))
        if claim.stored is not None:
            return claim.stored
        if claim.mine:
            return None
        await asyncio.sleep(pause)
        pause = min(pause * 2, _FOLLOW_POLL_S[1])


async def _fetch_blob(
    rt: Runtime,
    config: ProxyCacheRecord,
    repo: RepositoryRecord,
    name: RepositoryName,
    digest: Digest,
    holder: str,
) -> PulledBlob:
    client = upstream_client(rt, upstream_of(rt, config))
    await client.__aenter__()
    try:
        size, chunks = await client.blob(name.name, digest)
        # The first chunk before the answer's headers: a small blob that does not match its digest
        # is then refused with an error instead of a cut-off body.
        first = await anext(chunks, b"")
    except (UpstreamError, OutboundRefused) as e:
        await client.__aexit__(None, None, None)
        if isinstance(e, UpstreamDigestMismatch):
            log.warning(
                "proxy cache %s: the upstream sent blob %s with other content", name.namespace, digest
            )
        raise domain_error(e, f"blob {digest}") from None
    relay = _Relay()
    fetch = _Fetch(rt, client, repo, digest, holder)
    task = asyncio.create_task(fetch.run(first, chunks, relay), name=f"proxy-cache-fetch {digest}")
    _running.add(task)
    task.add_done_callback(_running.discard)
    return PulledBlob(size, _relayed(relay))


_RELAY_PIECE = 128 * 1024
"""The least the client gets at a time (after the first chunk): smaller chunks are joined until
they make this much, a larger one goes as it is (joining two would copy both)."""
_RELAY_PIECES = 4
"""How many pieces the fetch may run ahead of its client (half a MiB to a MiB): while the client stays,
its pace is the fetch's."""
_running: set[asyncio.Task[None]] = set()
"""The fetches under way in this process (a task is only weakly held by the event loop)."""


class _Relay:
    """The bytes from the fetch to the client that asked for them. The fetch is a task of its own,
    so that a client that leaves (the server then cancels the request's generator) does not stop
    it: the blob is finished into storage, for the next pull and for the pulls that wait for it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(_RELAY_PIECES)
        self.gone = False

    async def put(self, item: bytes | BaseException | None) -> None:
        if not self.gone:
            await self.queue.put(item)

    def end(self, error: BaseException) -> None:
        """Tell the client the fetch stopped, without waiting (a cancelled fetch cannot wait)."""
        if self.gone:
            return
        if self.queue.full():
            self.queue.get_nowait()  # the body is cut off anyway
        self.queue.put_nowait(error)

    def leave(self) -> None:
        """The client is gone: nothing more is queued for it, and a fetch waiting for room in the
        queue goes on. No await here: this runs in a request the server is cancelling."""
        self.gone = True
        while not self.queue.empty():
            self.queue.get_nowait()


class _Piece:
    """Chunks on their way to storage and the relay, joined until they make _RELAY_PIECE bytes (a
    chunk of that size or more goes alone: the upstream's reads are that large on plain HTTP).
    Storage gets the same pieces as the client: one write per piece, not per TLS record."""

    def __init__(self, writer: FileWriter, relay: _Relay, *, first_alone: bool) -> None:
        self.writer = writer
        self.relay = relay
        self.parts: list[bytes] = []
        self.size = 0
        self.written = 0
        self.first_alone = first_alone
        """The first chunk goes on at once (the client's first byte does not wait)."""

    async def add(self, chunk: bytes) -> None:
        self.parts.append(chunk)
        self.size += len(chunk)
        if self.first_alone or self.size >= _RELAY_PIECE:
            self.first_alone = False
            await self.flush()

    async def flush(self) -> None:
        joined = self._take()
        if joined:
            await self.writer.write(joined)
            self.written += len(joined)
            await self.relay.put(joined)

    async def give_up(self) -> None:
        """What came before a failure reaches the client, as it came (storage will not keep it)."""
        joined = self._take()
        if joined:
            await self.relay.put(joined)

    def _take(self) -> bytes:
        joined = b"".join(self.parts) if len(self.parts) > 1 else (self.parts[0] if self.parts else b"")
        self.parts.clear()
        self.size = 0
        return joined


async def _relayed(relay: _Relay) -> AsyncIterator[bytes]:
    """What the client's response sends: the fetch's chunks as they come; an upstream failure or
    a mismatch ends the body early (the headers were already sent)."""
    try:
        while True:
            item = await relay.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        relay.leave()


def _record(db: Db, repository_id: int, digest: Digest, size: int, holder: str, scan: bool) -> None:
    """The blob is stored: recorded, and its fetch's lease given up, in one transaction (one commit
    fewer while the client waits for the blob's last chunk)."""
    proxy_cache.link_fetched_blob(db, repository_id, str(digest), size, scan=scan)
    proxy_cache.release_fetch(db, str(digest), holder)


@dataclass(slots=True)
class _Fetch:
    """One blob from the upstream into storage, holding the fetch's lease."""

    rt: Runtime
    client: RegistryClient
    repo: RepositoryRecord
    digest: Digest
    holder: str

    async def run(self, first: bytes, chunks: AsyncIterator[bytes], relay: _Relay) -> None:
        """Write the blob to a staging object while passing it on; only a whole, matching blob is
        moved to its place and recorded. A mismatch or an upstream failure stores nothing. The
        lease is renewed as the bytes pass and given up at the end, whatever happened.

        The last chunk goes to the client only after the blob is recorded: a client that has all
        the bytes closes the connection, and the blob must be recorded by then."""
        rt, digest = self.rt, self.digest
        staging = f"uploads/proxy-{uuid.uuid4()}"
        stored = False
        try:
            writer = await rt.store.writer(staging)
            try:
                held = await self._write(writer, first, chunks, relay)
                await writer.close()
            except BaseException:
                await writer.cancel()
                raise
            await rt.store.move(staging, blob_path(digest))
            scan = rt.settings.FEATURE_SECURITY_SCANNER
            await rt.db.write(_record, self.repo.id, digest, held[1], self.holder, scan)
            stored = True
            if held[0]:
                await relay.put(held[0])
            await relay.put(None)
        except Exception as e:
            repo = self.repo
            log.warning("proxy cache: blob %s of %s/%s not stored: %s", digest, repo.namespace, repo.name, e)
            relay.end(e)
        except BaseException as e:  # cancelled: the process is stopping
            relay.end(e)
            raise
        finally:
            if not stored:
                await self._abandon(staging)
            await self.client.__aexit__(None, None, None)

    async def _write(
        self, writer: FileWriter, first: bytes, chunks: AsyncIterator[bytes], relay: _Relay
    ) -> tuple[bytes, int]:
        """Write every chunk, passing all but the last on; returns (the last chunk, the size).
        After the first chunk, storage and the client get them in pieces of at least
        _RELAY_PIECE: the upstream's reads can be small (16 KiB records on TLS), and each piece
        written and sent costs the server the same work whatever its size."""
        renew_at = time.monotonic() + FETCH_LEASE_S / 3
        held = first
        piece = _Piece(writer, relay, first_alone=True)
        try:
            async for chunk in chunks:
                if held:
                    await piece.add(held)
                held = chunk
                if time.monotonic() > renew_at:
                    lease_ms = int(FETCH_LEASE_S * 1000)
                    await self.rt.db.write(proxy_cache.renew_fetch, str(self.digest), self.holder, lease_ms)
                    renew_at = time.monotonic() + FETCH_LEASE_S / 3
        except Exception:
            await piece.give_up()
            raise
        await piece.flush()
        if held:
            await writer.write(held)
        return held, piece.written + len(held)

    async def _abandon(self, staging: str) -> None:
        """Nothing half-written stays, and the lease goes so that the next pull fetches again."""
        try:
            await self.rt.store.delete(staging)
        except Exception:
            log.warning("proxy cache: the staging object %s could not be deleted", staging, exc_info=True)
        await self.rt.db.write(proxy_cache.release_fetch, str(self.digest), self.holder)

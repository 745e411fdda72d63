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
from wharf.storage.base import blob_path

log = logging.getLogger(__name__)

# -- blobs ------------------------------------------------------------------------------------


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
    return PulledBlob(size, _store_while_sending(rt, client, repo, digest, holder, first, chunks))


async def _store_while_sending(
    rt: Runtime,
    client: RegistryClient,
    repo: RepositoryRecord,
    digest: Digest,
    holder: str,
    first: bytes,
    chunks: AsyncIterator[bytes],
) -> AsyncIterator[bytes]:
    """Send the blob on and write it to a staging object; only a whole, matching blob is moved to
    its place and recorded. A mismatch, an upstream failure or a client that leaves stores
    nothing (the client then sees the body cut off: the headers were already sent). The fetch's
    lease is renewed as the bytes pass and given up at the end.

    The last chunk goes to the client only after the blob is recorded: a client that has all the
    bytes closes the connection, and the server then cancels what is left of this generator."""
    staging = f"uploads/proxy-{uuid.uuid4()}"
    writer = await rt.store.writer(staging)
    stored = False
    size = 0
    renew_at = time.monotonic() + FETCH_LEASE_S / 3
    try:
        held = first
        async for chunk in chunks:
            if held:
                await writer.write(held)
                size += len(held)
                yield held
            held = chunk
            if time.monotonic() > renew_at:
                await rt.db.write(proxy_cache.renew_fetch, str(digest), holder, int(FETCH_LEASE_S * 1000))
                renew_at = time.monotonic() + FETCH_LEASE_S / 3
        if held:
            await writer.write(held)
            size += len(held)
        await writer.close()
        await rt.store.move(staging, blob_path(digest))
        await rt.db.write(
            proxy_cache.link_fetched_blob,
            repo.id,
            str(digest),
            size,
            scan=rt.settings.FEATURE_SECURITY_SCANNER,
        )
        stored = True
        await rt.db.write(proxy_cache.release_fetch, str(digest), holder)
        if held:
            yield held
    except UpstreamError as e:
        log.warning("proxy cache: blob %s of %s/%s not stored: %s", digest, repo.namespace, repo.name, e)
        raise
    finally:
        if not stored:
            await writer.cancel()
            await rt.store.delete(staging)
            await rt.db.write(proxy_cache.release_fetch, str(digest), holder)
        await client.__aexit__(None, None, None)

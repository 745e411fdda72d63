"""Proxy-cache organizations: their configuration, and pulls that fetch from the upstream.

A pull from a proxy-cache organization serves what the cache holds while it is fresh. A tag that
is missing or stale (its `expiration_s` since the last pull has passed) is checked with the
upstream: a HEAD when Wharf holds a copy (same digest: the copy is fresh again), a GET otherwise;
a manifest by digest is fetched only when missing (its content cannot change). The repository is
created by its first pull. Blobs are fetched when a client asks for one that a cached manifest
names: the bytes go to the client and into storage together, the digest checked as they pass, and
the blob is recorded only once it matched. When the upstream is down (unreachable, 429 or 5xx),
a stale copy is served and a warning logged.

The one cost a pull from any other organization pays: whether its namespace is a proxy cache,
read from the database at most once every few seconds per process (`config_for`), and only when
FEATURE_PROXY_CACHE is on.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from wharf.auth import tokens
from wharf.auth.tokens import Grant
from wharf.core import accounts, audit, clock, manifests, provision, proxy_cache, repositories
from wharf.core.accounts import AccountRecord
from wharf.core.errors import (
    BlobNotFound,
    DomainError,
    ManifestNotFound,
    RepositoryNotFound,
    UpstreamFailed,
    UpstreamMismatch,
    UpstreamRefused,
)
from wharf.core.manifests import ManifestRecord
from wharf.core.proxy_cache import CachedTag, ProxyCacheRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.integrations.outbound import OutboundRefused
from wharf.integrations.upstream import (
    RegistryClient,
    Upstream,
    UpstreamDigestMismatch,
    UpstreamError,
    UpstreamManifest,
)
from wharf.oci.digest import Digest, is_digest
from wharf.oci.manifest import ParsedManifest
from wharf.oci.names import RepositoryName
from wharf.runtime import Runtime
from wharf.storage.base import blob_path

log = logging.getLogger(__name__)

CONFIG_TTL_S = 5.0
"""How long a process trusts what it read about a namespace being a proxy cache (another node's
change is seen within this; this node's own at once)."""
_CONFIG_CACHE_MAX = 10_000
_REARM_FRACTION = 0.1
"""A fresh tag is re-armed (one write) only once this share of its window has passed since the
last time: "expires `expiration_s` after the last pull", give or take a tenth, at a write per
tenth of the window rather than a write per pull."""


# -- the configuration ------------------------------------------------------------------------


async def config_for(rt: Runtime, namespace: str) -> ProxyCacheRecord | None:
    """The namespace's proxy-cache configuration, None for every other namespace (and always when
    FEATURE_PROXY_CACHE is off, without asking the database)."""
    if not rt.settings.FEATURE_PROXY_CACHE:
        return None
    now = time.monotonic()
    seen = rt.proxy_caches.get(namespace)
    if seen is not None and seen[0] > now:
        return seen[1] if isinstance(seen[1], ProxyCacheRecord) else None
    found = await rt.db.read(proxy_cache.for_namespace, namespace)
    if len(rt.proxy_caches) >= _CONFIG_CACHE_MAX:
        rt.proxy_caches.clear()
    rt.proxy_caches[namespace] = (now + CONFIG_TTL_S, found)
    return found


@dataclass(frozen=True, slots=True)
class NewConfig:
    upstream_registry: str
    username: str | None = None
    password: str | None = None
    expiration_s: int = proxy_cache.DEFAULT_EXPIRATION_S
    insecure: bool = False


async def create(
    rt: Runtime, org: AccountRecord, new: NewConfig, actor: audit.Actor | None
) -> ProxyCacheRecord:
    record = await rt.db.write(
        proxy_cache.create,
        rt.secrets,
        org,
        new.upstream_registry,
        username=new.username or None,
        password=new.password or None,
        expiration_s=new.expiration_s,
        insecure=new.insecure,
        actor=actor,
    )
    rt.proxy_caches.pop(org.name, None)
    return record


async def delete(rt: Runtime, org: AccountRecord, actor: audit.Actor | None) -> None:
    await rt.db.write(proxy_cache.delete_config, org, actor)
    rt.proxy_caches.pop(org.name, None)


async def get(rt: Runtime, org: AccountRecord) -> ProxyCacheRecord | None:
    return await rt.db.read(proxy_cache.get, org.id)


async def validate(rt: Runtime, new: NewConfig) -> str:
    """Log in to the upstream as the configuration would: "Valid" (logged in, or the registry is
    open) or "Anonymous" (it wants a login and none was given). Raises UpstreamFailed (the
    registry cannot be reached, or refused the credentials) or UpstreamRefused."""
    registry = proxy_cache.check_registry(new.upstream_registry)
    upstream = Upstream(registry, new.username or None, new.password or None, new.insecure)
    try:
        async with _client(rt, upstream) as client:
            return await client.ping()
    except OutboundRefused as e:
        raise UpstreamRefused(str(e)) from None
    except UpstreamError as e:
        raise UpstreamFailed(f"{registry}: {e}") from None


def _client(rt: Runtime, upstream: Upstream) -> RegistryClient:
    return RegistryClient(
        rt.settings, upstream, rt.settings.PROXY_CACHE_UPSTREAM_TIMEOUT_S, shared_tokens=rt.upstream_tokens
    )


def _upstream(rt: Runtime, config: ProxyCacheRecord) -> Upstream:
    username, password = config.credentials(rt.secrets)
    return Upstream(config.upstream_registry, username, password, config.insecure)


def _domain_error(e: UpstreamError | OutboundRefused, what: str) -> DomainError:
    if isinstance(e, OutboundRefused):
        return UpstreamRefused(str(e))
    if isinstance(e, UpstreamDigestMismatch):
        return UpstreamMismatch(str(e))
    if e.status == 404:
        return (
            BlobNotFound(f"{what} is not in the upstream registry")
            if what.startswith("blob")
            else (ManifestNotFound(f"{what} is not in the upstream registry"))
        )
    return UpstreamFailed(f"the upstream registry could not give {what}: {e}")


# -- manifests --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Local:
    repo: RepositoryRecord | None
    cached: CachedTag | None
    expires_ms: int | None = None


def _read_local(db: Db, grant: Grant | None, name: RepositoryName, reference: str) -> _Local:
    repo = tokens.repository_for(db, grant, name.namespace, name.name)  # the revocation check
    if repo is None:
        return _Local(None, None)
    if is_digest(reference):
        try:
            return _Local(repo, CachedTag(manifests.get(db, repo.id, reference), fresh=True))
        except ManifestNotFound:
            return _Local(repo, None)
    return _Local(repo, proxy_cache.cached_tag(db, repo.id, reference))


async def manifest(
    rt: Runtime,
    config: ProxyCacheRecord,
    grant: Grant | None,
    name: RepositoryName,
    reference: str,
    actor: audit.Actor | None,
) -> tuple[RepositoryRecord, ManifestRecord]:
    """The manifest `reference` of `name` in a proxy-cache organization: from the cache while it
    is fresh, else from the upstream (see the module's docstring)."""
    local = await rt.db.read(_read_local, grant, name, reference)
    cached = local.cached
    if local.repo is not None and cached is not None and cached.fresh:
        await _rearm(rt, config, local.repo, reference, cached)
        return local.repo, cached.manifest
    try:
        async with _client(rt, _upstream(rt, config)) as client:
            if local.repo is not None and cached is not None:
                head = await client.manifest(name.name, reference, head=True)
                if head.digest == cached.manifest.digest:
                    await rt.db.write(
                        proxy_cache.keep, local.repo.id, reference, cached.manifest.id, config.expiration_s
                    )
                    return local.repo, cached.manifest
            return await _fetch(rt, client, config, name, reference, actor)
    except (UpstreamError, OutboundRefused) as e:
        stale = isinstance(e, UpstreamError) and e.unavailable
        if local.repo is not None and cached is not None and stale:
            log.warning(
                "proxy cache %s: the upstream %s is unavailable (%s); serving the cached %s:%s",
                name.namespace,
                config.upstream_registry,
                e,
                name.name,
                reference,
            )
            return local.repo, cached.manifest
        raise _domain_error(e, f"manifest {reference} of {name.name}") from None


async def _rearm(
    rt: Runtime, config: ProxyCacheRecord, repo: RepositoryRecord, reference: str, cached: CachedTag
) -> None:
    """A fresh tag's window starts again at this pull, written once a tenth of it has passed."""
    if is_digest(reference) or cached.expires_ms is None:
        return
    window_ms = config.expiration_s * 1000
    left_ms = cached.expires_ms - clock.now_ms()
    if left_ms < window_ms * (1 - _REARM_FRACTION):
        await rt.db.write(proxy_cache.keep, repo.id, reference, cached.manifest.id, config.expiration_s)


async def _fetch(
    rt: Runtime,
    client: RegistryClient,
    config: ProxyCacheRecord,
    name: RepositoryName,
    reference: str,
    actor: audit.Actor | None,
) -> tuple[RepositoryRecord, ManifestRecord]:
    """GET the manifest (and an index's images) from the upstream and store them, creating the
    repository when this is its first pull."""
    top = await client.manifest(name.name, reference)
    parsed = _parse(top)
    children = []
    for child in parsed.children:
        got = await client.manifest(name.name, str(child.digest))
        children.append((got, _parse(got)))
    tag = None if is_digest(reference) else reference

    def store(db: Db) -> tuple[RepositoryRecord, ManifestRecord]:
        repo = _repository(db, name, actor)
        for got, child_parsed in children:
            proxy_cache.store_manifest(db, repo, None, got.content, child_parsed, config.expiration_s)
        record = proxy_cache.store_manifest(db, repo, tag, top.content, parsed, config.expiration_s)
        return repo, record

    return await rt.db.write(store)


def _parse(got: UpstreamManifest) -> ParsedManifest:
    try:
        return manifests.parse(got.content, got.media_type or None)
    except DomainError as e:
        raise UpstreamFailed(f"the upstream's manifest {got.digest} cannot be cached: {e}") from None


def _repository(db: Db, name: RepositoryName, actor: audit.Actor | None) -> RepositoryRecord:
    """The repository a pull-through stores into, created by its first pull: private, and no
    puller becomes its admin (organization members may pull from every repository of a proxy
    cache; `auth.permissions`)."""
    repo = repositories.get(db, name.namespace, name.name)
    if repo is not None:
        return repo
    if accounts.get_by_name(db, name.namespace) is None:
        raise RepositoryNotFound(f"repository {name.namespace}/{name.name} not found")
    return provision.create_repository(
        db, name.namespace, name.name, visibility="private", creator_id=None, actor=actor
    )


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
        await rt.db.write(proxy_cache.link_fetched_blob, repo.id, str(digest), size)
        return PulledBlob(size, rt.store.read(blob_path(digest)))
    try:
        return await _fetch_blob(rt, config, repo, name, digest, holder)
    except BaseException:
        await rt.db.write(proxy_cache.release_fetch, str(digest), holder)
        raise


async def _head(rt: Runtime, config: ProxyCacheRecord, name: RepositoryName, digest: Digest) -> PulledBlob:
    try:
        async with _client(rt, _upstream(rt, config)) as client:
            return PulledBlob(await client.blob_size(name.name, digest), None)
    except (UpstreamError, OutboundRefused) as e:
        raise _domain_error(e, f"blob {digest}") from None


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
    client = _client(rt, _upstream(rt, config))
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
        raise _domain_error(e, f"blob {digest}") from None
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
        await rt.db.write(proxy_cache.link_fetched_blob, repo.id, str(digest), size)
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


def describe(config: ProxyCacheRecord | None) -> dict[str, Any]:
    """Quay's view of a configuration (empty strings when there is none)."""
    if config is None:
        return {"upstream_registry": "", "expiration_s": "", "insecure": ""}
    return {
        "upstream_registry": config.upstream_registry,
        "expiration_s": config.expiration_s,
        "insecure": config.insecure,
    }

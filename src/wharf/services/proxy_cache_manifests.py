"""Pull-through of manifests in a proxy-cache organization.

A pull serves what the cache holds while it is fresh. A tag that is missing or stale (its
`expiration_s` since the last pull has passed) is checked with the upstream: a HEAD when Wharf
holds a copy (same digest: the copy is fresh again), a GET otherwise; a manifest by digest is
fetched only when missing (its content cannot change). The repository is created by its first
pull. When the upstream is down (unreachable, 429 or 5xx), a stale copy is served and a warning
logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from wharf.auth import tokens
from wharf.auth.tokens import Grant
from wharf.core import (
    accounts,
    audit,
    clock,
    manifests,
    provision,
    proxy_cache,
    proxy_cache_eviction,
    repositories,
)
from wharf.core.errors import DomainError, ManifestNotFound, QuotaExceeded, RepositoryNotFound, UpstreamFailed
from wharf.core.manifests import ManifestRecord
from wharf.core.proxy_cache import CachedTag, ProxyCacheRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.integrations.outbound import OutboundRefused
from wharf.integrations.upstream import RegistryClient, UpstreamError, UpstreamManifest
from wharf.oci.digest import is_digest
from wharf.oci.manifest import ParsedManifest
from wharf.oci.names import RepositoryName
from wharf.runtime import Runtime
from wharf.services import quotas
from wharf.services.proxy_cache import domain_error, upstream_client, upstream_of

log = logging.getLogger(__name__)

_REARM_FRACTION = 0.1
"""A fresh tag is re-armed (one write) only once this share of its window has passed since the
last time: "expires `expiration_s` after the last pull", give or take a tenth, at a write per
tenth of the window rather than a write per pull."""


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
        async with upstream_client(rt, upstream_of(rt, config)) as client:
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
        raise domain_error(e, f"manifest {reference} of {name.name}") from None


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
    await _make_room(rt, config, name, tag, [(top, parsed), *children])
    scan = rt.settings.FEATURE_SECURITY_SCANNER

    def store(db: Db) -> tuple[RepositoryRecord, ManifestRecord]:
        repo = _repository(db, name, actor)
        for got, child_parsed in children:
            proxy_cache.store_manifest(
                db, repo, None, got.content, child_parsed, config.expiration_s, scan=scan
            )
        record = proxy_cache.store_manifest(
            db, repo, tag, top.content, parsed, config.expiration_s, scan=scan
        )
        return repo, record

    return await rt.db.write(store)


_MAX_EVICTIONS = 1000
"""Tags one pull may evict (each in its own transaction) before it gives up: a bound on the work a
single pull does, far above what an image needs in practice."""


async def _make_room(
    rt: Runtime,
    config: ProxyCacheRecord,
    name: RepositoryName,
    tag: str | None,
    fetched: list[tuple[UpstreamManifest, ParsedManifest]],
) -> None:
    """Under a Reject quota, evict the organization's least recently pulled tags until the image
    fits (core/proxy_cache_eviction.py); QuotaExceeded when it cannot."""
    enforcement = quotas.enforcement(rt.settings)
    if not enforcement.enabled:
        return
    sizes = {str(d.digest): d.size for _, p in fetched for d in p.required_blobs}
    repo = await rt.db.read(repositories.get, name.namespace, name.name)
    pull = proxy_cache_eviction.Pull(
        config.org_id,
        sizes,
        repo.id if repo is not None else None,
        tag,
        frozenset(str(got.digest) for got, _ in fetched),
        config.expiration_s,
    )
    for _ in range(_MAX_EVICTIONS):
        if await rt.db.write(proxy_cache_eviction.make_room, pull, enforcement):
            return
        log.info("proxy cache %s: evicted a tag to make room for %s", name.namespace, name.name)
    raise QuotaExceeded(f"quota exceeded: {name.namespace} could not make room for {name.name}")


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

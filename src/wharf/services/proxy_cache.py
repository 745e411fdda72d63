"""Proxy-cache organizations: their configuration, and what the pull-through modules share.

The pull-through itself is in `proxy_cache_manifests` (tags and manifests: freshness, the
upstream's HEAD, storing what it sent) and `proxy_cache_blobs` (blobs: one fetch per digest,
stored while they stream to the client).

The one cost a pull from any other organization pays: whether its namespace is a proxy cache,
read from the database at most once every few seconds per process (`config_for`), and only when
FEATURE_PROXY_CACHE is on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from wharf.core import audit, proxy_cache
from wharf.core.accounts import AccountRecord
from wharf.core.errors import (
    BlobNotFound,
    DomainError,
    ManifestNotFound,
    UpstreamFailed,
    UpstreamMismatch,
    UpstreamRefused,
)
from wharf.core.proxy_cache import ProxyCacheRecord
from wharf.integrations.outbound import OutboundRefused
from wharf.integrations.upstream import (
    RegistryClient,
    Upstream,
    UpstreamDigestMismatch,
    UpstreamError,
)
from wharf.runtime import Runtime

log = logging.getLogger(__name__)

CONFIG_TTL_S = 5.0
"""How long a process trusts what it read about a namespace being a proxy cache (another node's
change is seen within this; this node's own at once)."""
_CONFIG_CACHE_MAX = 10_000


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
    old = await rt.db.read(proxy_cache.get, org.id)
    await rt.db.write(proxy_cache.delete_config, org, actor)
    rt.proxy_caches.pop(org.name, None)
    if old is not None:
        rt.upstream_clients.forget(upstream_of(rt, old))


async def get(rt: Runtime, org: AccountRecord) -> ProxyCacheRecord | None:
    return await rt.db.read(proxy_cache.get, org.id)


async def validate(rt: Runtime, new: NewConfig) -> str:
    """Log in to the upstream as the configuration would: "Valid" (logged in, or the registry is
    open) or "Anonymous" (it wants a login and none was given). Raises UpstreamFailed (the
    registry cannot be reached, or refused the credentials) or UpstreamRefused."""
    registry = proxy_cache.check_registry(new.upstream_registry)
    upstream = Upstream(registry, new.username or None, new.password or None, new.insecure)
    # A client of its own: a configuration being tried out takes no place in the process's pool.
    try:
        async with RegistryClient(
            rt.settings, upstream, rt.settings.PROXY_CACHE_UPSTREAM_TIMEOUT_S
        ) as client:
            return await client.ping()
    except OutboundRefused as e:
        raise UpstreamRefused(str(e)) from None
    except UpstreamError as e:
        raise UpstreamFailed(f"{registry}: {e}") from None


def upstream_client(rt: Runtime, upstream: Upstream) -> RegistryClient:
    return RegistryClient(
        rt.settings,
        upstream,
        rt.settings.PROXY_CACHE_UPSTREAM_TIMEOUT_S,
        shared_tokens=rt.upstream_tokens,
        pool=rt.upstream_clients,
    )


def upstream_of(rt: Runtime, config: ProxyCacheRecord) -> Upstream:
    """The configuration's upstream, its credentials decrypted once per process and configuration
    (kept with the pool's clients) rather than for every manifest and blob a pull fetches."""

    def opened() -> Upstream:
        username, password = config.credentials(rt.secrets)
        return Upstream(config.upstream_registry, username, password, config.insecure)

    return rt.upstream_clients.upstream(config, opened)


def domain_error(e: UpstreamError | OutboundRefused, what: str) -> DomainError:
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


def describe(config: ProxyCacheRecord | None) -> dict[str, Any]:
    """Quay's view of a configuration (empty strings when there is none)."""
    if config is None:
        return {"upstream_registry": "", "expiration_s": "", "insecure": ""}
    return {
        "upstream_registry": config.upstream_registry,
        "expiration_s": config.expiration_s,
        "insecure": config.insecure,
    }

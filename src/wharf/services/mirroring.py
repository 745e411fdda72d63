"""Repository mirroring: the configuration, and the sync that copies upstream tags into Wharf.

A sync is a job on the queue (`QUEUE`, one per repository at a time by its dedupe key). It lists
the upstream repository's tags, keeps those the rule's globs match, and copies each: a tag whose
upstream digest is the one Wharf's tag points at already is skipped (one HEAD); otherwise the
manifest (an index with all its images) and every blob are copied. A blob Wharf holds already,
in any repository, is linked rather than downloaded; the others stream into storage with their
digest checked as the bytes pass, and are recorded only once they matched. Tags are written as
the mirror's robot (`push_repo` entries name it). Between two tags the sync looks whether it
was cancelled. The outcome is logged and notified as `repo_mirror_sync_started`, `_success`,
`_failed`.

With an `architecture_filter`, an index is stored whole (its bytes, hence its digest, are the
upstream's) but only the images of the listed architectures are copied: a sparse index, which
core accepts from this sync alone. As Quay, an index with none of them fails the sync, and a
single image of another architecture is left out (the sync still succeeds).

Progress (tags and bytes done) is written after every tag and every blob; it also moves the
mirror's expiration on, which is how a sync whose worker died is told from a running one
(core/mirrors.py). A resumed sync skips what is there already, tag by tag and blob by blob.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from wharf.core import (
    audit,
    blobs,
    events,
    manifests,
    mirror_health,
    mirrors,
    notifications,
    proxy_passwords,
    queue,
    repositories,
)
from wharf.core.clock import now_ms
from wharf.core.errors import DomainError, InvalidInput, UpstreamRefused
from wharf.core.mirrors import MirrorRecord
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import Blob
from wharf.integrations.outbound import OutboundRefused, check_url
from wharf.integrations.upstream import (
    Proxies,
    RegistryClient,
    Upstream,
    UpstreamError,
    UpstreamManifest,
    guard_url,
)
from wharf.oci.digest import Digest
from wharf.oci.manifest import Descriptor, ParsedManifest
from wharf.runtime import Runtime
from wharf.services import quotas as quota_service
from wharf.storage.base import blob_path

log = logging.getLogger(__name__)

QUEUE = "repo_mirror_sync"
SCHEDULE_QUEUE = "repo_mirror_schedule"


def _dedupe(repository_id: int) -> str:
    return f"repo-mirror:{repository_id}"


# -- the configuration ------------------------------------------------------------------------------


async def _check_outbound(rt: Runtime, settings: mirrors.Settings, current: MirrorRecord | None) -> None:
    """Refuse an upstream, or a proxy, at an internal address unless SSRF_ALLOWED_HOSTS allows it
    (checked when stored, and again by every request of the sync)."""
    config = settings.external_registry_config
    if config is None and current is not None:
        config = current.external_registry_config
    reference = settings.external_reference
    if reference is None and current is not None and settings.external_registry_config is not None:
        reference = current.external_reference  # a new proxy: checked against the stored upstream
    if reference is None:
        return
    reference = mirrors.check_reference(reference)
    # the scheme changes nothing here (`verify_tls: false` tries https first, then http)
    await check_upstream_url(rt, f"https://{reference.split('/', 1)[0]}/v2/", "external_reference")
    found = mirrors.proxies(mirrors.check_registry_config(config or {}))
    for name, proxy in zip(("http_proxy", "https_proxy"), found or (), strict=False):
        if proxy is not None:
            await check_upstream_url(rt, guard_url(str(proxy)), f"external_registry_config.proxy.{name}")


async def check_upstream_url(rt: Runtime, url: str, what: str) -> None:
    """The outbound guard when a configuration is stored: an internal address is refused (400)."""
    try:
        await check_url(url, rt.settings)
    except OutboundRefused as e:  # `field`: the web shows it next to the input (a proxy's or the URL's)
        raise UpstreamRefused(f"{what}: {e}", field=what.rsplit(".", 1)[-1]) from None
    except Exception as e:  # an unresolvable name is refused by the sync, with a clear status
        log.debug("mirror upstream %s not checked now: %s", url, e)


MANAGED_BY_ORG = (
    "This repository's mirror is managed by the organization's mirror: change it in the "
    "organization's mirror configuration"
)


def _not_managed_by_org(db: Db, repo: RepositoryRecord) -> None:
    """A client (API, web) may not configure the mirror of a repository an organization mirror
    manages (state ORG_MIRROR): the organization's configuration would overwrite it at its next
    change, and the user's change would clear the mark by which a later organization mirror takes
    the repository back. Read in the writing transaction: the state may have changed since the
    request loaded the repository."""
    current = repositories.get_by_id(db, repo.id)
    if (current or repo).state == repositories.ORG_MIRROR:
        raise InvalidInput(MANAGED_BY_ORG)


def _check_client_values(settings: mirrors.Settings) -> mirrors.Settings:
    """What a client (API, web) may set beyond what core checks for every caller: the timeout's
    bounds are Quay's for its users; an organization mirror's repositories take its own. A mirror
    a user configured is theirs: no later organization mirror takes it over."""
    if settings.skopeo_timeout_interval is not None:
        mirrors.check_timeout(settings.skopeo_timeout_interval)
    return replace(settings, org_mirror=False)


async def create(
    rt: Runtime, repo: RepositoryRecord, settings: mirrors.Settings, actor: audit.Actor | None
) -> MirrorRecord:
    if repo.state == repositories.ORG_MIRROR:  # before the outbound check asks DNS anything
        raise InvalidInput(MANAGED_BY_ORG)
    settings = _check_client_values(settings)
    await _check_outbound(rt, settings, None)

    def _create(db: Db) -> MirrorRecord:
        _not_managed_by_org(db, repo)
        record = mirrors.create(db, rt.secrets, repo, settings, actor)
        queue.enqueue(db, QUEUE, {"repository_id": repo.id}, dedupe_key=_dedupe(repo.id))
        return record

    return await rt.db.write(_create)


async def change(
    rt: Runtime, repo: RepositoryRecord, settings: mirrors.Settings, actor: audit.Actor | None
) -> MirrorRecord:
    if repo.state == repositories.ORG_MIRROR:  # before the outbound check asks DNS anything
        raise InvalidInput(MANAGED_BY_ORG)
    settings = _check_client_values(settings)
    current = await rt.db.read(mirrors.require, repo.id)
    # a proxy's password sent back as shown (hidden) keeps the stored one: core decides
    await _check_outbound(rt, settings, current)

    def _change(db: Db) -> MirrorRecord:
        _not_managed_by_org(db, repo)
        return mirrors.change(db, rt.secrets, repo, settings, actor)

    changed = await rt.db.write(_change)
    try:
        if upstream_of(rt, changed) != upstream_of(rt, current):
            rt.upstream_clients.forget(upstream_of(rt, current))  # its connections are not wanted again
    except proxy_passwords.Unopened:  # sealed with another key: its sync fails, saying so
        pass
    return changed


async def get(rt: Runtime, repo: RepositoryRecord) -> MirrorRecord:
    return await rt.db.read(mirrors.require, repo.id)


async def find(rt: Runtime, repo: RepositoryRecord) -> MirrorRecord | None:
    return await rt.db.read(mirrors.get, repo.id)


def describe(rt: Runtime, record: MirrorRecord) -> dict[str, Any]:
    return mirrors.describe(record, rt.secrets)


async def sync_now(rt: Runtime, repo: RepositoryRecord, actor: audit.Actor | None) -> bool:
    def _now(db: Db) -> bool:
        if not mirrors.sync_now(db, repo, actor):
            return False
        queue.enqueue(db, QUEUE, {"repository_id": repo.id}, dedupe_key=_dedupe(repo.id))
        return True

    return await rt.db.write(_now)


async def sync_cancel(rt: Runtime, repo: RepositoryRecord, actor: audit.Actor | None) -> bool:
    return await rt.db.write(mirrors.sync_cancel, repo, actor)


async def health(rt: Runtime, query: mirror_health.Query) -> dict[str, Any]:
    """getRepositoryMirrorHealth's document (the caller's right to see it is checked already)."""
    return await rt.db.read(mirror_health.health, query, QUEUE, now_ms())


# -- the jobs -----------------------------------------------------------------------------------------


async def schedule(rt: Runtime, _body: dict[str, Any]) -> None:
    """Queue a sync for every mirror that is due (the periodic job, every REPO_MIRROR_INTERVAL)."""

    def _schedule(db: Db) -> int:
        found = mirrors.due(db, now_ms())
        for repository_id in found:
            queue.enqueue(db, QUEUE, {"repository_id": repository_id}, dedupe_key=_dedupe(repository_id))
        return len(found)

    queued = await rt.db.write(_schedule)
    if queued:
        log.info("queued %d repository mirror syncs", queued)


async def run(rt: Runtime, body: dict[str, Any]) -> None:
    """The job: sync one repository's mirror."""
    await sync(rt, int(body["repository_id"]))


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    copied: list[str]
    skipped: list[str]
    error: str | None = None
    filtered: list[str] = field(default_factory=list)
    """Single images of an architecture the filter leaves out (not copied, as Quay)."""


class _Cancelled(Exception):
    pass


class NoArchitecture(DomainError):
    """An index lists none of the architectures the mirror's filter keeps."""


COPIED, SKIPPED, FILTERED = "copied", "skipped", "filtered"
CONFIG_LIMIT = 1 << 20
"""The most of an image's configuration read to learn its architecture."""


@dataclass(slots=True)
class _Progress:
    """The running sync's counters, written to the mirror as they move."""

    repository_id: int
    token: str | None
    total: int = 0
    done: int = 0
    bytes_done: int = 0

    async def save(self, rt: Runtime) -> bool:
        """False when the sync was cancelled meanwhile, or taken over by another worker."""
        counts = (self.done, self.total, self.bytes_done)
        return await rt.db.write(mirrors.progress, self.repository_id, *counts, self.token)


async def sync(rt: Runtime, repository_id: int) -> Outcome | None:
    """One sync of the repository's mirror; None when there was nothing to run."""
    started = await rt.db.write(_begin, repository_id)
    if started is None:
        return None
    config, repo = started
    done: dict[str, list[str]] = {COPIED: [], SKIPPED: [], FILTERED: []}
    copied, skipped = done[COPIED], done[SKIPPED]
    progress = _Progress(repository_id, config.sync_token)
    try:
        async with _client(rt, config) as client:
            names = config.wanted(await client.tags(config.path))
            progress.total = len(names)
            await progress.save(rt)
            for tag in names:
                done[await _copy_tag(rt, client, config, repo, tag, progress)].append(tag)
                progress.done += 1
                if not await progress.save(rt):
                    raise _Cancelled
            if rt.settings.REPO_MIRROR_DELETE_VANISHED_TAGS:
                actor = _robot_actor(config)
                await rt.db.write(mirrors.delete_vanished, repo, config, set(names), actor)
    except _Cancelled:
        outcome = Outcome(mirrors.CANCEL, copied, skipped, "cancelled")
    except (UpstreamError, OutboundRefused, DomainError) as e:
        outcome = Outcome(mirrors.SYNC_FAILED, copied, skipped, _message(config, e))
    except Exception as e:  # a bug or storage failure: the mirror must not stay SYNCING
        log.exception("repository mirror %s/%s failed", repo.namespace, repo.name)
        outcome = Outcome(mirrors.SYNC_FAILED, copied, skipped, f"internal error: {type(e).__name__}")
    else:
        outcome = Outcome(mirrors.SYNC_SUCCESS, copied, skipped, filtered=done[FILTERED])
    await rt.db.write(_end, config, repo, outcome)
    return outcome


def _message(config: MirrorRecord, e: Exception) -> str:
    if isinstance(e, UpstreamError) and e.status in (401, 403):
        return f"{config.external_reference}: the upstream registry refused the credentials ({e})"
    return f"{config.external_reference}: {e}"


def proxies_of(external_registry_config: dict[str, Any]) -> Proxies | None:
    """A configuration's `proxy` as the clients take it (None: it names none), from the
    configuration with its passwords opened (`outbound_config`)."""
    found = mirrors.proxies(external_registry_config)
    return Proxies(found[0], found[1], found[2]) if found is not None else None


def upstream_of(rt: Runtime, config: MirrorRecord) -> Upstream:
    """The mirror's upstream as the client sees it: credentials, TLS and proxies, their secrets
    opened once per process and configuration (kept with the pool's clients), as the proxy
    cache's. The key is the configuration as stored, secrets sealed: a changed one is another."""

    def opened() -> Upstream:
        username, password = config.credentials(rt.secrets)
        proxies = proxies_of(config.outbound_config(rt.secrets))
        # verify_tls false is skopeo's --src-tls-verify=false (Quay's worker): no certificate
        # check, and plain HTTP for a registry without TLS
        return Upstream(
            config.host, username, password, skip_tls_verify=not config.verify_tls, proxies=proxies
        )

    stored = (
        "repo-mirror",
        config.host,
        config.username_sealed,
        config.password_sealed,
        json.dumps(config.external_registry_config, sort_keys=True),
        config.proxy_passwords_sealed,
    )
    return rt.upstream_clients.upstream(stored, opened)


def _client(rt: Runtime, config: MirrorRecord) -> RegistryClient:
    """A client on the process's pool (as the proxy cache's): the next sync of the mirror, or of
    another one of the same registry and login, reuses its connections and its tokens."""
    return RegistryClient(
        rt.settings,
        upstream_of(rt, config),
        float(config.skopeo_timeout_interval),
        shared_tokens=rt.upstream_tokens,
        pool=rt.upstream_clients,
    )


def _robot_actor(config: MirrorRecord) -> audit.Actor:
    if config.robot_id is None:
        return audit.Actor(None, "repo-mirror", kind="system")
    return audit.Actor(config.robot_id, config.robot_username, kind="robot")


def _event(db: Db, kind: str, repo: RepositoryRecord, config: MirrorRecord, message: str) -> None:
    audit.record_for(db, kind, _robot_actor(config), repo, message=message)
    data = events.repository_data(None, repo.namespace, repo.name, message=message)
    notifications.fire(db, kind, data, _robot_actor(config), repository_id=repo.id)


def _begin(db: Db, repository_id: int) -> tuple[MirrorRecord, RepositoryRecord] | None:
    config = mirrors.begin(db, repository_id)
    if config is None:
        return None
    repo = repositories.get_by_id(db, repository_id)
    if repo is None:
        return None
    _event(db, "repo_mirror_sync_started", repo, config, f"syncing from {config.external_reference}")
    return config, repo


def _end(db: Db, config: MirrorRecord, repo: RepositoryRecord, outcome: Outcome) -> None:
    if mirrors.finish(db, config.repository_id, outcome.status, outcome.error, config.sync_token) is None:
        return  # another worker resumed this sync (this one stalled past its lease): its end counts
    if outcome.status == mirrors.SYNC_SUCCESS:
        message = f"{len(outcome.copied)} tags copied, {len(outcome.skipped)} already up to date"
        if outcome.filtered:
            message += f", {len(outcome.filtered)} of another architecture left out"
        _event(db, "repo_mirror_sync_success", repo, config, message)
    elif outcome.status == mirrors.SYNC_FAILED:
        _event(db, "repo_mirror_sync_failed", repo, config, outcome.error or "failed")


# -- copying one tag ----------------------------------------------------------------------------------


def _tag_digest(db: Db, repository_id: int, tag: str) -> str | None:
    return db.execute(manifests.alive_tag_digest(repository_id, tag, now_ms())).scalar()


async def _copy_tag(
    rt: Runtime,
    client: RegistryClient,
    config: MirrorRecord,
    repo: RepositoryRecord,
    tag: str,
    progress: _Progress,
) -> str:
    """Copy one tag: COPIED; SKIPPED when Wharf's tag is at the upstream's digest already;
    FILTERED for a single image of an architecture the filter leaves out."""
    head = await client.manifest(config.path, tag, head=True)
    if head.digest and head.digest == await rt.db.read(_tag_digest, repo.id, tag):
        return SKIPPED
    top = await client.manifest(config.path, tag)
    parsed = _parse(top)
    arches = config.architecture_filter
    if arches and not parsed.children and not await _architecture_kept(client, config, parsed):
        return FILTERED
    children: list[tuple[UpstreamManifest, ParsedManifest]] = []
    for child in _kept_children(config, tag, parsed):
        got = await client.manifest(config.path, str(child.digest))
        children.append((got, _parse(got)))
    for _got, child_parsed in children:
        await _copy_blobs(rt, client, config, repo, child_parsed, progress)
    await _copy_blobs(rt, client, config, repo, parsed, progress)
    actor = _robot_actor(config)
    quota = quota_service.enforcement(rt.settings)  # over a Reject limit the sync fails, saying so
    sparse = bool(arches) and len(children) < len(parsed.children)

    def _store(db: Db) -> None:
        for got, child_parsed in children:
            manifests.put(db, repo, got.digest, got.content, child_parsed, actor, quota=quota)
        manifests.put(db, repo, tag, top.content, parsed, actor, quota=quota, sparse=sparse)

    await rt.db.write(_store)
    return COPIED


def _kept_children(config: MirrorRecord, tag: str, parsed: ParsedManifest) -> list[Descriptor]:
    """The images of an index the sync copies: all, or those of the filter's architectures."""
    arches = config.architecture_filter
    if not arches or not parsed.children:
        return list(parsed.children)
    kept = [c for c in parsed.children if (c.platform or {}).get("architecture") in arches]
    if not kept:
        listed = sorted({str((c.platform or {}).get("architecture")) for c in parsed.children})
        raise NoArchitecture(
            f"{tag}: no image for the architectures {', '.join(arches)} (the index has {', '.join(listed)})"
        )
    return kept


async def _architecture_kept(client: RegistryClient, config: MirrorRecord, parsed: ParsedManifest) -> bool:
    """Whether a single image is of an architecture the filter keeps: its configuration says
    (an artifact without one, or without an architecture, is kept)."""
    descriptor = parsed.blobs[0] if parsed.config_media_type and parsed.blobs else None
    if descriptor is None or descriptor.size > CONFIG_LIMIT:
        return True
    _size, chunks = await client.blob(config.path, descriptor.digest)
    body = b""
    try:
        async for chunk in chunks:
            body += chunk
            if len(body) > CONFIG_LIMIT:  # longer than it declared: not read into memory whole
                return True
    finally:
        close = getattr(chunks, "aclose", None)  # the response, when the loop stopped early
        if close is not None:
            await close()
    try:
        architecture = json.loads(body).get("architecture")
    except (ValueError, AttributeError):
        return True
    return not isinstance(architecture, str) or architecture in config.architecture_filter


def _parse(got: UpstreamManifest) -> ParsedManifest:
    return manifests.parse(got.content, got.media_type or None)


def _link_known(db: Db, repository_id: int, digests: list[str]) -> set[str]:
    """Link the blobs Wharf holds (in any repository) into this one; the digests it holds."""
    from sqlalchemy import select

    rows = db.execute(select(Blob.id, Blob.digest).where(Blob.digest.in_(digests))).all()
    for row in rows:
        blobs.link(db, repository_id, row.id)
    return {row.digest for row in rows}


async def _copy_blobs(
    rt: Runtime,
    client: RegistryClient,
    config: MirrorRecord,
    repo: RepositoryRecord,
    parsed: ParsedManifest,
    progress: _Progress,
) -> None:
    wanted = sorted({str(d.digest) for d in parsed.required_blobs})
    if not wanted:
        return
    held = await rt.db.write(_link_known, repo.id, wanted)
    for digest in wanted:
        if digest not in held:
            progress.bytes_done += await _download(rt, client, config, repo, Digest.parse(digest))
            await progress.save(rt)


async def _download(
    rt: Runtime, client: RegistryClient, config: MirrorRecord, repo: RepositoryRecord, digest: Digest
) -> int:
    """Stream one blob into a staging object; moved into place and recorded only once the whole
    matched its digest (the client checks it as the bytes pass)."""
    staging = f"uploads/mirror-{uuid.uuid4()}"
    writer = await rt.store.writer(staging)
    stored = False
    size = 0
    try:
        _declared, chunks = await client.blob(config.path, digest)
        async for chunk in chunks:
            await writer.write(chunk)
            size += len(chunk)
        await writer.close()
        await rt.store.move(staging, blob_path(digest))
        stored = True
    finally:
        if not stored:
            await writer.cancel()
            await rt.store.delete(staging)

    def _record(db: Db) -> None:
        record = blobs.register(db, str(digest), size)
        blobs.link(db, repo.id, record.id)

    await rt.db.write(_record)
    return size

"""Organization mirroring: the configuration, and the discovery that turns every repository of an
upstream namespace into a repository mirror in the organization.

A discovery is a job on the queue (`QUEUE`, one per organization at a time by its dedupe key),
queued by the periodic `SCHEDULE_QUEUE` job (every ORG_MIRROR_INTERVAL) when the configuration is
due, or at once by syncOrgMirrorNow. It lists the upstream namespace
(integrations/org_registries.py), sets aside the names it no longer lists (Quay's SKIP "no longer
in source registry": the repository stays, its mirror disabled until the name comes back), notes
the names the filters leave out, creates the others in
the organization (core/org_mirror_repos.py `adopt`: state ORG_MIRROR, a repository mirror of every tag
written by the organization mirror's robot) and asks each one's repository mirror to sync now:
the copying is services/mirroring.py's, one job per repository, spread over the workers. Between
two repositories the discovery looks whether it was cancelled.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from wharf.core import audit, mirrors, org_mirror_repos, org_mirrors, queue
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import DomainError, UpstreamRefused
from wharf.core.org_mirrors import OrgMirrorRecord
from wharf.db.engine import Db
from wharf.integrations.org_registries import DiscoveryError, Source, list_repositories, verify
from wharf.integrations.outbound import OutboundRefused, check_url
from wharf.integrations.upstream import Upstream, guard_url
from wharf.runtime import Runtime
from wharf.services import mirroring

log = logging.getLogger(__name__)

QUEUE = "org_mirror_sync"
SCHEDULE_QUEUE = "org_mirror_schedule"


def _dedupe(org_id: int) -> str:
    return f"org-mirror:{org_id}"


def _enqueue(db: Db, org_id: int) -> None:
    queue.enqueue(db, QUEUE, {"org_id": org_id}, dedupe_key=_dedupe(org_id))


# -- the configuration ------------------------------------------------------------------------------


async def _check_outbound(rt: Runtime, settings: org_mirrors.Settings) -> None:
    """Refuse an upstream at an internal address unless SSRF_ALLOWED_HOSTS allows it (checked when
    stored, and again by every request of a discovery and of the repositories' syncs)."""
    if settings.external_registry_config is not None:  # its proxies pass the guard too
        found = mirrors.proxies(mirrors.check_registry_config(settings.external_registry_config))
        for name, proxy in zip(("http_proxy", "https_proxy"), found or (), strict=False):
            if proxy is not None:
                await mirroring.check_upstream_url(
                    rt, guard_url(str(proxy)), f"external_registry_config.proxy.{name}"
                )
    if settings.external_registry_url is None:
        return
    url = org_mirrors.check_url(settings.external_registry_url)
    try:
        await check_url(url, rt.settings)
    except OutboundRefused as e:
        raise UpstreamRefused(f"external_registry_url: {e}") from None
    except Exception as e:  # an unresolvable name fails the discovery, with a clear status
        log.debug("org mirror upstream %s not checked now: %s", url, e)


async def create(
    rt: Runtime, org: AccountRecord, settings: org_mirrors.Settings, actor: audit.Actor | None
) -> OrgMirrorRecord:
    await _check_outbound(rt, settings)

    def _create(db: Db) -> OrgMirrorRecord:
        return org_mirrors.create(db, rt.secrets, org, settings, actor)

    return await rt.db.write(_create)


async def change(
    rt: Runtime, org: AccountRecord, settings: org_mirrors.Settings, actor: audit.Actor | None
) -> OrgMirrorRecord:
    await rt.db.read(org_mirrors.require, org.id)  # none: 404 before the outbound check asks DNS
    # a proxy's password sent back as shown (hidden) keeps the stored one: core decides
    await _check_outbound(rt, settings)
    record = await rt.db.write(org_mirrors.change, rt.secrets, org, settings, actor)
    await _propagate(rt, record, settings)
    return record


async def _propagate(rt: Runtime, record: OrgMirrorRecord, settings: org_mirrors.Settings) -> None:
    """What the repositories' own mirrors repeat of the organization's (credentials, TLS,
    proxies, architectures, timeout, robot, and where upstream they are) follows a change of it.
    A new registry URL, namespace or type points every repository it made at the repository of
    the same name there: the next discovery sets aside those the new upstream does not list."""
    moved = any(
        v is not None
        for v in (
            settings.external_registry_url,
            settings.external_namespace,
            settings.external_registry_type,
        )
    )
    if not moved and all(
        v is None
        for v in (
            settings.username,
            settings.password,
            settings.external_registry_config,
            settings.architecture_filter,
            settings.skopeo_timeout,
            settings.robot_username,
        )
    ):
        return
    change = mirrors.Settings(
        username=settings.username,
        password=settings.password,
        robot_username=settings.robot_username,
        external_registry_config=(
            {**record.external_registry_config, "verify_tls": record.verify_tls}
            if settings.external_registry_config is not None or moved  # an http:// URL: no TLS
            else None
        ),
        proxies_from=record.stored_proxies,  # the proxies' passwords are the organization mirror's
        skopeo_timeout_interval=settings.skopeo_timeout,
        architecture_filter=settings.architecture_filter,
    )
    robot = org_mirrors.robot_actor(record)

    def _apply(db: Db) -> None:
        for repo in org_mirrors.linked(db, record.org_id):
            if mirrors.get(db, repo.id) is None:
                continue
            own = change
            if moved:
                own = replace(change, external_reference=mirrors.check_reference(record.reference(repo.name)))
            mirrors.change(db, rt.secrets, repo, own, robot)

    await rt.db.write(_apply)


async def get(rt: Runtime, org: AccountRecord) -> OrgMirrorRecord:
    return await rt.db.read(org_mirrors.require, org.id)


async def find(rt: Runtime, org: AccountRecord) -> OrgMirrorRecord | None:
    return await rt.db.read(org_mirrors.get, org.id)


async def describe(rt: Runtime, record: OrgMirrorRecord) -> dict[str, Any]:
    counts = await rt.db.read(org_mirror_repos.status_counts, record.org_id)
    return org_mirrors.describe(record, rt.secrets, counts)


async def delete(rt: Runtime, org: AccountRecord, actor: audit.Actor | None) -> None:
    def _delete(db: Db) -> None:
        for repo in org_mirrors.delete_config(db, org, actor):
            if mirrors.get(db, repo.id) is not None:
                mirrors.sync_cancel(db, repo, actor)

    await rt.db.write(_delete)


async def sync_now(rt: Runtime, org: AccountRecord, actor: audit.Actor | None) -> bool:
    def _now(db: Db) -> bool:
        if not org_mirrors.sync_now(db, org, actor):
            return False
        _enqueue(db, org.id)
        return True

    return await rt.db.write(_now)


async def cancel(rt: Runtime, org: AccountRecord, actor: audit.Actor | None) -> bool:
    """Cancel the discovery and every running or due sync of the repositories it created."""

    def _cancel(db: Db) -> bool:
        if not org_mirrors.cancel(db, org, actor):
            return False
        for repo in org_mirrors.linked(db, org.id):
            if mirrors.get(db, repo.id) is not None:
                mirrors.sync_cancel(db, repo, actor)
        return True

    return await rt.db.write(_cancel)


def _source(rt: Runtime, record: OrgMirrorRecord) -> Source:
    """The upstream namespace as the discovery calls it, its credentials and proxies' passwords
    opened once per process and configuration (kept by the pool, as a repository mirror's)."""

    def opened() -> Upstream:
        username, password = record.credentials(rt.secrets)
        proxies = mirroring.proxies_of(record.outbound_config(rt.secrets))
        return Upstream(record.host, username, password, proxies=proxies)

    stored = (
        "org-mirror",
        record.external_registry_url,
        record.username_sealed,
        record.password_sealed,
        json.dumps(record.external_registry_config, sort_keys=True),
        record.proxy_passwords_sealed,
    )
    secrets = rt.upstream_clients.upstream(stored, opened)
    return Source(
        record.external_registry_type,
        record.external_registry_url,
        record.external_namespace,
        secrets.username,
        secrets.password,
        verify_tls=record.verify_tls,
        proxies=secrets.proxies,
    )


async def verify_connection(rt: Runtime, org: AccountRecord) -> tuple[bool, str]:
    record = await get(rt, org)
    return await verify(rt.settings, _source(rt, record), timeout_s=float(record.skopeo_timeout))


async def repositories(
    rt: Runtime, org: AccountRecord, *, status: str | None, page: int, limit: int
) -> tuple[list[org_mirror_repos.Discovered], int]:
    await get(rt, org)
    return await rt.db.read(
        org_mirror_repos.list_repositories, org.id, status=status, offset=(page - 1) * limit, limit=limit
    )


# -- the jobs -----------------------------------------------------------------------------------------


async def schedule(rt: Runtime, _body: dict[str, Any]) -> None:
    """Queue a discovery for every organization mirror that is due."""

    def _schedule(db: Db) -> int:
        found = org_mirrors.due(db, now_ms())
        for org_id in found:
            _enqueue(db, org_id)
        return len(found)

    queued = await rt.db.write(_schedule)
    if queued:
        log.info("queued %d organization mirror discoveries", queued)


async def run(rt: Runtime, body: dict[str, Any]) -> None:
    """The job: one discovery of an organization mirror."""
    await sync(rt, int(body["org_id"]))


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    mirrored: list[str]
    skipped: list[str]
    failed: list[str]
    error: str | None = None
    vanished: list[str] = field(default_factory=list)
    """Names the upstream no longer lists (their repositories stay, their mirrors disabled)."""


class _Cancelled(Exception):
    pass


async def sync(rt: Runtime, org_id: int) -> Outcome | None:
    """One discovery; None when there was nothing to run."""
    started = await rt.db.write(_begin, org_id, rt.settings.ORG_MIRROR_MAX_DISCOVERY_DURATION)
    if started is None:
        return None
    config, org = started
    mirrored: list[str] = []
    skipped: list[str] = []
    failed: list[str] = []
    vanished: list[str] = []
    try:
        names = await list_repositories(
            rt.settings,
            _source(rt, config),
            timeout_s=float(config.skopeo_timeout),
            deadline_s=float(rt.settings.ORG_MIRROR_MAX_DISCOVERY_DURATION),
        )
        if names:  # an empty listing may be an upstream fault: nothing is set aside for it
            vanished = await rt.db.write(org_mirror_repos.set_aside_vanished, rt.secrets, config, set(names))
        for name in names:
            if not await rt.db.read(org_mirrors.is_running, org_id):
                raise _Cancelled
            if not config.selects(name):
                await rt.db.write(org_mirror_repos.skip, rt.secrets, config, name)
                skipped.append(name)
            elif await _mirror(rt, org, config, name):
                mirrored.append(name)
            else:
                failed.append(name)
    except _Cancelled:
        outcome = Outcome(org_mirrors.CANCEL, mirrored, skipped, failed, "cancelled", vanished=vanished)
    except (DiscoveryError, DomainError) as e:
        outcome = Outcome(org_mirrors.SYNC_FAILED, mirrored, skipped, failed, str(e), vanished=vanished)
    except Exception as e:  # a bug or a database failure: the mirror must not stay SYNCING
        log.exception("organization mirror of %s failed", org.name)
        outcome = Outcome(
            org_mirrors.SYNC_FAILED,
            mirrored,
            skipped,
            failed,
            f"internal error: {type(e).__name__}",
            vanished,
        )
    else:
        outcome = Outcome(org_mirrors.SYNC_SUCCESS, mirrored, skipped, failed, vanished=vanished)
    await rt.db.write(_end, config, org, outcome)
    return outcome


def _begin(db: Db, org_id: int, max_duration_s: int) -> tuple[OrgMirrorRecord, AccountRecord] | None:
    from wharf.core import accounts

    config = org_mirrors.begin(db, org_id, max_duration_s)
    org = accounts.get_by_id(db, org_id)
    if config is None or org is None:
        return None
    message = f"listing {config.external_registry_url}/{config.external_namespace}"
    _event(db, "org_mirror_sync_started", org, config, message)
    return config, org


async def _mirror(rt: Runtime, org: AccountRecord, config: OrgMirrorRecord, name: str) -> bool:
    """Create (when new) the repository `name` and ask its repository mirror to sync now; False
    when it cannot be mirrored (the reason is noted in the repository list)."""
    repo = await rt.db.write(org_mirror_repos.adopt, rt.secrets, org, config, name)
    if repo is None:
        return False
    await mirroring.sync_now(rt, repo, org_mirrors.robot_actor(config))  # False: syncing already
    return True


def _end(db: Db, config: OrgMirrorRecord, org: AccountRecord, outcome: Outcome) -> None:
    org_mirrors.finish(db, config.org_id, outcome.status, outcome.error)
    if outcome.status == org_mirrors.SYNC_SUCCESS:
        message = (
            f"{len(outcome.mirrored)} repositories mirrored, {len(outcome.skipped)} left out by the "
            f"filters, {len(outcome.failed)} not mirrored, {len(outcome.vanished)} no longer upstream"
        )
        _event(db, "org_mirror_sync_success", org, config, message)
    elif outcome.status == org_mirrors.SYNC_FAILED:
        _event(db, "org_mirror_sync_failed", org, config, outcome.error or "failed")


def _event(db: Db, kind: str, org: AccountRecord, config: OrgMirrorRecord, message: str) -> None:
    audit.record(
        db, kind, org_mirrors.robot_actor(config), namespace_id=org.id, namespace=org.name, message=message
    )

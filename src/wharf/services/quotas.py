"""Storage quotas as /api/v1 and the web use them: a namespace's quota and limits (superusers set
them), its usage report, the registry's usage by namespace. Each is one transaction through
core/quotas.py, with the settings turned into values there."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.config import Settings
from wharf.core import audit, quotas
from wharf.core.quotas import LimitRecord, QuotaRecord, Usage
from wharf.db.engine import Db
from wharf.runtime import Runtime


def enforcement(settings: Settings) -> quotas.Enforcement:
    """What core needs of the settings: whether quotas are enforced, and the system default."""
    return quotas.Enforcement(settings.FEATURE_QUOTA_MANAGEMENT, settings.DEFAULT_SYSTEM_REJECT_QUOTA_BYTES)


@dataclass(frozen=True, slots=True)
class Report:
    """Quay's `quota_report` of a namespace or repository."""

    quota_bytes: int
    configured_quota: int | None


async def quota_of(rt: Runtime, namespace_id: int) -> QuotaRecord | None:
    return await rt.db.read(quotas.quota_of, namespace_id)


async def get(rt: Runtime, namespace_id: int, quota_id: int) -> QuotaRecord:
    return await rt.db.read(quotas.get, namespace_id, quota_id)


async def create(
    rt: Runtime, namespace_id: int, namespace: str, limit_bytes: int, actor: audit.Actor
) -> QuotaRecord:
    return await rt.db.write(
        quotas.create, namespace_id, namespace, limit_bytes, actor, enforcement(rt.settings)
    )


async def change(
    rt: Runtime, namespace_id: int, namespace: str, quota_id: int, limit_bytes: int, actor: audit.Actor
) -> QuotaRecord:
    return await rt.db.write(
        quotas.change, namespace_id, namespace, quota_id, limit_bytes, actor, enforcement(rt.settings)
    )


async def delete(rt: Runtime, namespace_id: int, namespace: str, quota_id: int, actor: audit.Actor) -> None:
    await rt.db.write(quotas.remove, namespace_id, namespace, quota_id, actor)


async def create_limit(
    rt: Runtime, namespace_id: int, namespace: str, quota_id: int, kind: str, percent: int, actor: audit.Actor
) -> LimitRecord:
    def apply(db: Db) -> LimitRecord:
        quota = quotas.get(db, namespace_id, quota_id)
        return quotas.create_limit(db, namespace, quota, kind, percent, actor, enforcement(rt.settings))

    return await rt.db.write(apply)


async def change_limit(
    rt: Runtime,
    namespace_id: int,
    namespace: str,
    quota_id: int,
    limit_id: int,
    kind: str | None,
    percent: int | None,
    actor: audit.Actor,
) -> QuotaRecord:
    def apply(db: Db) -> QuotaRecord:
        quota = quotas.get(db, namespace_id, quota_id)
        quotas.change_limit(db, namespace, quota, limit_id, kind, percent, actor, enforcement(rt.settings))
        return quotas.get(db, namespace_id, quota_id)

    return await rt.db.write(apply)


async def delete_limit(
    rt: Runtime, namespace_id: int, namespace: str, quota_id: int, limit_id: int, actor: audit.Actor
) -> None:
    def apply(db: Db) -> None:
        quotas.remove_limit(db, namespace, quotas.get(db, namespace_id, quota_id), limit_id, actor)

    await rt.db.write(apply)


async def namespace_report(rt: Runtime, namespace_id: int) -> Report:
    def read(db: Db) -> Report:
        return Report(
            quotas.namespace_size(db, namespace_id),
            quotas.configured(db, namespace_id, rt.settings.DEFAULT_SYSTEM_REJECT_QUOTA_BYTES),
        )

    return await rt.db.read(read)


async def repository_report(rt: Runtime, repository_id: int, namespace_id: int) -> Report:
    def read(db: Db) -> Report:
        return Report(
            quotas.repository_sizes(db, [repository_id]).get(repository_id, 0),
            quotas.configured(db, namespace_id, rt.settings.DEFAULT_SYSTEM_REJECT_QUOTA_BYTES),
        )

    return await rt.db.read(read)


async def usage(rt: Runtime, *, limit: int = 100, offset: int = 0) -> list[Usage]:
    return await rt.db.read(quotas.usage_by_namespace, limit=limit, offset=offset)


@dataclass(frozen=True, slots=True)
class NamespaceQuotaView:
    """A namespace's quota as its settings page shows it."""

    size_bytes: int
    quota: QuotaRecord | None
    configured: int | None
    """The quota's bytes, or the system default's; None without either."""

    @property
    def percent(self) -> float | None:
        return round(self.size_bytes * 100 / self.configured, 1) if self.configured else None


async def namespace_view(rt: Runtime, namespace_id: int) -> NamespaceQuotaView:
    def read(db: Db) -> NamespaceQuotaView:
        return NamespaceQuotaView(
            quotas.namespace_size(db, namespace_id),
            quotas.quota_of(db, namespace_id),
            quotas.configured(db, namespace_id, rt.settings.DEFAULT_SYSTEM_REJECT_QUOTA_BYTES),
        )

    return await rt.db.read(read)


@dataclass(frozen=True, slots=True)
class Panel:
    """The superuser panel's Quotas tab: namespaces by usage, and the registry's total."""

    namespaces: list[Usage]
    registry_bytes: int


async def panel(rt: Runtime, *, limit: int = 100, offset: int = 0) -> Panel:
    def read(db: Db) -> Panel:
        return Panel(quotas.usage_by_namespace(db, limit=limit, offset=offset), quotas.registry_size(db))

    return await rt.db.read(read)


async def set_limit_bytes(
    rt: Runtime, namespace_id: int, namespace: str, text: str, actor: audit.Actor
) -> None:
    """Create the namespace's quota, or change it, to `text` ("10 GiB"): the web's one form."""
    limit_bytes = quotas.parse_size(text)

    def apply(db: Db) -> None:
        found = quotas.quota_of(db, namespace_id)
        if found is None:
            quotas.create(db, namespace_id, namespace, limit_bytes, actor, enforcement(rt.settings))
        else:
            quotas.change(db, namespace_id, namespace, found.id, limit_bytes, actor, enforcement(rt.settings))

    await rt.db.write(apply)

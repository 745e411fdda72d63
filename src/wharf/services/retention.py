"""Auto-prune and immutability policies as the API and the web UI manage them, their preview, and
the run that applies them (the `autoprune` job)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from wharf.config import Settings
from wharf.core import autoprune, retention_policies
from wharf.core.autoprune import AliveTag, Plan
from wharf.core.clock import now_ms
from wharf.core.errors import DomainError
from wharf.core.repositories import RepositoryRecord
from wharf.core.retention_policies import PruneRule
from wharf.db.engine import Db
from wharf.runtime import Runtime

log = logging.getLogger("wharf.autoprune")


def default_rule(settings: Settings) -> PruneRule | None:
    """DEFAULT_NAMESPACE_AUTOPRUNE_POLICY, checked; None when unset, or when it is not a valid
    policy (said once in the log each run rather than stopping the job)."""
    given = settings.DEFAULT_NAMESPACE_AUTOPRUNE_POLICY
    if not given:
        return None
    try:
        return retention_policies.check_prune(
            given.get("method"),
            given.get("value"),
            given.get("tagPattern"),
            bool(given.get("tagPatternMatches", True)),
            policy_uuid="default",
        )
    except DomainError as e:
        log.error("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY is not a valid policy and is ignored: %s", e)
        return None


@dataclass(slots=True)
class Report:
    repositories: int = 0
    pruned: int = 0
    frozen: int = 0


def _batches(items: list[AliveTag], size: int) -> list[list[AliveTag]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def apply_to(rt: Runtime, repo: RepositoryRecord, default: PruneRule | None) -> tuple[int, int]:
    """Apply the policies to one repository: (tags pruned, tags frozen). Freezing comes first, so a
    tag an immutability policy protects is never pruned by the same run."""
    prune_on = rt.settings.FEATURE_AUTO_PRUNE
    found: Plan = await rt.db.read(autoprune.plan_for, repo, default, prune_on, now_ms())
    size = rt.settings.AUTOPRUNE_BATCH_SIZE
    frozen = pruned = 0
    for batch in _batches(found.freeze, size):
        frozen += await rt.db.write(autoprune.freeze, repo, batch, now_ms())
    for batch in _batches(found.prune, size):
        pruned += await rt.db.write(autoprune.prune, repo, batch, now_ms())
    return pruned, frozen


async def apply(rt: Runtime, *, namespace_id: int | None = None, repository_id: int | None = None) -> Report:
    """One run over the repositories that have policies (or all of them, under a registry default),
    or over one namespace's or one repository's."""
    default = default_rule(rt.settings) if rt.settings.FEATURE_AUTO_PRUNE else None

    def visit(db: Db) -> list[RepositoryRecord]:
        if not retention_policies.count(db) and default is None:
            return []
        return autoprune.targets(
            db, everywhere=default is not None, namespace_id=namespace_id, repository_id=repository_id
        )

    report = Report()
    for repo in await rt.db.read(visit):
        pruned, frozen = await apply_to(rt, repo, default)
        report.repositories += 1
        report.pruned += pruned
        report.frozen += frozen
    if report.pruned or report.frozen:
        log.info(
            "autoprune: %d tags deleted, %d tags made immutable, in %d repositories",
            report.pruned,
            report.frozen,
            report.repositories,
        )
    return report


async def preview(rt: Runtime, repo: RepositoryRecord) -> Plan:
    """What a run would do to the repository now: the tags it would delete and those it would freeze."""
    default = default_rule(rt.settings) if rt.settings.FEATURE_AUTO_PRUNE else None
    found: Plan = await rt.db.read(
        autoprune.plan_for, repo, default, rt.settings.FEATURE_AUTO_PRUNE, now_ms()
    )
    return found


PREVIEW_REPOSITORIES = 100
"""Repositories a namespace's preview looks at (the first ones by id); the job visits them all."""


@dataclass(frozen=True, slots=True)
class Policies:
    """A scope's policies as a settings page shows them: its own, those it is also under (a
    repository's namespace's), the registry default when it applies, and what a run would do now."""

    prune: list[PruneRule]
    freeze: list[retention_policies.FreezeRule]
    inherited_prune: list[PruneRule]
    inherited_freeze: list[retention_policies.FreezeRule]
    default: PruneRule | None
    previews: list[tuple[str, Plan]]
    """(repository name, what a run would do there), for repositories where it would do something."""
    previewed_all: bool
    """False when the namespace has more repositories than the preview looked at."""


async def policies_of(rt: Runtime, scope: retention_policies.Scope) -> Policies:
    default = default_rule(rt.settings) if rt.settings.FEATURE_AUTO_PRUNE else None
    prune_on, now = rt.settings.FEATURE_AUTO_PRUNE, now_ms()

    def read(db: Db) -> Policies:
        own_prune = retention_policies.prune_policies(db, scope)
        own_freeze = retention_policies.freeze_policies(db, scope)
        inherited_prune: list[PruneRule] = []
        inherited_freeze: list[retention_policies.FreezeRule] = []
        if scope.repository is not None:
            namespace = retention_policies.Scope(scope.namespace_id, scope.namespace)
            inherited_prune = retention_policies.prune_policies(db, namespace)
            inherited_freeze = retention_policies.freeze_policies(db, namespace)
            repos = [scope.repository]
        else:
            repos = autoprune.targets(db, everywhere=True, namespace_id=scope.namespace_id)
        applies = (
            default
            if default is not None
            and not retention_policies.namespace_has_prune_policy(db, scope.namespace_id)
            else None
        )
        previews = []
        for repo in repos[:PREVIEW_REPOSITORIES]:
            found = autoprune.plan_for(db, repo, applies, prune_on, now)
            if found.prune or found.freeze:
                previews.append((repo.name, found))
        return Policies(
            own_prune,
            own_freeze,
            inherited_prune,
            inherited_freeze,
            applies,
            previews,
            len(repos) <= PREVIEW_REPOSITORIES,
        )

    found: Policies = await rt.db.read(read)
    return found

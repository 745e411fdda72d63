"""Applying auto-prune and immutability policies to a repository's tags.

`plan` reads the alive tags once and works out, in memory, which ones the policies delete and
which ones they freeze; `prune` and `freeze` then change them in bounded batches, one short
transaction each, so a repository of 100,000 tags is never locked for the whole run and pushes go
on meanwhile. A batch re-checks each tag in its own transaction: one pushed again, moved or made
immutable since the plan is left alone.

Rules, in this order:
- a tag an immutability policy matches is frozen first, and an immutable tag is never pruned;
- `number_of_tags` N keeps the N newest (by when the tag last moved) of the mutable tags the policy
  applies to, and selects the rest; `creation_date` D selects those of them older than D;
- several policies (the repository's, its namespace's, or the registry default when the namespace
  has none of its own) are each applied to the tags as they are when the run starts; a tag any of
  them selects is deleted.

A pruned tag is deleted the way a person deletes one (core/tag_changes.prune_all ends it as
tag_changes.delete does), logged as `autoprune_tag_delete`: it stays restorable within the
namespace's time-machine window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select

from wharf.core import audit, repositories, retention_policies, tag_changes, tag_patterns, tags
from wharf.core.errors import NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.core.retention_policies import CREATION_DATE, FreezeRule, PruneRule, freezes
from wharf.db.engine import Db
from wharf.db.models import Account, Repository, Tag

ACTOR = audit.Actor(None, "autoprune worker")
"""Who the usage log says deleted or froze a tag."""


@dataclass(frozen=True, slots=True)
class AliveTag:
    name: str
    start_ms: int
    """When the tag last moved: its current lifetime's start."""
    immutable: bool


@dataclass(slots=True)
class Plan:
    prune: list[AliveTag] = field(default_factory=list)
    """Oldest first."""
    freeze: list[AliveTag] = field(default_factory=list)


def alive_tags(db: Db, repository_id: int, now: int) -> list[AliveTag]:
    """The repository's alive, visible tags, newest first (ties by name, so a plan is repeatable)."""
    rows = db.execute(
        select(Tag.name, Tag.lifetime_start_ms, Tag.immutable)
        .where(Tag.repository_id == repository_id, tags.alive_at(now), Tag.hidden.is_(False))
        .order_by(Tag.lifetime_start_ms.desc(), Tag.name.desc())
    )
    return [AliveTag(r.name, int(r.lifetime_start_ms), bool(r.immutable)) for r in rows]


def select_prunable(rules: list[PruneRule], alive: list[AliveTag], now: int) -> list[AliveTag]:
    """The tags the auto-prune rules delete, oldest first: never an immutable one. `alive` is
    newest first, as `alive_tags` gives it."""
    chosen: dict[str, AliveTag] = {}
    for rule in rules:
        applies = tag_patterns.matcher(rule.tag_pattern, rule.tag_pattern_matches)
        matching = [t for t in alive if not t.immutable and applies(t.name)]
        if rule.method == CREATION_DATE:
            cutoff = now - rule.value * 1000
            victims = [t for t in matching if t.start_ms < cutoff]
        else:
            victims = matching[rule.value :]
        for t in victims:
            chosen[t.name] = t
    return sorted(chosen.values(), key=lambda t: (t.start_ms, t.name))


def plan(
    db: Db, repo: RepositoryRecord, prune_rules: list[PruneRule], freeze_rules: list[FreezeRule], now: int
) -> Plan:
    """What the rules do to the repository's tags now (also the UI's preview)."""
    alive = alive_tags(db, repo.id, now)
    to_freeze = [t for t in alive if not t.immutable and freezes(freeze_rules, t.name)]
    frozen = {t.name for t in to_freeze}
    # Tags about to be frozen count as immutable for the prune rules.
    seen = [AliveTag(t.name, t.start_ms, True) if t.name in frozen else t for t in alive]
    return Plan(select_prunable(prune_rules, seen, now), to_freeze)


def _unchanged(db: Db, repo: RepositoryRecord, batch: list[AliveTag], now: int) -> list[AliveTag]:
    """The planned tags that are still the planned lifetime, alive and mutable (nothing pushed,
    moved, froze or deleted them since the plan): one read for the batch."""
    rows = db.execute(
        select(Tag.name, Tag.lifetime_start_ms, Tag.immutable).where(
            Tag.repository_id == repo.id, Tag.name.in_([t.name for t in batch]), tags.alive_at(now)
        )
    )
    current = {r.name: (int(r.lifetime_start_ms), bool(r.immutable)) for r in rows}
    return [t for t in batch if current.get(t.name) == (t.start_ms, False)]


def prune(db: Db, repo: RepositoryRecord, batch: list[AliveTag], now: int) -> int:
    """Delete the planned tags that are unchanged since the plan; how many went."""
    names = [t.name for t in _unchanged(db, repo, batch, now)]
    return len(tag_changes.prune_all(db, repo, names, ACTOR)) if names else 0


def freeze(db: Db, repo: RepositoryRecord, batch: list[AliveTag], now: int) -> int:
    """Make the planned tags immutable (one usage-log entry for the batch); how many were."""
    frozen: list[str] = []
    for t in _unchanged(db, repo, batch, now):
        try:
            tags.set_immutable(db, repo.id, t.name, True)
        except NotFound:
            continue
        frozen.append(t.name)
    if frozen:
        audit.record_for(db, "tags_made_immutable_by_policy", ACTOR, repo, tags=frozen, count=len(frozen))
    return len(frozen)


def rules_for(
    db: Db, repo: RepositoryRecord, default: PruneRule | None
) -> tuple[list[PruneRule], list[FreezeRule]]:
    """The auto-prune rules that apply to the repository (its own, its namespace's, or `default`,
    the registry's, when the namespace has none of its own) and the immutability rules."""
    prune_rules = retention_policies.prune_rules_for(db, repo)
    if default is not None and not retention_policies.namespace_has_prune_policy(db, repo.namespace_id):
        prune_rules.append(default)
    return prune_rules, retention_policies.freeze_rules_for(db, repo.id, repo.namespace_id)


def plan_for(db: Db, repo: RepositoryRecord, default: PruneRule | None, prune_on: bool, now: int) -> Plan:
    """`plan` with the rules that apply to the repository; no pruning unless `prune_on`."""
    prune_rules, freeze_rules = rules_for(db, repo, default)
    return plan(db, repo, prune_rules if prune_on else [], freeze_rules, now)


_TARGET_COLUMNS = (
    Repository.id,
    Repository.namespace_id,
    Account.name.label("namespace"),
    Repository.name,
    Repository.visibility,
    Repository.state,
)


def targets(
    db: Db, *, everywhere: bool, namespace_id: int | None = None, repository_id: int | None = None
) -> list[RepositoryRecord]:
    """The repositories a run visits: those with a policy of their own or in a namespace with one
    (every repository when `everywhere`: a registry default applies), narrowed to one namespace or
    one repository when given. Mirrors and read-only repositories accept no tag change: left out."""
    query = (
        select(*_TARGET_COLUMNS)
        .join(Account, Account.id == Repository.namespace_id)
        .where(Repository.state == repositories.NORMAL)
        .order_by(Repository.id)
    )
    if repository_id is not None:
        query = query.where(Repository.id == repository_id)
    elif namespace_id is not None:
        query = query.where(Repository.namespace_id == namespace_id)
    if not everywhere:
        namespaces, own = retention_policies.scopes_with_policies(db)
        query = query.where(or_(Repository.namespace_id.in_(namespaces), Repository.id.in_(own)))
    return [RepositoryRecord(*row) for row in db.execute(query)]

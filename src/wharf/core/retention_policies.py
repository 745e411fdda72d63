"""Auto-prune and immutability policies of namespaces and repositories (Quay's
`*AutoPrunePolicy*` and `*ImmutabilityPolicy*`): create, read, change, delete, each change with
its usage-log entry in the same transaction.

A policy belongs to a namespace, or to one repository of it. Several may exist in each scope; an
identical second one is refused, as is a tag pattern that is not a valid RE2 expression (the
reason is in the error). The auto-prune job (core/autoprune.py) applies them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from wharf.core import audit, durations, queue, tag_patterns
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import AutoPrunePolicy, ImmutabilityPolicy

NUMBER_OF_TAGS = "number_of_tags"
CREATION_DATE = "creation_date"
METHODS = (NUMBER_OF_TAGS, CREATION_DATE)
MAX_POLICIES = 50
"""Policies of one kind per namespace or repository: each is evaluated against every tag."""
MAX_TAG_COUNT = 1_000_000
JOB = "autoprune"
"""The queue of the job that applies the policies (jobs/autoprune.py)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a policy lives: a namespace, or one repository (then `repository` is set)."""

    namespace_id: int
    namespace: str
    repository: RepositoryRecord | None = None

    @staticmethod
    def of(repo: RepositoryRecord) -> Scope:
        return Scope(repo.namespace_id, repo.namespace, repo)

    @property
    def repository_id(self) -> int | None:
        return self.repository.id if self.repository is not None else None


@dataclass(frozen=True, slots=True)
class PruneRule:
    """An auto-prune policy, checked: `value` is a tag count or a number of seconds."""

    uuid: str
    method: str
    value: int
    raw_value: int | str
    """The value as it was given (10, or "7d"), as the API shows it."""
    tag_pattern: str | None
    tag_pattern_matches: bool
    repository_id: int | None = None

    def view(self) -> dict[str, Any]:
        """Quay's shape of a policy."""
        return {
            "uuid": self.uuid,
            "method": self.method,
            "value": self.raw_value,
            "tagPattern": self.tag_pattern,
            "tagPatternMatches": self.tag_pattern_matches,
        }


@dataclass(frozen=True, slots=True)
class FreezeRule:
    uuid: str
    tag_pattern: str
    tag_pattern_matches: bool
    repository_id: int | None = None

    def view(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "tagPattern": self.tag_pattern,
            "tagPatternMatches": self.tag_pattern_matches,
        }


def check_prune(
    method: object, value: object, tag_pattern: str | None, tag_pattern_matches: bool, policy_uuid: str = ""
) -> PruneRule:
    """The policy as given, checked: InvalidInput naming what is wrong."""
    if method not in METHODS:
        raise InvalidInput(
            f"method must be one of {', '.join(METHODS)}, not {str(method)[:40]!r}", field="method"
        )
    pattern = _pattern(tag_pattern, tag_pattern_matches)
    if method == NUMBER_OF_TAGS:
        count = _count(value)
        return PruneRule(policy_uuid, NUMBER_OF_TAGS, count, count, pattern, tag_pattern_matches)
    if not isinstance(value, str):
        raise InvalidInput("creation_date needs a value like 7d (s, m, h, d or w)", field="value")
    try:
        seconds = durations.parse_seconds(value)
    except InvalidInput as e:
        raise InvalidInput(str(e), field="value") from None
    if seconds <= 0:
        raise InvalidInput("creation_date needs a duration longer than zero", field="value")
    return PruneRule(policy_uuid, CREATION_DATE, seconds, value.strip(), pattern, tag_pattern_matches)


def _count(value: object) -> int:
    # Quay accepts the number as a JSON number; a numeric string is taken too (forms send strings).
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TAG_COUNT:
        raise InvalidInput(f"number_of_tags needs a whole number from 1 to {MAX_TAG_COUNT}", field="value")
    return value


def _pattern(tag_pattern: str | None, matches: bool) -> str | None:
    if tag_pattern is None or not tag_pattern.strip():
        if not matches:
            raise InvalidInput("tagPatternMatches false needs a tagPattern", field="tagPattern")
        return None
    tag_patterns.compile_pattern(tag_pattern.strip())
    return tag_pattern.strip()


def check_freeze(tag_pattern: str | None, tag_pattern_matches: bool, policy_uuid: str = "") -> FreezeRule:
    if tag_pattern is None or not tag_pattern.strip():
        raise InvalidInput("an immutability policy needs a tagPattern", field="tagPattern")
    tag_patterns.compile_pattern(tag_pattern.strip())
    return FreezeRule(policy_uuid, tag_pattern.strip(), tag_pattern_matches)


# --- reading ---------------------------------------------------------------------------------------

_PRUNE_COLUMNS = (
    AutoPrunePolicy.uuid,
    AutoPrunePolicy.method,
    AutoPrunePolicy.value,
    AutoPrunePolicy.tag_pattern,
    AutoPrunePolicy.tag_pattern_matches,
    AutoPrunePolicy.repository_id,
)
_FREEZE_COLUMNS = (
    ImmutabilityPolicy.uuid,
    ImmutabilityPolicy.tag_pattern,
    ImmutabilityPolicy.tag_pattern_matches,
    ImmutabilityPolicy.repository_id,
)


def _prune_rule(row: Any) -> PruneRule:
    raw: int | str = int(row.value) if row.method == NUMBER_OF_TAGS else str(row.value)
    value = int(raw) if row.method == NUMBER_OF_TAGS else durations.parse_seconds(str(raw))
    return PruneRule(
        row.uuid, row.method, value, raw, row.tag_pattern, bool(row.tag_pattern_matches), row.repository_id
    )


def _freeze_rule(row: Any) -> FreezeRule:
    return FreezeRule(row.uuid, row.tag_pattern, bool(row.tag_pattern_matches), row.repository_id)


def _in_scope(model: type[AutoPrunePolicy] | type[ImmutabilityPolicy], scope: Scope) -> Any:
    where = model.namespace_id == scope.namespace_id
    if scope.repository is None:
        return where & model.repository_id.is_(None)
    return where & (model.repository_id == scope.repository.id)


def prune_policies(db: Db, scope: Scope) -> list[PruneRule]:
    """The scope's own auto-prune policies, oldest first."""
    rows = db.execute(
        select(*_PRUNE_COLUMNS).where(_in_scope(AutoPrunePolicy, scope)).order_by(AutoPrunePolicy.id)
    )
    return [_prune_rule(r) for r in rows]


def freeze_policies(db: Db, scope: Scope) -> list[FreezeRule]:
    rows = db.execute(
        select(*_FREEZE_COLUMNS).where(_in_scope(ImmutabilityPolicy, scope)).order_by(ImmutabilityPolicy.id)
    )
    return [_freeze_rule(r) for r in rows]


def prune_policy(db: Db, scope: Scope, policy_uuid: str) -> PruneRule:
    for rule in prune_policies(db, scope):
        if rule.uuid == policy_uuid:
            return rule
    raise NotFound(f"no auto-prune policy {policy_uuid[:64]!r} here")


def freeze_policy(db: Db, scope: Scope, policy_uuid: str) -> FreezeRule:
    for rule in freeze_policies(db, scope):
        if rule.uuid == policy_uuid:
            return rule
    raise NotFound(f"no immutability policy {policy_uuid[:64]!r} here")


def prune_rules_for(db: Db, repo: RepositoryRecord) -> list[PruneRule]:
    """Every auto-prune policy that applies to the repository: its own and its namespace's."""
    rows = db.execute(
        select(*_PRUNE_COLUMNS)
        .where(
            AutoPrunePolicy.namespace_id == repo.namespace_id,
            or_(AutoPrunePolicy.repository_id.is_(None), AutoPrunePolicy.repository_id == repo.id),
        )
        .order_by(AutoPrunePolicy.id)
    )
    return [_prune_rule(r) for r in rows]


def namespace_has_prune_policy(db: Db, namespace_id: int) -> bool:
    found = db.execute(
        select(AutoPrunePolicy.id)
        .where(AutoPrunePolicy.namespace_id == namespace_id, AutoPrunePolicy.repository_id.is_(None))
        .limit(1)
    ).first()
    return found is not None


def freeze_rules_for(db: Db, repository_id: int, namespace_id: int) -> list[FreezeRule]:
    """Every immutability policy that applies to the repository: its own and its namespace's."""
    rows = db.execute(
        select(*_FREEZE_COLUMNS)
        .where(
            ImmutabilityPolicy.namespace_id == namespace_id,
            or_(
                ImmutabilityPolicy.repository_id.is_(None), ImmutabilityPolicy.repository_id == repository_id
            ),
        )
        .order_by(ImmutabilityPolicy.id)
    )
    return [_freeze_rule(r) for r in rows]


def freezes(rules: list[FreezeRule], name: str) -> bool:
    """Whether one of the immutability policies makes tag `name` immutable."""
    return any(tag_patterns.matcher(r.tag_pattern, r.tag_pattern_matches)(name) for r in rules)


# --- changing --------------------------------------------------------------------------------------


def _audit(db: Db, kind: str, actor: audit.Actor | None, scope: Scope, **details: Any) -> None:
    """The change's usage-log entry, and a run of the job for the scope soon (a new or changed
    policy applies to the tags that exist now without waiting for the periodic run)."""
    target = {"namespace_id": scope.namespace_id, "repository_id": scope.repository_id}
    key = f"{JOB}:{scope.namespace_id}:{scope.repository_id}"
    if not kind.startswith("delete"):
        queue.enqueue(db, JOB, target, dedupe_key=key)
    if scope.repository is not None:
        audit.record_for(db, kind, actor, scope.repository, **details)
    else:
        audit.record(db, kind, actor, namespace_id=scope.namespace_id, namespace=scope.namespace, **details)


def _refuse_duplicate(existing: list[Any], same: Any, what: str) -> None:
    if len(existing) >= MAX_POLICIES:
        raise InvalidInput(f"at most {MAX_POLICIES} {what} policies per namespace or repository")
    if any(same(e) for e in existing):
        raise AlreadyExists(f"an identical {what} policy exists already")


def _same_prune(rule: PruneRule) -> Any:
    return lambda e: (
        (e.method, e.value, e.tag_pattern, e.tag_pattern_matches)
        == (
            rule.method,
            rule.value,
            rule.tag_pattern,
            rule.tag_pattern_matches,
        )
    )


def create_prune(db: Db, scope: Scope, rule: PruneRule, actor: audit.Actor | None) -> str:
    """Save a checked policy (see `check_prune`); its uuid."""
    _refuse_duplicate(prune_policies(db, scope), _same_prune(rule), "auto-prune")
    policy_uuid = str(uuid.uuid4())
    db.execute(
        insert(AutoPrunePolicy),
        {
            "uuid": policy_uuid,
            "namespace_id": scope.namespace_id,
            "repository_id": scope.repository_id,
            "method": rule.method,
            "value": str(rule.raw_value),
            "tag_pattern": rule.tag_pattern,
            "tag_pattern_matches": rule.tag_pattern_matches,
            "created_ms": now_ms(),
        },
    )
    _audit(
        db,
        "create_repository_autoprune_policy" if scope.repository else "create_namespace_autoprune_policy",
        actor,
        scope,
        policy_uuid=policy_uuid,
        **_details(rule),
    )
    return policy_uuid


def _details(rule: PruneRule) -> dict[str, Any]:
    return {"method": rule.method, "value": rule.raw_value, "tag_pattern": rule.tag_pattern}


def update_prune(db: Db, scope: Scope, policy_uuid: str, rule: PruneRule, actor: audit.Actor | None) -> None:
    prune_policy(db, scope, policy_uuid)  # NotFound
    others = [p for p in prune_policies(db, scope) if p.uuid != policy_uuid]
    if any(_same_prune(rule)(e) for e in others):
        raise AlreadyExists("an identical auto-prune policy exists already")
    db.execute(
        update(AutoPrunePolicy)
        .where(AutoPrunePolicy.uuid == policy_uuid)
        .values(
            method=rule.method,
            value=str(rule.raw_value),
            tag_pattern=rule.tag_pattern,
            tag_pattern_matches=rule.tag_pattern_matches,
        )
    )
    _audit(
        db,
        "update_repository_autoprune_policy" if scope.repository else "update_namespace_autoprune_policy",
        actor,
        scope,
        policy_uuid=policy_uuid,
        **_details(rule),
    )


def delete_prune(db: Db, scope: Scope, policy_uuid: str, actor: audit.Actor | None) -> None:
    prune_policy(db, scope, policy_uuid)  # NotFound
    db.execute(delete(AutoPrunePolicy).where(AutoPrunePolicy.uuid == policy_uuid))
    _audit(
        db,
        "delete_repository_autoprune_policy" if scope.repository else "delete_namespace_autoprune_policy",
        actor,
        scope,
        policy_uuid=policy_uuid,
    )


def _same_freeze(rule: FreezeRule) -> Any:
    return lambda e: (e.tag_pattern, e.tag_pattern_matches) == (rule.tag_pattern, rule.tag_pattern_matches)


def create_freeze(db: Db, scope: Scope, rule: FreezeRule, actor: audit.Actor | None) -> str:
    _refuse_duplicate(freeze_policies(db, scope), _same_freeze(rule), "immutability")
    policy_uuid = str(uuid.uuid4())
    db.execute(
        insert(ImmutabilityPolicy),
        {
            "uuid": policy_uuid,
            "namespace_id": scope.namespace_id,
            "repository_id": scope.repository_id,
            "tag_pattern": rule.tag_pattern,
            "tag_pattern_matches": rule.tag_pattern_matches,
            "created_ms": now_ms(),
        },
    )
    _audit(
        db, "create_immutability_policy", actor, scope, policy_uuid=policy_uuid, tag_pattern=rule.tag_pattern
    )
    return policy_uuid


def update_freeze(
    db: Db, scope: Scope, policy_uuid: str, rule: FreezeRule, actor: audit.Actor | None
) -> None:
    freeze_policy(db, scope, policy_uuid)  # NotFound
    others = [p for p in freeze_policies(db, scope) if p.uuid != policy_uuid]
    if any(_same_freeze(rule)(e) for e in others):
        raise AlreadyExists("an identical immutability policy exists already")
    db.execute(
        update(ImmutabilityPolicy)
        .where(ImmutabilityPolicy.uuid == policy_uuid)
        .values(tag_pattern=rule.tag_pattern, tag_pattern_matches=rule.tag_pattern_matches)
    )
    _audit(
        db, "update_immutability_policy", actor, scope, policy_uuid=policy_uuid, tag_pattern=rule.tag_pattern
    )


def delete_freeze(db: Db, scope: Scope, policy_uuid: str, actor: audit.Actor | None) -> None:
    freeze_policy(db, scope, policy_uuid)  # NotFound
    db.execute(delete(ImmutabilityPolicy).where(ImmutabilityPolicy.uuid == policy_uuid))
    _audit(db, "delete_immutability_policy", actor, scope, policy_uuid=policy_uuid)


def scopes_with_policies(db: Db) -> tuple[set[int], set[int]]:
    """(namespace ids with a namespace-wide policy, repository ids with a policy of their own), of
    either kind: where the auto-prune job has work."""
    namespaces: set[int] = set()
    repositories: set[int] = set()
    for model in (AutoPrunePolicy, ImmutabilityPolicy):
        for ns, repo in db.execute(select(model.namespace_id, model.repository_id).distinct()):
            if repo is None:
                namespaces.add(int(ns))
            else:
                repositories.add(int(repo))
    return namespaces, repositories


def count(db: Db) -> int:
    """Policies of both kinds in the registry (a quick check for the job: nothing to do at 0)."""
    total = 0
    for model in (AutoPrunePolicy, ImmutabilityPolicy):
        total += int(db.execute(select(func.count()).select_from(model)).scalar_one())
    return total

"""Auto-prune and immutability policies (core/retention_policies.py, core/autoprune.py,
core/tag_patterns.py) on the real database: what a policy accepts, which tags a plan selects, and
that a batch deletes through the time machine and never touches an immutable tag."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.conftest import Clock
from tests.core.test_tags import _manifest
from wharf.core import autoprune, manifests, repositories, retention_policies, tag_changes, tag_patterns, tags
from wharf.core.errors import AlreadyExists, InvalidInput, NotFound, ReadOnly
from wharf.core.repositories import RepositoryRecord
from wharf.core.retention_policies import Scope
from wharf.db.engine import Database, Db
from wharf.db.models import Job, LogEntry

DAY_S = 86_400


@pytest.fixture
def repo(db: Database) -> RepositoryRecord:
    return db.run_write(repositories.create, "admin", "pruned", visibility="private", actor=None)


@pytest.fixture
def image(db: Database, repo: RepositoryRecord) -> int:
    return db.run_write(_manifest, repo, "one")


def _tag(db: Database, repo: RepositoryRecord, image: int, *names: str) -> None:
    for name in names:
        db.run_write(tags.point, repo.id, name, image)


def _alive(db: Database, repo: RepositoryRecord) -> list[str]:
    return sorted(db.run_read(tags.list_names, repo.id, after=None, limit=1000))


def _run(
    db: Database, repo: RepositoryRecord, now: int, default: retention_policies.PruneRule | None = None
) -> None:
    plan = db.run_read(autoprune.plan_for, repo, default, True, now)
    db.run_write(autoprune.freeze, repo, plan.freeze, now)
    db.run_write(autoprune.prune, repo, plan.prune, now)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(a", "missing )"),
        ("a" * 257, "longer than 256"),
        ("(?P<x>a)(?P=x)", "not a valid regular expression"),  # a backreference: RE2 has none
        ("a{1000}{1000}", "not a valid regular expression"),
    ],
)
def test_an_invalid_pattern_is_refused_with_the_reason(pattern: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason.replace("(", r"\(").replace(")", r"\)")):
        retention_policies.check_prune("number_of_tags", 5, pattern, True)
    with pytest.raises(InvalidInput):
        retention_policies.check_freeze(pattern, True)


def test_patterns_match_anywhere_in_linear_time() -> None:
    assert tag_patterns.matcher("^v[0-9]+$", True)("v12")
    assert not tag_patterns.matcher("^v[0-9]+$", True)("v12-rc")
    assert tag_patterns.matcher("rc", True)("v1-rc2")
    assert tag_patterns.matcher("^v", False)("latest")
    assert tag_patterns.matcher(None, True)("anything")
    # Catastrophic for a backtracking engine; RE2 answers at once.
    assert tag_patterns.matcher("(a+)+$", True)("a" * 100_000 + "!") is False


@pytest.mark.parametrize(
    ("method", "value", "why"),
    [
        ("by_size", 5, "method must be one of"),
        ("number_of_tags", 0, "whole number"),
        ("number_of_tags", "ten", "whole number"),
        ("number_of_tags", True, "whole number"),
        ("creation_date", 7, "like 7d"),
        ("creation_date", "7 years", "not a duration"),
        ("creation_date", "0d", "longer than zero"),
    ],
)
def test_a_policy_must_make_sense(method: str, value: object, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        retention_policies.check_prune(method, value, None, True)


def test_policies_are_kept_per_scope_and_identical_ones_refused(
    db: Database, repo: RepositoryRecord, audit_kinds: object
) -> None:
    ns = Scope(repo.namespace_id, repo.namespace)
    own = Scope.of(repo)
    rule = retention_policies.check_prune("creation_date", "7d", "^dev-", True)
    first = db.run_write(retention_policies.create_prune, ns, rule, None)
    db.run_write(retention_policies.create_prune, own, rule, None)  # same rule, other scope: fine
    with pytest.raises(AlreadyExists):
        db.run_write(retention_policies.create_prune, ns, rule, None)
    second = db.run_write(
        retention_policies.create_prune,
        ns,
        retention_policies.check_prune("number_of_tags", 10, None, True),
        None,
    )
    assert [p.uuid for p in db.run_read(retention_policies.prune_policies, ns)] == [first, second]
    assert db.run_read(retention_policies.prune_policy, ns, first).view() == {
        "uuid": first,
        "method": "creation_date",
        "value": "7d",
        "tagPattern": "^dev-",
        "tagPatternMatches": True,
    }
    assert len(db.run_read(retention_policies.prune_rules_for, repo)) == 3
    changed = retention_policies.check_prune("number_of_tags", 3, None, True)
    with pytest.raises(AlreadyExists):  # would equal the second
        db.run_write(
            retention_policies.update_prune,
            ns,
            first,
            retention_policies.check_prune("number_of_tags", 10, None, True),
            None,
        )
    db.run_write(retention_policies.update_prune, ns, first, changed, None)
    assert db.run_read(retention_policies.prune_policy, ns, first).value == 3
    db.run_write(retention_policies.delete_prune, ns, first, None)
    with pytest.raises(NotFound):
        db.run_read(retention_policies.prune_policy, ns, first)
    with pytest.raises(NotFound):  # a namespace's policy is not the repository's
        db.run_write(retention_policies.delete_prune, own, second, None)

    def logged(c: Db) -> list[str]:
        return [str(k) for k in c.execute(select(LogEntry.kind).order_by(LogEntry.id)).scalars()]

    kinds = db.run_read(logged)
    assert kinds[-5:] == [
        "create_namespace_autoprune_policy",
        "create_repository_autoprune_policy",
        "create_namespace_autoprune_policy",
        "update_namespace_autoprune_policy",
        "delete_namespace_autoprune_policy",
    ]

    def jobs(c: Db) -> list[str]:
        return [str(q) for q in c.execute(select(Job.queue)).scalars()]

    assert "autoprune" in db.run_read(jobs)  # a new policy is applied soon, not at the next period


def test_number_of_tags_keeps_the_newest_and_skips_immutable_ones(
    db: Database, repo: RepositoryRecord, image: int, clock: Clock
) -> None:
    for i in range(6):
        _tag(db, repo, image, f"build-{i}")
        clock.advance(60)
    db.run_write(tags.set_immutable, repo.id, "build-0", True)
    rule = retention_policies.check_prune("number_of_tags", 2, None, True)
    db.run_write(retention_policies.create_prune, Scope.of(repo), rule, None)
    plan = db.run_read(autoprune.plan_for, repo, None, True, clock.now_ms())
    assert [t.name for t in plan.prune] == ["build-1", "build-2", "build-3"]  # oldest first
    _run(db, repo, clock.now_ms())
    assert _alive(db, repo) == ["build-0", "build-4", "build-5"]


def test_creation_date_deletes_older_tags_matching_the_pattern_only(
    db: Database, repo: RepositoryRecord, image: int, clock: Clock
) -> None:
    _tag(db, repo, image, "dev-old", "v1-old")
    clock.advance(8 * DAY_S)
    _tag(db, repo, image, "dev-new")
    rule = retention_policies.check_prune("creation_date", "7d", "^dev-", True)
    db.run_write(retention_policies.create_prune, Scope(repo.namespace_id, repo.namespace), rule, None)
    _run(db, repo, clock.now_ms())
    assert _alive(db, repo) == ["dev-new", "v1-old"]
    # tagPatternMatches false: the policy applies to the tags the pattern does not match
    inverse = retention_policies.check_prune("creation_date", "7d", "^dev-", False)
    db.run_write(retention_policies.create_prune, Scope.of(repo), inverse, None)
    _run(db, repo, clock.now_ms())
    assert _alive(db, repo) == ["dev-new"]


def test_a_pruned_tag_is_logged_and_can_be_restored(
    db: Database, repo: RepositoryRecord, image: int, clock: Clock
) -> None:
    _tag(db, repo, image, "a", "b")
    rule = retention_policies.check_prune("number_of_tags", 1, None, True)
    db.run_write(retention_policies.create_prune, Scope.of(repo), rule, None)
    clock.advance(1)
    _run(db, repo, clock.now_ms())
    [gone] = [n for n in ("a", "b") if n not in _alive(db, repo)]

    def entries(c: Db) -> list[str]:
        rows = c.execute(select(LogEntry.metadata_json).where(LogEntry.kind == "autoprune_tag_delete"))
        return [str(r) for r in rows.scalars()]

    [entry] = db.run_read(entries)
    assert f'"tag":"{gone}"' in entry
    db.run_write(tags.restore, repo.id, gone, image, DAY_S * 1000)
    assert _alive(db, repo) == ["a", "b"]


def test_a_batch_checks_the_repository_once_and_logs_every_tag_with_its_digest(
    db: Database, repo: RepositoryRecord, image: int
) -> None:
    other = db.run_write(_manifest, repo, "two")
    _tag(db, repo, image, "a", "b")
    _tag(db, repo, other, "c", "frozen")
    db.run_write(tags.set_immutable, repo.id, "frozen", True)
    names = ["a", "gone", "c", "frozen", "b"]
    assert db.run_write(tag_changes.prune_all, repo, names, None) == ["a", "c", "b"]
    assert _alive(db, repo) == ["frozen"]

    def entries(c: Db) -> dict[str, str]:
        rows = c.execute(select(LogEntry.metadata_json).where(LogEntry.kind == "autoprune_tag_delete"))
        found = [json.loads(r) for r in rows.scalars()]
        return {e["tag"]: e["manifest_digest"] for e in found}

    digests = db.run_read(manifests.digests_of, [image, other])
    assert db.run_read(entries) == {"a": digests[image], "b": digests[image], "c": digests[other]}
    # A repository made read-only meanwhile refuses the whole batch.
    _tag(db, repo, image, "d")
    db.run_write(repositories.set_state, repo, repositories.READ_ONLY, None)
    with pytest.raises(ReadOnly):
        db.run_write(tag_changes.prune_all, repo, ["d"], None)
    assert _alive(db, repo) == ["d", "frozen"]


def test_a_tag_moved_since_the_plan_is_left_alone(
    db: Database, repo: RepositoryRecord, image: int, clock: Clock
) -> None:
    _tag(db, repo, image, "old")
    clock.advance(8 * DAY_S)
    rule = retention_policies.check_prune("creation_date", "7d", None, True)
    plan = autoprune.Plan(
        autoprune.select_prunable(
            [rule], db.run_read(autoprune.alive_tags, repo.id, clock.now_ms()), clock.now_ms()
        )
    )
    assert [t.name for t in plan.prune] == ["old"]
    other = db.run_write(_manifest, repo, "two")
    db.run_write(tags.point, repo.id, "old", other)  # pushed again meanwhile
    assert db.run_write(autoprune.prune, repo, plan.prune, clock.now_ms()) == 0
    assert _alive(db, repo) == ["old"]


def test_an_immutability_policy_freezes_pushed_and_existing_tags(
    db: Database, repo: RepositoryRecord, image: int, clock: Clock
) -> None:
    _tag(db, repo, image, "v1", "latest")
    rule = retention_policies.check_freeze("^v[0-9]+$", True)
    db.run_write(retention_policies.create_freeze, Scope(repo.namespace_id, repo.namespace), rule, None)
    _tag(db, repo, image, "v2", "nightly")  # frozen as it lands
    prune = retention_policies.check_prune("number_of_tags", 1, None, True)
    db.run_write(retention_policies.create_prune, Scope.of(repo), prune, None)
    plan = db.run_read(autoprune.plan_for, repo, None, True, clock.now_ms())
    assert [t.name for t in plan.freeze] == ["v1"]  # v2 already is
    _run(db, repo, clock.now_ms())
    assert _alive(db, repo) == ["nightly", "v1", "v2"]

    def frozen(c: Db) -> list[str]:
        return sorted(t.name for t in autoprune.alive_tags(c, repo.id, clock.now_ms()) if t.immutable)

    assert db.run_read(frozen) == ["v1", "v2"]


def test_the_registry_default_applies_only_where_the_namespace_has_no_policy(
    db: Database, repo: RepositoryRecord, image: int, clock: Clock
) -> None:
    _tag(db, repo, image, "a")
    clock.advance(1)
    _tag(db, repo, image, "b")
    default = retention_policies.check_prune("number_of_tags", 1, None, True, policy_uuid="default")
    own = retention_policies.check_prune("number_of_tags", 5, None, True)
    db.run_write(retention_policies.create_prune, Scope(repo.namespace_id, repo.namespace), own, None)
    _run(db, repo, clock.now_ms(), default)
    assert _alive(db, repo) == ["a", "b"]
    everywhere = db.run_read(autoprune.targets, everywhere=True)
    assert [r.id for r in everywhere] == [repo.id]


def test_policies_go_with_their_repository(db: Database, repo: RepositoryRecord) -> None:
    rule = retention_policies.check_prune("number_of_tags", 3, None, True)
    db.run_write(retention_policies.create_prune, Scope.of(repo), rule, None)
    db.run_write(
        retention_policies.create_freeze, Scope.of(repo), retention_policies.check_freeze("^v", True), None
    )
    assert db.run_read(retention_policies.count) == 2
    db.run_write(repositories.delete_repo, repo, None)
    assert db.run_read(retention_policies.count) == 0
    again = db.run_write(repositories.create, "admin", "pruned", visibility="private", actor=None)
    assert db.run_read(retention_policies.prune_rules_for, again) == []

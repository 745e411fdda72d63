"""A page of a repository list (core/repositories.browse) on the real database: name order, the
filter, the total, paging past the end, one namespace, the starred ones; and the live tag counts
its rows show."""

from __future__ import annotations

import pytest
from sqlalchemy import ColumnElement, func, select

from tests.core import query_plans
from wharf.core import accounts, orgs, repositories, stars
from wharf.core.audit import Actor
from wharf.core.repositories import Listed
from wharf.db.engine import Database, Db
from wharf.db.models import Repository

BY = Actor(None, "owner")


@pytest.fixture
def filled(db: Database) -> dict[str, int]:
    """acme/app-000 .. acme/app-119 (every third public), acme/tool_x, beta/app-a, and a user
    `owner` (in acme's owners team) who starred two of them."""

    def fill(c: Db) -> dict[str, int]:
        owner = accounts.create_user(c, "owner", None, None)
        orgs.create(c, "acme", None, owner, BY)
        orgs.create(c, "beta", None, owner, BY)
        ids = {}
        for i in range(120):
            repo = repositories.create(
                c, "acme", f"app-{i:03}", visibility="public" if i % 3 == 0 else "private", actor=BY
            )
            ids[repo.full_name] = repo.id
        for ns, name in (("acme", "tool_x"), ("beta", "app-a")):
            ids[f"{ns}/{name}"] = repositories.create(c, ns, name, visibility="private", actor=BY).id
        stars.star(c, owner.id, ids["acme/app-005"])
        stars.star(c, owner.id, ids["beta/app-a"])
        ids["owner"] = owner.id
        return ids

    return db.run_write(fill)


def _browse(
    db: Database, visible: ColumnElement[bool] | None = None, **kw: object
) -> tuple[list[Listed], int, int]:
    args: dict[str, object] = {"visible": visible, "include_public": False, "offset": 0, "limit": 50, **kw}
    return db.run_read(lambda c: repositories.browse(c, **args))  # type: ignore[arg-type]


def test_a_page_is_in_name_order_with_the_total_of_all_that_match(
    db: Database, filled: dict[str, int]
) -> None:
    rows, total, offset = _browse(db)
    assert total == 122 and offset == 0 and len(rows) == 50
    assert [r.full_name for r in rows][:3] == ["acme/app-000", "acme/app-001", "acme/app-002"]
    second, _, offset = _browse(db, offset=50)
    assert offset == 50 and second[0].full_name == "acme/app-050"
    names = [r.full_name for r in rows + second + _browse(db, offset=100)[0]]
    assert names == sorted(names) and len(set(names)) == 122
    assert (rows[0].namespace, rows[0].name) == ("acme", "app-000")


def test_an_offset_past_the_end_reads_the_last_page(db: Database, filled: dict[str, int]) -> None:
    rows, total, offset = _browse(db, offset=5000)
    assert (total, offset, [r.full_name for r in rows]) == (
        122,
        100,
        [r.full_name for r in _browse(db, offset=100)[0]],
    )
    assert _browse(db, contains="nothing-like-this", offset=100) == ([], 0, 0)


def test_the_filter_matches_part_of_the_name_and_takes_like_characters_literally(
    db: Database, filled: dict[str, int]
) -> None:
    rows, total, _ = _browse(db, contains="APP-11")
    assert total == 10 and rows[0].full_name == "acme/app-110"
    # `_` is a character, not LIKE's wildcard: "tool_x" matches, "app_0" matches nothing
    assert [r.full_name for r in _browse(db, contains="l_x")[0]] == ["acme/tool_x"]
    assert _browse(db, contains="app_0")[1] == 0
    assert _browse(db, contains="%")[1] == 0
    # across namespaces the filter reads namespace/name: "beta/" finds the namespace
    assert [r.full_name for r in _browse(db, contains="beta/")[0]] == ["beta/app-a"]


def test_one_namespace_filters_on_the_name_only(db: Database, filled: dict[str, int]) -> None:
    rows, total, _ = _browse(db, namespace="acme", contains="app-00")
    assert total == 10 and rows[0].full_name == "acme/app-000"
    assert _browse(db, namespace="acme", contains="acme")[1] == 0
    assert _browse(db, namespace="beta")[1] == 1
    assert _browse(db, namespace="nobody")[1] == 0


def test_visibility_clauses_bound_the_rows_and_the_total(db: Database, filled: dict[str, int]) -> None:
    public_only = _browse(
        db, visible=Repository.visibility == "private", include_public=False, public_only=True
    )
    assert public_only[1] == 0
    rows, total, _ = _browse(
        db, visible=Repository.visibility == "private", include_public=True, public_only=True
    )
    assert total == 40 and all(r.visibility == "public" for r in rows)
    beta_only = Repository.full_name == "beta/app-a"
    assert _browse(db, visible=beta_only)[1] == 1
    assert _browse(db, visible=beta_only, include_public=True)[1] == 41


def test_starred_by_lists_what_the_account_starred(db: Database, filled: dict[str, int]) -> None:
    rows, total, _ = _browse(db, starred_by=filled["owner"])
    assert total == 2 and [r.full_name for r in rows] == ["acme/app-005", "beta/app-a"]


def test_a_row_reads_only_the_head_of_a_long_description(db: Database, filled: dict[str, int]) -> None:
    repo = db.run_read(repositories.get, "beta", "app-a")
    assert repo is not None
    db.run_write(repositories.set_description, repo, "First line\n" + "x" * 100_000, BY)
    head = _browse(db, namespace="beta")[0][0].description_head
    assert head is not None and head.startswith("First line\n") and len(head) == repositories.DESCRIPTION_HEAD


def test_live_tag_counts_of_repositories_without_tags_are_absent(
    db: Database, filled: dict[str, int]
) -> None:
    assert db.run_read(repositories.live_tag_counts, [filled["acme/app-000"]]) == {}
    assert db.run_read(repositories.live_tag_counts, []) == {}


def test_the_public_list_is_read_from_its_index(db: Database, filled: dict[str, int]) -> None:
    """What an anonymous visitor lists (the public repositories, in name order) is counted and
    paged from ix_repositories_visibility_full_name (migration 0024), not by reading every
    repository: the public clause is said once, whether it came as `visible` or as the Public scope."""
    public = Repository.visibility == "public"
    found, total, _ = _browse(db, visible=public, include_public=True)
    assert total == 40 and all(r.visibility == "public" for r in found)

    def plans(c: Db) -> list[str]:
        out = []
        for where in (repositories._readable(public, True), repositories._readable(None, False) & public):
            page = select(Repository.id).where(where).order_by(Repository.full_name).offset(20).limit(10)
            out += [
                query_plans.plan(c, page),
                query_plans.plan(c, select(func.count()).select_from(Repository).where(where)),
            ]
        return out

    for found_plan in db.run_write(plans):
        assert "ix_repositories_visibility_full_name" in found_plan and not query_plans.sorts(found_plan), (
            found_plan
        )

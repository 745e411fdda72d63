"""The Tag history tab's pages (core/history_pages.py) on the real database: every lifetime newest
first, filtered by prefix or glob, with the total, pages past the end, hidden tags left out, and
a plan that reads the repository's rows by index."""

from __future__ import annotations

from sqlalchemy import func, select, text, update

from tests.conftest import Clock
from tests.core import query_plans
from tests.core.test_tags import _manifest
from wharf.core import history_pages, repositories, tags
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Database, Db
from wharf.db.models import Tag


def _history(db: Database, clock: Clock) -> tuple[RepositoryRecord, RepositoryRecord]:
    """`hist`: v1 on a, then moved to b, then deleted; v2 on a; rc-1 on b; `other`: v1 on a."""
    repo = db.run_write(repositories.create, "admin", "hist", visibility="private", actor=None)
    other = db.run_write(repositories.create, "admin", "other", visibility="private", actor=None)
    a = db.run_write(_manifest, repo, "a")
    b = db.run_write(_manifest, repo, "b")
    for name, manifest in (("v1", a), ("v1", b), ("v2", a), ("rc-1", b)):
        db.run_write(tags.point, repo.id, name, manifest)
        clock.advance(1)
    db.run_write(tags.remove, repo.id, "v1")
    db.run_write(tags.point, other.id, "v1", db.run_write(_manifest, other, "a"))
    return repo, other


def test_newest_first_with_the_total_and_a_filter(db: Database, clock: Clock) -> None:
    repo, _ = _history(db, clock)
    found = db.run_read(history_pages.page, repo.id)
    assert [(e.name, e.alive) for e in found.rows] == [
        ("rc-1", True),
        ("v2", True),
        ("v1", False),
        ("v1", False),
    ]
    assert found.total == 4 and found.pages == 1 and (found.first, found.last) == (1, 4)
    assert found.rows[2].end_ms is not None and found.rows[0].end_ms is None
    assert [e.name for e in db.run_read(history_pages.page, repo.id, pattern="v").rows] == ["v2", "v1", "v1"]
    assert db.run_read(history_pages.page, repo.id, pattern="v1").total == 2
    assert [e.name for e in db.run_read(history_pages.page, repo.id, pattern="*-?").rows] == ["rc-1"]
    assert db.run_read(history_pages.page, repo.id, pattern="V").total == 0  # case-sensitive


def test_pages_of_ten_and_a_page_past_the_end(db: Database, clock: Clock) -> None:
    repo = db.run_write(repositories.create, "admin", "long", visibility="private", actor=None)
    m = db.run_write(_manifest, repo, "a")
    for i in range(25):
        db.run_write(tags.point, repo.id, f"t{i:02d}", m)
        clock.advance(1)
    second = db.run_read(history_pages.page, repo.id, page=2, per_page=10)
    assert [e.name for e in second.rows] == [f"t{i:02d}" for i in range(14, 4, -1)]
    assert (second.total, second.pages, second.first, second.last) == (25, 3, 11, 20)
    past = db.run_read(history_pages.page, repo.id, page=99, per_page=10)
    assert past.page == 3 and [e.name for e in past.rows] == ["t04", "t03", "t02", "t01", "t00"]


def test_hidden_tags_are_left_out(db: Database, clock: Clock) -> None:
    repo, _ = _history(db, clock)

    def hide(c: Db) -> None:
        c.execute(update(Tag).where(Tag.repository_id == repo.id, Tag.name == "v2").values(hidden=True))

    db.run_write(hide)
    assert "v2" not in [e.name for e in db.run_read(history_pages.page, repo.id).rows]
    assert db.run_read(history_pages.page, repo.id).total == 3


def test_the_page_reads_the_repository_by_index(db: Database, clock: Clock) -> None:
    """Count and page ids from the repository's rows of an index on (repository_id, name, ...),
    never a scan of every repository's tags."""
    repo, _ = _history(db, clock)

    def plans(c: Db) -> dict[str, str]:
        out = {}
        for pattern in ("", "v1", "*-?"):
            where = history_pages._where(c, repo.id, pattern)
            query = select(Tag.id).where(*where).order_by(Tag.lifetime_start_ms.desc()).limit(50).offset(100)
            compiled = query.compile(c, compile_kwargs={"literal_binds": True})
            prefix = "EXPLAIN QUERY PLAN " if c.dialect.name == "sqlite" else "EXPLAIN "
            if c.dialect.name != "sqlite":
                c.execute(text("SET LOCAL enable_seqscan = off"))
            rows = c.execute(text(prefix + str(compiled))).all()
            out[pattern] = "\n".join(str(r[-1]) for r in rows)
        return out

    for key, plan in db.run_write(plans).items():
        assert "Seq Scan" not in plan and "SCAN tags" not in plan.replace("SCAN tags USING", ""), (key, plan)


def test_the_unfiltered_history_is_read_in_order_from_its_index(db: Database, clock: Clock) -> None:
    """A repository with 100,000 lifetimes: the newest-first page at any offset and the count come
    from ix_tags_repository_start (migration 0024), walked in the page's order, with no sort of
    the repository's rows."""
    repo, _ = _history(db, clock)

    def plans(c: Db) -> tuple[str, str]:
        where = history_pages._where(c, repo.id, "")
        ids = select(Tag.id).where(*where).order_by(Tag.lifetime_start_ms.desc(), Tag.id.desc())
        count = select(func.count()).select_from(Tag).where(*where)
        return query_plans.plan(c, ids.limit(50).offset(5000)), query_plans.plan(c, count)

    page_plan, count_plan = db.run_write(plans)
    assert "ix_tags_repository_start" in page_plan and not query_plans.sorts(page_plan), page_plan
    if db.dialect == "sqlite":  # PostgreSQL counts by whichever index its statistics prefer
        assert "COVERING INDEX ix_tags_repository_start" in count_plan, count_plan

"""The Tags tab's pages (core/tag_pages.py) on the real database: filter by prefix or glob (with
`%` and `_` taken literally), sort by name, last change and size, totals, stable pages, rows with
platforms and labels, and query plans that read the live-tag indexes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from tests.conftest import Clock
from tests.core.test_tags import OCI_MANIFEST, _manifest
from wharf.core import labels, manifests, repositories, tag_pages, tags
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Database, Db
from wharf.db.models import Tag
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest

NAMES = ["v1", "v1.0", "v1.0.1", "v10", "v1-rc", "v1_x", "V1", "v1x", "v2", "_v", "latest"]


@pytest.fixture
def repo(db: Database) -> RepositoryRecord:
    return db.run_write(repositories.create, "admin", "paged", visibility="private", actor=None)


def _tag_all(db: Database, repo: RepositoryRecord, names: list[str], clock: Clock) -> dict[str, int]:
    """Each name on its own image (content = name, so sizes grow with the name's length), one
    second apart in the order given."""
    ids = {}
    for name in names:
        ids[name] = db.run_write(_manifest, repo, name)
        db.run_write(tags.point, repo.id, name, ids[name])
        clock.advance(1)
    return ids


def _names(
    db: Database,
    repo: RepositoryRecord,
    *,
    pattern: str = "",
    sort: tag_pages.Sort = "name",
    descending: bool = False,
) -> list[str]:
    found = db.run_read(tag_pages.page, repo.id, pattern=pattern, sort=sort, descending=descending)
    return [r.name for r in found.rows]


def test_filter_by_prefix_and_glob_case_sensitive_with_literal_percent_and_underscore(
    db: Database, repo: RepositoryRecord, clock: Clock
) -> None:
    _tag_all(db, repo, NAMES, clock)
    every = sorted(NAMES)
    assert _names(db, repo) == every
    assert db.run_read(tag_pages.count, repo.id) == len(NAMES)
    # a prefix: byte order, case-sensitive (V1 is not v1)
    assert _names(db, repo, pattern="v1") == [n for n in every if n.startswith("v1")]
    assert _names(db, repo, pattern="V") == ["V1"]
    assert _names(db, repo, pattern="v1.0") == ["v1.0", "v1.0.1"]
    # `_` and `%` are literal characters, not LIKE's wildcards
    assert _names(db, repo, pattern="v1_") == ["v1_x"]
    assert _names(db, repo, pattern="_") == ["_v"]
    assert _names(db, repo, pattern="%") == []
    assert _names(db, repo, pattern="v%") == []
    assert _names(db, repo, pattern="v1\\") == []
    assert _names(db, repo, pattern="[v]1") == []
    # globs are anchored at both ends
    assert _names(db, repo, pattern="v1?") == ["v10", "v1x"]
    assert _names(db, repo, pattern="*x") == ["v1_x", "v1x"]
    assert _names(db, repo, pattern="*.*") == ["v1.0", "v1.0.1"]
    assert _names(db, repo, pattern="v?_*") == ["v1_x"]
    assert _names(db, repo, pattern="*") == every
    assert db.run_read(tag_pages.count, repo.id, "v1*") == 7


def test_sorts_totals_and_stable_pages(db: Database, repo: RepositoryRecord, clock: Clock) -> None:
    _tag_all(db, repo, NAMES, clock)
    every = sorted(NAMES)
    assert _names(db, repo, descending=True) == every[::-1]
    assert _names(db, repo, sort="modified", descending=True) == NAMES[::-1]
    assert _names(db, repo, sort="modified") == NAMES
    # size: the config and the layer hold the name, so a longer name is a bigger image
    by_size = _names(db, repo, sort="size")
    sizes = [len(n) for n in by_size]
    assert sizes == sorted(sizes)
    assert [len(n) for n in _names(db, repo, sort="size", descending=True)] == sorted(sizes, reverse=True)
    # pages of 10 (the smallest) walk the whole in order, each with the total
    first = db.run_read(tag_pages.page, repo.id, per_page=10)
    second = db.run_read(tag_pages.page, repo.id, per_page=10, page=2)
    assert (first.total, first.pages, first.page, len(first.rows)) == (11, 2, 1, 10)
    assert (second.page, [r.name for r in second.rows]) == (2, every[10:])
    assert [r.name for r in first.rows + second.rows] == every
    # a page past the end is the last one; before the start, the first
    assert db.run_read(tag_pages.page, repo.id, per_page=10, page=99).page == 2
    assert db.run_read(tag_pages.page, repo.id, per_page=10, page=-3).page == 1
    # per_page is kept within 10..100
    assert db.run_read(tag_pages.page, repo.id, per_page=1000).per_page == 100
    empty = db.run_read(tag_pages.page, repo.id, pattern="nothing")
    assert (empty.total, empty.pages, empty.rows) == (0, 1, [])


def test_only_live_visible_unexpired_tags_are_listed(
    db: Database, repo: RepositoryRecord, clock: Clock
) -> None:
    ids = _tag_all(db, repo, ["a", "b", "c", "d"], clock)
    db.run_write(tags.remove, repo.id, "b")
    db.run_write(tags.set_expiration, repo.id, "c", clock.now_ms() + 5_000)
    db.run_write(tags.point, repo.id, "a", ids["d"])  # moved: one live row, the old one ended

    def hide(c: Db) -> None:
        c.execute(text("UPDATE tags SET hidden = :t WHERE name = 'd'"), {"t": True})

    db.run_write(hide)
    assert _names(db, repo) == ["a", "c"]
    clock.advance(6)
    assert _names(db, repo) == ["a"]
    row = db.run_read(tag_pages.one, repo.id, "a")
    assert row is not None and row.manifest_digest == db.run_read(_digest, ids["d"])
    assert db.run_read(tag_pages.one, repo.id, "b") is None


def _digest(c: Db, manifest_id: int) -> str:
    return str(c.execute(manifests.digest_of(manifest_id)).scalar_one())


def test_rows_carry_platforms_of_an_index_and_labels(
    db: Database, repo: RepositoryRecord, clock: Clock
) -> None:
    ids = _tag_all(db, repo, ["amd", "arm"], clock)
    children = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": db.run_read(_digest, ids[name]),
            "size": 10,
            "platform": platform,
        }
        for name, platform in (
            ("amd", {"os": "linux", "architecture": "amd64"}),
            ("arm", {"os": "linux", "architecture": "arm64", "variant": "v8"}),
            ("amd", {"os": "unknown", "architecture": "unknown"}),
        )
    ]
    body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": children}).encode()

    def put_index(c: Db) -> int:
        parsed = manifests.parse(body, mt.OCI_INDEX)
        return manifests.put(c, repo, str(Digest.of(body)), body, parsed, None).id

    index_id = db.run_write(put_index)
    db.run_write(tags.point, repo.id, "multi", index_id)
    for i in range(7):
        db.run_write(labels.add, ids["amd"], f"k{i}", f"value {i}", None)
    rows = {r.name: r for r in db.run_read(tag_pages.page, repo.id).rows}
    multi = rows["multi"]
    assert multi.is_index and multi.size is None
    assert multi.platforms == ["linux/amd64", "linux/arm64/v8"]
    assert rows["amd"].labels == [(f"k{i}", f"value {i}") for i in range(5)] and rows["amd"].more_labels == 2
    assert rows["arm"].labels == [] and rows["arm"].platforms == []
    # an index sorts last by size, in either order
    assert _names(db, repo, sort="size")[-1] == "multi"
    assert _names(db, repo, sort="size", descending=True)[-1] == "multi"


def test_a_page_reads_the_live_tag_indexes(db: Database, repo: RepositoryRecord, clock: Clock) -> None:
    """The count and the page's ids come from ix_tags_live_names (by name) and
    ix_tags_live_modified (by last change), not from a scan of the table."""
    _tag_all(db, repo, NAMES, clock)

    def plans(c: Db) -> dict[str, str]:
        out = {}
        sorts: tuple[tag_pages.Sort, ...] = ("name", "modified")
        for sort in sorts:
            for pattern in ("", "v1", "v*x"):
                where = tag_pages._where(c, repo.id, pattern, 0)
                order = tag_pages._order(sort, True)
                query = select(Tag.id).where(*where).order_by(*order).limit(50).offset(100)
                compiled = query.compile(c, compile_kwargs={"literal_binds": True})
                prefix = "EXPLAIN QUERY PLAN " if c.dialect.name == "sqlite" else "EXPLAIN "
                if c.dialect.name != "sqlite":
                    c.execute(text("SET LOCAL enable_seqscan = off"))
                rows = c.execute(text(prefix + str(compiled))).all()
                out[f"{sort}:{pattern}"] = "\n".join(str(r[-1]) for r in rows)
        return out

    sqlite = db.dialect == "sqlite"
    for key, plan in db.run_write(plans).items():
        assert "Seq Scan" not in plan and "SCAN tags" not in plan.replace("SCAN tags USING", ""), (key, plan)
        if not sqlite:
            # PostgreSQL picks among the partial live-tag indexes by its statistics: any of them
            # (uq_tags_live holds repository_id and name too) reads only live tags.
            assert "uq_tags_live" in plan or "ix_tags_live_" in plan, (key, plan)
            if key == "name:v1":  # the prefix is a range of the index, not a filter of every row
                assert "Index Cond" in plan and ">= 'v1'" in plan, plan
        elif key.startswith("modified:v"):
            # a name filter with a sort by time: either live-tag index serves
            assert "ix_tags_live_" in plan, (key, plan)
        else:
            wanted = "ix_tags_live_modified" if key.startswith("modified:") else "ix_tags_live_names"
            assert wanted in plan and "TEMP B-TREE" not in plan, (key, plan)

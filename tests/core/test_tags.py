"""Tags and their history (core/tags.py) on the real database: every move, removal, expiry and
restore is a lifetime row, so the history tells what a tag pointed at and when. The clock is
moved, never waited for."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest

from tests.conftest import DB_BACKEND, Clock
from wharf.core import _sql, blobs, manifests, repositories, tags
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, ManifestNotFound, NotFound, TagImmutable
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Database, Db
from wharf.oci.digest import Digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DAY_MS = 86_400_000


def _manifest(db: Db, repo: RepositoryRecord, content: str) -> int:
    """An image manifest with one layer, stored through core as a push stores it; its id."""
    config, layer = f'{{"content":"{content}"}}'.encode(), content.encode()
    for data in (config, layer):
        blob = blobs.register(db, str(Digest.of(data)), len(data))
        blobs.link(db, repo.id, blob.id)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(Digest.of(config)),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": str(Digest.of(layer)),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    record = manifests.put(db, repo, str(Digest.of(body)), body, manifests.parse(body, OCI_MANIFEST), None)
    return record.id


@pytest.fixture
def repo(db: Database) -> RepositoryRecord:
    return db.run_write(repositories.create, "admin", "tagged", visibility="private", actor=None)


@pytest.fixture
def images(db: Database, repo: RepositoryRecord) -> tuple[int, int]:
    return db.run_write(_manifest, repo, "one"), db.run_write(_manifest, repo, "two")


def _history(db: Database, repo: RepositoryRecord, name: str) -> list[tags.TagLifetime]:
    return db.run_read(tags.history, repo.id, only_alive=False, name=name)


def test_moving_a_tag_ends_one_lifetime_and_starts_the_next(
    db: Database, repo: RepositoryRecord, images: tuple[int, int], clock: Clock
) -> None:
    one, two = images
    assert db.run_write(tags.point, repo.id, "latest", one) is True
    assert db.run_write(tags.point, repo.id, "latest", one) is False  # already there
    clock.advance(10)
    assert db.run_write(tags.point, repo.id, "latest", two) is True
    newest, oldest = _history(db, repo, "latest")
    assert (newest.alive, newest.end_ms) == (True, None)
    assert oldest.alive is False and oldest.end_ms == newest.start_ms
    assert newest.start_ms - oldest.start_ms >= 10_000
    assert newest.manifest_digest != oldest.manifest_digest
    assert len(db.run_read(tags.list_names, repo.id, after=None, limit=10)) == 1
    assert db.run_read(tags.list_names, repo.id, after=None, limit=10) == ["latest"]


def test_removed_tags_stay_in_history_and_can_be_restored_within_the_window(
    db: Database, repo: RepositoryRecord, images: tuple[int, int], clock: Clock
) -> None:
    one, two = images
    db.run_write(tags.point, repo.id, "v1", one)
    assert db.run_write(tags.remove, repo.id, "v1") == one
    with pytest.raises(ManifestNotFound):
        db.run_write(tags.remove, repo.id, "v1")
    assert db.run_read(tags.list_names, repo.id, after=None, limit=10) == []
    assert [t.alive for t in _history(db, repo, "v1")] == [False]
    # within the window, the tag comes back as a reversion; a manifest it never had does not
    with pytest.raises(NotFound):
        db.run_write(tags.restore, repo.id, "v1", two, DAY_MS)
    db.run_write(tags.restore, repo.id, "v1", one, DAY_MS)
    restored, _removed = _history(db, repo, "v1")
    assert restored.alive and restored.reversion
    # a lifetime that ended longer ago than the window cannot be restored
    db.run_write(tags.point, repo.id, "v1", two)
    clock.advance(2 * DAY_MS / 1000)
    db.run_write(tags.remove, repo.id, "v1")
    with pytest.raises(NotFound):
        db.run_write(tags.restore, repo.id, "v1", one, DAY_MS)


def test_an_expiry_ends_the_tag_when_the_clock_passes_it(
    db: Database, repo: RepositoryRecord, images: tuple[int, int], clock: Clock
) -> None:
    one, _ = images
    db.run_write(tags.point, repo.id, "short", one)
    with pytest.raises(InvalidInput):  # in the past
        db.run_write(tags.set_expiration, repo.id, "short", clock.now_ms() - 1)
    expires = clock.now_ms() + 60_000
    assert db.run_write(tags.set_expiration, repo.id, "short", expires) == one
    assert len(db.run_read(tags.list_names, repo.id, after=None, limit=10)) == 1
    clock.advance(61)
    # gone for every reader at once, though its row is still open ...
    assert len(db.run_read(tags.list_names, repo.id, after=None, limit=10)) == 0
    [lifetime] = _history(db, repo, "short")
    assert (lifetime.alive, lifetime.end_ms, lifetime.expires_ms) == (False, expires, expires)
    # ... until the periodic sweep closes it at its expiry, not at the sweep's time
    assert db.run_write(tags.end_expired, clock.now_ms()) == 1
    assert db.run_write(tags.end_expired, clock.now_ms()) == 0
    [lifetime] = _history(db, repo, "short")
    assert lifetime.end_ms == expires
    # pushing the name again starts a new lifetime
    db.run_write(tags.point, repo.id, "short", one)
    assert [t.alive for t in _history(db, repo, "short")] == [True, False]


def test_an_immutable_tag_cannot_be_moved_removed_or_expired(
    db: Database, repo: RepositoryRecord, images: tuple[int, int]
) -> None:
    one, two = images
    db.run_write(tags.point, repo.id, "stable", one)
    db.run_write(tags.set_immutable, repo.id, "stable", True)
    for change in (
        lambda c: tags.point(c, repo.id, "stable", two),
        lambda c: tags.remove(c, repo.id, "stable"),
        lambda c: tags.set_expiration(c, repo.id, "stable", 2**50),
        lambda c: tags.remove_all_for(c, repo.id, one),
    ):
        with pytest.raises(TagImmutable):
            db.run_write(change)
    [lifetime] = _history(db, repo, "stable")
    assert lifetime.alive and lifetime.immutable
    db.run_write(tags.set_immutable, repo.id, "stable", False)
    assert db.run_write(tags.remove_all_for, repo.id, one) == ["stable"]


def test_forgetting_removes_past_lifetimes_only(
    db: Database, repo: RepositoryRecord, images: tuple[int, int]
) -> None:
    one, two = images
    db.run_write(tags.point, repo.id, "v", one)
    db.run_write(tags.point, repo.id, "v", two)
    db.run_write(tags.point, repo.id, "v", one)
    assert len(_history(db, repo, "v")) == 3
    assert db.run_write(tags.forget, repo.id, "v", one, include_alive=False) == 1  # the first one
    assert [t.alive for t in _history(db, repo, "v")] == [True, False]
    assert db.run_write(tags.forget, repo.id, "v", one, include_alive=True) == 1  # ended, then forgotten
    assert [t.alive for t in _history(db, repo, "v")] == [False]
    with pytest.raises(NotFound):
        db.run_write(tags.restore, repo.id, "v", one, DAY_MS)


# Names that share prefixes, with every separator the tag grammar allows and both cases, created in
# an order that is not theirs: a page comes out in byte order on both databases.
PREFIXED = ["v1", "v1.0", "v1.0.1", "v10", "v1-rc", "v1_x", "V1", "v1.0-beta", "v2", "_v", "1", "A"]


def test_a_page_of_names_is_read_in_byte_order(
    db: Database, repo: RepositoryRecord, images: tuple[int, int]
) -> None:
    """`list_names` reads a page as one string (an aggregate over the ordered page): the same
    names, in the same order, as reading the page row by row, for every page size and start."""
    for name in PREFIXED:
        db.run_write(tags.point, repo.id, name, images[0])
    db.run_write(tags.point, repo.id, "gone", images[0])
    db.run_write(tags.remove, repo.id, "gone")
    every = sorted(PREFIXED)

    def row_by_row(c: Db, after: str | None, limit: int) -> list[str]:
        params = {"repo": repo.id, "after": after or "", "limit": limit, "now": now_ms()}
        return _sql.column(c, tags._NAMES, params)

    assert db.run_read(tags.list_names, repo.id, after=None, limit=100) == every
    for limit in (0, 1, 2, 5, len(every), 1001):
        for after in (None, "", "v1", "v1.", "V", "v1z", "~", *every):
            expected = [t for t in every if after is None or t > after][:limit]
            assert db.run_read(tags.list_names, repo.id, after=after, limit=limit) == expected, (after, limit)
            assert db.run_read(row_by_row, after, limit) == expected, (after, limit)


def test_a_name_with_the_separator_is_still_listed_whole(
    db: Database, repo: RepositoryRecord, images: tuple[int, int]
) -> None:
    """The tag grammar has no comma, but a page never splits a name that holds one: the count of
    the aggregate tells, and the page is then read row by row."""
    for name in ("a,b", "c", ",", "d,"):
        db.run_write(tags.point, repo.id, name, images[0])
    assert db.run_read(tags.list_names, repo.id, after=None, limit=10) == sorted(["a,b", "c", ",", "d,"])
    assert db.run_read(tags.list_names, repo.id, after="a,b", limit=1) == ["c"]


def test_a_page_of_names_reads_the_covering_index_in_order(db: Database, repo: RepositoryRecord) -> None:
    """The page is read from `ix_tags_live_names` in its order, with no sort: on SQLite that is
    what keeps the aggregate's order (it has no ORDER BY inside an aggregate before 3.44); on
    PostgreSQL the aggregate's own ORDER BY keeps it, and the page is still read in index order."""
    params = {"repo": repo.id, "after": "", "limit": 1001, "now": 0}

    def plan(c: Db) -> list[str]:
        if c.dialect.name == "sqlite":
            statement = tags._NAMES_JOINED_SQLITE.compile(dialect=c.dialect)
            values = {**statement.params, **params}
            rows = c.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", tuple(values[p] for p in statement.positiontup or ())
            )
            return [row[-1] for row in rows]
        # An empty table is scanned, whatever its indexes: ask for the plan a large one gets.
        c.exec_driver_sql("SET enable_seqscan = off")
        try:
            statement = tags._NAMES_JOINED.compile(dialect=c.dialect)
            return [row[0] for row in c.exec_driver_sql(f"EXPLAIN {statement}", params)]
        finally:
            c.exec_driver_sql("RESET enable_seqscan")

    steps = db.run_read(plan)
    if DB_BACKEND == "sqlite":
        assert any(s.startswith("SEARCH tags USING INDEX ix_tags_live_names") for s in steps), steps
        assert not [s for s in steps if "TEMP B-TREE" in s or s.startswith("SCAN tags")], steps
    else:
        # In name order from a live-tag index: the covering one on a large table (index-only
        # once VACUUM has set the visibility map); on a table this small the planner may take
        # `uq_tags_live` (repository_id, name), in the same order.
        scans = [s.strip() for s in steps if "Index" in s and "Scan using" in s]
        assert scans and all(("ix_tags_live_names" in s or "uq_tags_live" in s) for s in scans), steps
        # the only sort is the aggregate's own ORDER BY, over the page (no Sort node under Limit)
        assert not [s for s in steps if s.strip().startswith("->  Sort")], steps


def _version(db: Database, repo: RepositoryRecord) -> int:
    statement, params = repositories.listed_lookup("admin", repo.name, None)
    found = repositories.looked_up(db.run_read(_sql.first, statement, params))
    assert found.repository == repo
    return int(found.rest[0])


def test_every_change_of_a_live_tag_moves_the_repository_tags_version(
    db: Database, repo: RepositoryRecord, images: tuple[int, int], clock: Clock
) -> None:
    """What a kept page of tags/list is checked against (core/tag_list_cache.py): the database
    moves it in the transaction of each change (migration 0045's triggers), whichever function
    makes it; removing lifetimes that had already ended does not."""
    one, two = images
    changes: list[Callable[[], object]] = [
        lambda: db.run_write(tags.point, repo.id, "v1", one),  # a new tag
        lambda: db.run_write(tags.point, repo.id, "v1", two),  # moved
        lambda: db.run_write(tags.set_expiration, repo.id, "v1", now_ms() + DAY_MS),
        lambda: db.run_write(tags.set_expiration, repo.id, "v1", None),
        lambda: db.run_write(tags.set_immutable, repo.id, "v1", True),
        lambda: db.run_write(tags.set_immutable, repo.id, "v1", False),
        lambda: db.run_write(tags.remove, repo.id, "v1"),
        lambda: db.run_write(tags.restore, repo.id, "v1", two, DAY_MS),
        lambda: db.run_write(tags.forget, repo.id, "v1", two, include_alive=True),
        lambda: db.run_write(tags.point, repo.id, "v2", one),
        lambda: db.run_write(tags.remove_all_for, repo.id, one),
    ]
    seen = [_version(db, repo)]
    for change in changes:
        change()
        seen.append(_version(db, repo))
    assert all(after > before for before, after in itertools.pairwise(seen)), seen
    # Only ended lifetimes left: the time machine forgetting them changes no listing.
    db.run_write(tags.point, repo.id, "v3", one)
    db.run_write(tags.remove, repo.id, "v3")
    before = _version(db, repo)
    assert db.run_write(tags.forget, repo.id, "v3", one, include_alive=False) == 1
    assert _version(db, repo) == before
    other = db.run_write(repositories.create, "admin", "other", visibility="private", actor=None)
    others = _version(db, other)
    db.run_write(tags.point, repo.id, "v4", one)
    assert _version(db, other) == others  # a repository's own tags only

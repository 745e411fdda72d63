"""Pull statistics (core/pull_stats.py, and the audit buffer that feeds them) on the real database:
counters add up across batches and across concurrent writers, keep the latest time, skip pulls of a
repository deleted before its batch, and ride on the log entries' batch or go alone."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import func, select, text

from tests.conftest import Clock
from tests.core.test_tags import _manifest
from wharf.core import pull_stats, repositories, tag_pages, tags
from wharf.core.audit_buffer import AuditBuffer
from wharf.core.pull_stats import Counter, PullStats
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Database, Db
from wharf.db.models import LogEntry, RepositoryPullStatistics, TagPullStatistics


@pytest.fixture
def repo(db: Database) -> RepositoryRecord:
    return db.run_write(repositories.create, "admin", "stats", visibility="private", actor=None)


def _counter(*pulls: tuple[int, str | None, str, int]) -> Counter:
    c = Counter()
    for repository_id, tag, digest, at_ms in pulls:
        c.add((repository_id, tag, digest), at_ms)
    return c


def test_batches_add_up_and_keep_the_latest_time(db: Database, repo: RepositoryRecord) -> None:
    r = repo.id
    # one batch: v1 twice and by digest once (all the same manifest), v2 once
    db.run_write(
        pull_stats.write,
        _counter((r, "v1", "sha256:a", 1000), (r, "v1", "sha256:a", 3000), (r, None, "sha256:a", 2000)),
    )
    db.run_write(pull_stats.write, _counter((r, "v2", "sha256:b", 1500)))
    assert db.run_read(pull_stats.of_tag, r, "v1") == PullStats(2, 3000)
    assert db.run_read(pull_stats.of_manifest, r, "sha256:a") == PullStats(3, 3000)
    assert db.run_read(pull_stats.of_repositories, [r]) == {r: PullStats(4, 3000)}
    # a later batch adds; an older time (another node's slower batch) does not move the last pull back
    db.run_write(pull_stats.write, _counter((r, "v1", "sha256:a", 500)))
    assert db.run_read(pull_stats.of_tag, r, "v1") == PullStats(3, 3000)
    assert db.run_read(pull_stats.of_repositories, [r]) == {r: PullStats(5, 3000)}
    # never pulled: absent from the maps, zero for one
    assert db.run_read(pull_stats.of_tags, r, ["v1", "v9"]) == {"v1": PullStats(3, 3000)}
    assert db.run_read(pull_stats.of_tag, r, "v9") == pull_stats.NEVER
    assert db.run_read(pull_stats.of_manifest, r, "sha256:c") == pull_stats.NEVER


def test_a_deleted_repository_s_pulls_are_skipped_not_failed(db: Database, repo: RepositoryRecord) -> None:
    other = db.run_write(repositories.create, "admin", "gone", visibility="private", actor=None)
    db.run_write(repositories.delete_repo, other, None)
    db.run_write(pull_stats.write, _counter((other.id, "v1", "sha256:a", 1), (repo.id, "v1", "sha256:a", 2)))
    assert db.run_read(pull_stats.of_repositories, [repo.id, other.id]) == {repo.id: PullStats(1, 2)}
    # the counters go with their repository
    db.run_write(repositories.delete_repo, repo, None)
    assert db.run_read(pull_stats.of_repositories, [repo.id]) == {}


def test_concurrent_writers_lose_no_pull(db: Database, repo: RepositoryRecord) -> None:
    """Several processes (here: engines of their own, in threads) write batches for the same
    counters at once; every pull is counted once."""
    writers, batches = 4, 10
    engines = [Database(db.uri, pool_size=1) for _ in range(writers)]
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def run(engine: Database, n: int) -> None:
        try:
            start.wait()
            for b in range(batches):
                c = _counter(
                    (repo.id, "v1", "sha256:a", n * 100 + b),
                    (repo.id, "v2", "sha256:b", n * 100 + b),
                    (repo.id, "v1", "sha256:a", n * 100 + b),
                )
                engine.run_write(pull_stats.write, c)
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(e, n)) for n, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert errors == []
    last = (writers - 1) * 100 + batches - 1
    assert db.run_read(pull_stats.of_tags, repo.id, ["v1", "v2"]) == {
        "v1": PullStats(2 * writers * batches, last),
        "v2": PullStats(writers * batches, last),
    }
    assert db.run_read(pull_stats.of_repositories, [repo.id]) == {
        repo.id: PullStats(3 * writers * batches, last)
    }


def _log_count(db: Database) -> int:
    return int(db.run_read(lambda c: c.execute(select(func.count()).select_from(LogEntry)).scalar_one()))


def test_the_buffer_writes_counters_with_its_log_entries_or_alone(
    db: Database, repo: RepositoryRecord, clock: Clock
) -> None:
    async def run() -> None:
        buffer = AuditBuffer(db)
        # with pull log entries: the entry and the counter in one batch
        buffer.pulled(repo.id, "v1", "sha256:a")
        buffer.add("pull_repo", None, "10.0.0.1", namespace_id=repo.namespace_id, repository_id=repo.id)
        assert buffer.pending == 2
        assert await buffer.flush() == 1
        # without (ACTION_LOG_PULLS off): a batch of counters alone
        buffer.pulled(repo.id, "v1", "sha256:a")
        buffer.pulled(repo.id, None, "sha256:a")
        assert buffer.pending == 2
        assert await buffer.flush() == 0
        assert buffer.pending == 0

    entries = _log_count(db)
    asyncio.run(run())
    assert _log_count(db) == entries + 1
    assert db.run_read(pull_stats.of_tag, repo.id, "v1").count == 2
    assert db.run_read(pull_stats.of_manifest, repo.id, "sha256:a").count == 3


def test_tags_tab_rows_carry_their_pulls(db: Database, repo: RepositoryRecord, clock: Clock) -> None:
    for name in ("a", "b"):
        db.run_write(tags.point, repo.id, name, db.run_write(_manifest, repo, name))
    at = clock.now_ms()
    db.run_write(pull_stats.write, _counter((repo.id, "b", "sha256:x", at)))
    rows = {r.name: r for r in db.run_read(tag_pages.page, repo.id).rows}
    assert (rows["a"].pulls, rows["a"].last_pulled_ms) == (0, None)
    assert (rows["b"].pulls, rows["b"].last_pulled_ms) == (1, at)
    one = db.run_read(tag_pages.one, repo.id, "b")
    assert one is not None and one.pulls == 1
    report = db.run_read(pull_stats.tag_report, repo.id, "b")
    assert report is not None and report.tag == PullStats(1, at)
    assert db.run_read(pull_stats.tag_report, repo.id, "nope") is None
    assert db.run_read(pull_stats.manifest_report, repo.id, "sha256:x") is None
    assert db.run_read(pull_stats.manifest_report, repo.id, report.manifest_digest) == pull_stats.NEVER


def test_the_page_s_counters_are_read_by_their_primary_keys(db: Database, repo: RepositoryRecord) -> None:
    """A Tags tab page of a repository with many counters joins only its own rows' counters: the
    lookups read the primary keys, never a scan of the counter tables."""
    db.run_write(pull_stats.write, _counter(*((repo.id, f"t{i}", f"sha256:{i}", i) for i in range(200))))

    def plans(c: Db) -> list[str]:
        t, r = TagPullStatistics, RepositoryPullStatistics
        queries = [
            select(t.tag_name, t.pull_count).where(t.repository_id == repo.id, t.tag_name.in_(["t1", "t7"])),
            select(r.repository_id, r.pull_count).where(r.repository_id.in_([repo.id, repo.id + 1])),
        ]
        sqlite = c.dialect.name == "sqlite"
        if not sqlite:
            c.execute(text("SET LOCAL enable_seqscan = off"))
        out = []
        for q in queries:
            compiled = q.compile(c, compile_kwargs={"literal_binds": True})
            rows = c.execute(text(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + str(compiled))).all()
            out.append("\n".join(str(row[-1]) for row in rows))
        return out

    for plan in db.run_write(plans):
        assert "Seq Scan" not in plan and "SCAN " not in plan, plan
        assert "PRIMARY KEY" in plan or "sqlite_autoindex" in plan or "pk_" in plan, plan

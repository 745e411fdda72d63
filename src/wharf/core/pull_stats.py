"""Pull statistics: how often, and when last, a repository, a tag name and a manifest were pulled.

A pull writes nothing. The audit buffer (core/audit_buffer.py) counts pulls in memory, one
dictionary entry per (repository, tag, manifest) seen since its last batch, and adds the counters
to the database in the transaction that writes its batch of log entries, or alone when pull log
entries are off (ACTION_LOG_PULLS). Each counter row is an UPSERT that adds the batch's count to
the stored one, so batches of several processes or nodes add up whatever their order; the rows of
a batch are written in key order, so two batches on PostgreSQL lock them in the same order and
cannot deadlock. A repository deleted before its pulls' batch is written is skipped (its counter
rows went with it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from wharf.core import manifests
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import ManifestPullStatistics, RepositoryPullStatistics, TagPullStatistics

Key = tuple[int, str | None, str]
"""(repository id, tag name or None for a pull by digest, manifest digest)"""


@dataclass(frozen=True, slots=True)
class PullStats:
    count: int
    last_ms: int | None
    """None when never pulled (count 0)."""


NEVER = PullStats(0, None)


class Counter:
    """Pulls not yet written: per key, how many and the latest time. Plain lists, because this runs
    on the event loop for every pull."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[Key, list[int]] = {}

    def add(self, key: Key, at_ms: int, n: int = 1) -> None:
        seen = self.counts.get(key)
        if seen is None:
            self.counts[key] = [n, at_ms]
        else:
            seen[0] += n
            if at_ms > seen[1]:
                seen[1] = at_ms

    def merge(self, other: Counter) -> None:
        """Take back the counts of a batch that could not be written."""
        for key, (n, at_ms) in other.counts.items():
            self.add(key, at_ms, n)

    def __len__(self) -> int:
        return len(self.counts)


def _sum(into: dict[tuple[int, str], list[int]], key: tuple[int, str], n: int, at_ms: int) -> None:
    seen = into.setdefault(key, [0, at_ms])
    seen[0] += n
    seen[1] = max(seen[1], at_ms)


def _upsert(table: str, key: str, mark: str) -> str:
    """Add a batch's count to a counter row, creating it, if its repository still exists. The
    SELECT's WHERE also keeps SQLite from reading ON CONFLICT as a join's ON."""
    columns = f"repository_id, {key}, " if key else "repository_id, "
    values = f"{mark}, " if key else ""
    conflict = f"repository_id, {key}" if key else "repository_id"
    return (
        f"INSERT INTO {table} ({columns}pull_count, last_pull_ms) "
        f"SELECT r.id, {values}{mark}, {mark} FROM repositories r WHERE r.id = {mark} "
        f"ON CONFLICT ({conflict}) DO UPDATE SET "
        f"pull_count = {table}.pull_count + excluded.pull_count, "
        f"last_pull_ms = CASE WHEN excluded.last_pull_ms > {table}.last_pull_ms "
        f"THEN excluded.last_pull_ms ELSE {table}.last_pull_ms END"
    )


def write(db: Db, counter: Counter) -> None:
    """Add the counted pulls to the stored counters (in the caller's transaction)."""
    if not counter.counts:
        return
    repos: dict[tuple[int, str], list[int]] = {}
    tags: dict[tuple[int, str], list[int]] = {}
    digests: dict[tuple[int, str], list[int]] = {}
    for (repository_id, tag, digest), (n, at_ms) in counter.counts.items():
        _sum(repos, (repository_id, ""), n, at_ms)
        _sum(digests, (repository_id, digest), n, at_ms)
        if tag is not None:
            _sum(tags, (repository_id, tag), n, at_ms)
    mark = "?" if db.dialect.paramstyle == "qmark" else "%s"
    # The driver's own executemany, as for the log entries: one round trip per table.
    db.exec_driver_sql(
        _upsert("repository_pull_statistics", "", mark),
        [(n, at, r) for (r, _), (n, at) in sorted(repos.items())],
    )
    for table, column, rows in (
        ("tag_pull_statistics", "tag_name", tags),
        ("manifest_pull_statistics", "manifest_digest", digests),
    ):
        if rows:
            db.exec_driver_sql(
                _upsert(table, column, mark),
                [(k, n, at, r) for (r, k), (n, at) in sorted(rows.items())],
            )


# --- reading ---------------------------------------------------------------------------------------


def of_repositories(db: Db, ids: Iterable[int]) -> dict[int, PullStats]:
    """The pull statistics of these repositories (those never pulled are absent): one primary-key
    lookup per id."""
    wanted = list(ids)
    if not wanted:
        return {}
    t = RepositoryPullStatistics
    rows = db.execute(
        select(t.repository_id, t.pull_count, t.last_pull_ms).where(t.repository_id.in_(wanted))
    )
    return {r.repository_id: PullStats(int(r.pull_count), int(r.last_pull_ms)) for r in rows}


def of_tags(db: Db, repository_id: int, names: Iterable[str]) -> dict[str, PullStats]:
    """The pull statistics of these tag names of a repository (those never pulled are absent)."""
    wanted = list(names)
    if not wanted:
        return {}
    t = TagPullStatistics
    rows = db.execute(
        select(t.tag_name, t.pull_count, t.last_pull_ms).where(
            t.repository_id == repository_id, t.tag_name.in_(wanted)
        )
    )
    return {r.tag_name: PullStats(int(r.pull_count), int(r.last_pull_ms)) for r in rows}


def of_tag(db: Db, repository_id: int, name: str) -> PullStats:
    return of_tags(db, repository_id, [name]).get(name, NEVER)


def of_manifest(db: Db, repository_id: int, digest: str) -> PullStats:
    t = ManifestPullStatistics
    row = db.execute(
        select(t.pull_count, t.last_pull_ms).where(
            t.repository_id == repository_id, t.manifest_digest == digest
        )
    ).first()
    return PullStats(int(row.pull_count), int(row.last_pull_ms)) if row else NEVER


@dataclass(frozen=True, slots=True)
class TagReport:
    """A live tag's pulls, with those of the manifest it points at now (by tag and by digest)."""

    name: str
    manifest_digest: str
    tag: PullStats
    manifest: PullStats


def tag_report(db: Db, repository_id: int, name: str) -> TagReport | None:
    """The pull statistics of the live tag `name`, or None when there is no such tag."""
    digest = db.execute(manifests.alive_tag_digest(repository_id, name, now_ms())).scalar()
    if digest is None:
        return None
    return TagReport(name, digest, of_tag(db, repository_id, name), of_manifest(db, repository_id, digest))


def manifest_report(db: Db, repository_id: int, digest: str) -> PullStats | None:
    """The pull statistics of a manifest of the repository, or None when it has no such manifest."""
    if db.execute(manifests.id_by_digest(repository_id, digest)).first() is None:
        return None
    return of_manifest(db, repository_id, digest)

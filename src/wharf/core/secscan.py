"""The tables of security scanning (issue 16): per-digest indexes and the packages they found, the
vulnerability store (OSV records and their `affected` entries), and the matches between them.

Everything here takes and returns plain values: reading layers, comparing versions and rating
severities is `wharf.secscan`'s, which the services and jobs above call; this module only keeps
what they found. Indexes are per manifest digest, so an image pushed to many repositories is
indexed once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import delete, func, insert, or_, select, tuple_, update

from wharf.core import queue, secscan_notices
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import (
    Job,
    Manifest,
    SecscanAffected,
    SecscanIndex,
    SecscanMatch,
    SecscanPackage,
    SecscanSource,
    SecscanVulnerability,
)

INDEX_QUEUE: Final = "secscan_index"
BACKFILL_QUEUE: Final = "secscan_backfill"

QUEUED: Final = "queued"
SCANNED: Final = "scanned"
FAILED: Final = "failed"
UNSUPPORTED: Final = "unsupported"

_ALIVE = Manifest.deleted_ms.is_(None)
# SQLite allows 32766 bound parameters a statement; keys are pairs, so stay well below.
_CHUNK = 500


def enqueue_index(db: Db, digest: str) -> None:
    """Queue the indexing of a manifest digest: one insert, deduplicated while it waits, so a
    push pays for nothing more."""
    queue.enqueue(db, INDEX_QUEUE, {"digest": digest}, dedupe_key=f"{INDEX_QUEUE}:{digest}")


# Indexes -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexRecord:
    digest: str
    status: str
    indexer_version: int
    reason: str | None
    distribution: dict[str, str] | None
    created_ms: int
    indexed_ms: int
    attempts: int = 0
    """Failures for a passing reason in a row (0 once it succeeds or fails for good)."""
    retry_after_ms: int | None = None
    """When the backfill queues a failed index again; None when no retry is left or due."""


@dataclass(frozen=True, slots=True)
class PackageRow:
    """A package as an index stores it (see SecscanPackage for the fields' meaning)."""

    name: str
    version: str
    version_format: str
    ecosystem: str
    match_name: str
    namespace: str
    added_by: str
    source_name: str = ""
    source_version: str = ""
    arch: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class StoredPackage:
    id: int
    manifest_digest: str
    package: PackageRow


def get_index(db: Db, digest: str) -> IndexRecord | None:
    row = db.execute(select(SecscanIndex.__table__).where(SecscanIndex.digest == digest)).first()
    if row is None:
        return None
    return IndexRecord(
        row.digest,
        row.status,
        row.indexer_version,
        row.reason,
        json.loads(row.distribution_json) if row.distribution_json else None,
        row.created_ms,
        row.indexed_ms,
        row.attempts,
        row.retry_after_ms,
    )


def manifest_content(db: Db, digest: str) -> tuple[str, bytes] | None:
    """(media type, body) of a live manifest with this digest in any repository, or None when no
    repository holds it any more."""
    row = db.execute(
        select(Manifest.media_type, Manifest.content).where(Manifest.digest == digest, _ALIVE).limit(1)
    ).first()
    return None if row is None else (str(row.media_type), bytes(row.content))


def record_index(
    db: Db,
    digest: str,
    status: str,
    indexer_version: int,
    *,
    reason: str | None = None,
    distribution: dict[str, str] | None = None,
    packages: Sequence[PackageRow] = (),
    attempts: int = 0,
    retry_in_ms: int | None = None,
) -> list[StoredPackage]:
    """Store what indexing `digest` found, replacing any earlier index of it (and its packages and
    matches). Returns the packages stored, with their ids, for matching. `attempts` and
    `retry_in_ms` (from now) are a passing failure's (see `IndexRecord`)."""
    now = now_ms()
    earlier = db.execute(select(SecscanIndex.created_ms).where(SecscanIndex.digest == digest)).scalar()
    db.execute(delete(SecscanMatch).where(SecscanMatch.manifest_digest == digest))
    db.execute(delete(SecscanPackage).where(SecscanPackage.manifest_digest == digest))
    db.execute(delete(SecscanIndex).where(SecscanIndex.digest == digest))
    db.execute(
        insert(SecscanIndex).values(
            digest=digest,
            status=status,
            indexer_version=indexer_version,
            reason=reason,
            distribution_json=json.dumps(distribution) if distribution else None,
            created_ms=earlier if earlier is not None else now,
            indexed_ms=now,
            attempts=attempts,
            retry_after_ms=None if retry_in_ms is None else now + retry_in_ms,
        )
    )
    if not packages:
        return []
    rows = [{"manifest_digest": digest, **_package_values(p)} for p in packages]
    db.execute(insert(SecscanPackage), rows)
    return packages_of(db, digest)


def _package_values(p: PackageRow) -> dict[str, Any]:
    return {
        "name": p.name,
        "version": p.version,
        "version_format": p.version_format,
        "ecosystem": p.ecosystem,
        "match_name": p.match_name,
        "namespace": p.namespace,
        "added_by": p.added_by,
        "source_name": p.source_name,
        "source_version": p.source_version,
        "arch": p.arch,
        "path": p.path,
    }


def _stored(row: Any) -> StoredPackage:
    return StoredPackage(
        row.id,
        row.manifest_digest,
        PackageRow(
            row.name,
            row.version,
            row.version_format,
            row.ecosystem,
            row.match_name,
            row.namespace,
            row.added_by,
            row.source_name,
            row.source_version,
            row.arch,
            row.path,
        ),
    )


def packages_of(db: Db, digest: str) -> list[StoredPackage]:
    """An index's packages, in the order the indexer found them."""
    rows = db.execute(
        select(SecscanPackage.__table__)
        .where(SecscanPackage.manifest_digest == digest)
        .order_by(SecscanPackage.id)
    )
    return [_stored(r) for r in rows]


def packages_named(db: Db, keys: Iterable[tuple[str, str]]) -> list[StoredPackage]:
    """Every stored package (of any index) whose (ecosystem, match_name) is among `keys`."""
    found: list[StoredPackage] = []
    for chunk in _chunks(sorted(set(keys))):
        rows = db.execute(
            select(SecscanPackage.__table__)
            .where(tuple_(SecscanPackage.ecosystem, SecscanPackage.match_name).in_(chunk))
            .order_by(SecscanPackage.id)
        )
        found += [_stored(r) for r in rows]
    return found


def digests_to_index(db: Db, indexer_version: int, limit: int) -> list[str]:
    """Live manifest digests with no index, one made by an older indexer, or a failed one whose
    retry is due: the backfill's work."""
    retry_due = SecscanIndex.retry_after_ms <= now_ms()
    rows = db.execute(
        select(Manifest.digest)
        .outerjoin(SecscanIndex, SecscanIndex.digest == Manifest.digest)
        .where(
            _ALIVE,
            or_(
                SecscanIndex.digest.is_(None),
                SecscanIndex.indexer_version < indexer_version,
                retry_due,
            ),
        )
        .group_by(Manifest.digest)
        .order_by(Manifest.digest)
        .limit(limit)
    ).scalars()
    return [str(d) for d in rows]


def prune(db: Db, limit: int) -> int:
    """Drop up to `limit` indexes of digests no repository holds any more (garbage collection
    removed their last manifest row), with their packages and matches. Returns how many."""
    held = select(Manifest.id).where(Manifest.digest == SecscanIndex.digest).exists()
    gone = [str(d) for d in db.execute(select(SecscanIndex.digest).where(~held).limit(limit)).scalars()]
    for digest in gone:
        forget_index(db, digest)
    secscan_notices.forget(db, gone)
    return len(gone)


def rescan(db: Db, repository_id: int, digest: str | None = None) -> list[str]:
    """Drop the indexes of a repository's live manifests (or of one of them) and queue them
    again; returns the digests queued (none when the repository holds no such manifest)."""
    query = select(Manifest.digest).where(Manifest.repository_id == repository_id, _ALIVE)
    if digest is not None:
        query = query.where(Manifest.digest == digest)
    digests = sorted({str(d) for d in db.execute(query).scalars()})
    for d in digests:
        forget_index(db, d)
        enqueue_index(db, d)
    return digests


def forget_index(db: Db, digest: str) -> bool:
    """Drop an index (and its packages and matches), so that the digest is indexed again."""
    db.execute(delete(SecscanMatch).where(SecscanMatch.manifest_digest == digest))
    db.execute(delete(SecscanPackage).where(SecscanPackage.manifest_digest == digest))
    return db.execute(delete(SecscanIndex).where(SecscanIndex.digest == digest)).rowcount == 1


# The vulnerability store -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AffectedRow:
    ecosystem: str
    package: str
    """Normalized as `PackageRow.match_name` is."""
    affected: dict[str, Any]
    """The OSV `affected` entry itself (ranges, versions, specific fields)."""


@dataclass(frozen=True, slots=True)
class VulnerabilityRow:
    osv_id: str
    modified: str
    severity: str
    source: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    links: tuple[str, ...] = ()
    score: float | None = None
    vector: str | None = None
    affected: tuple[AffectedRow, ...] = ()


def modified_of(db: Db, osv_ids: Sequence[str]) -> dict[str, str]:
    """OSV id -> `modified` of the records the store already has, among `osv_ids`."""
    found: dict[str, str] = {}
    for chunk in _chunks(list(osv_ids)):
        rows = db.execute(
            select(SecscanVulnerability.osv_id, SecscanVulnerability.modified).where(
                SecscanVulnerability.osv_id.in_(chunk)
            )
        )
        found.update({str(r.osv_id): str(r.modified) for r in rows})
    return found


def store_vulnerability(db: Db, v: VulnerabilityRow) -> set[tuple[str, str]]:
    """Insert or replace one record. Returns the (ecosystem, package) keys whose matches may have
    changed: those it named before and those it names now."""
    values = {
        "aliases_json": json.dumps(list(v.aliases)),
        "summary": v.summary,
        "details": v.details,
        "links_json": json.dumps(list(v.links)),
        "severity": v.severity,
        "score": v.score,
        "vector": v.vector,
        "modified": v.modified,
        "source": v.source,
        "imported_ms": now_ms(),
    }
    existing = db.execute(
        select(SecscanVulnerability.id).where(SecscanVulnerability.osv_id == v.osv_id)
    ).scalar()
    keys: set[tuple[str, str]] = set()
    if existing is None:
        inserted = insert(SecscanVulnerability).values(osv_id=v.osv_id, **values)
        vuln_id = int(db.execute(inserted.returning(SecscanVulnerability.id)).scalar_one())
    else:
        vuln_id = int(existing)
        db.execute(update(SecscanVulnerability).where(SecscanVulnerability.id == vuln_id).values(**values))
        before = db.execute(
            select(SecscanAffected.ecosystem, SecscanAffected.package).where(
                SecscanAffected.vulnerability_id == vuln_id
            )
        )
        keys |= {(str(r.ecosystem), str(r.package)) for r in before}
        db.execute(delete(SecscanAffected).where(SecscanAffected.vulnerability_id == vuln_id))
    if v.affected:
        db.execute(
            insert(SecscanAffected),
            [
                {
                    "vulnerability_id": vuln_id,
                    "ecosystem": a.ecosystem,
                    "package": a.package,
                    "affected_json": json.dumps(a.affected),
                }
                for a in v.affected
            ],
        )
    keys |= {(a.ecosystem, a.package) for a in v.affected}
    return keys


@dataclass(frozen=True, slots=True)
class Advisory:
    """An `affected` entry with the id of its record, as matching reads them."""

    vulnerability_id: int
    ecosystem: str
    package: str
    affected: dict[str, Any]


def advisories_for(db: Db, keys: Iterable[tuple[str, str]]) -> list[Advisory]:
    """The `affected` entries naming any of the (ecosystem, package) `keys`."""
    found: list[Advisory] = []
    for chunk in _chunks(sorted(set(keys))):
        rows = db.execute(
            select(
                SecscanAffected.vulnerability_id,
                SecscanAffected.ecosystem,
                SecscanAffected.package,
                SecscanAffected.affected_json,
            )
            .where(tuple_(SecscanAffected.ecosystem, SecscanAffected.package).in_(chunk))
            .order_by(SecscanAffected.id)
        )
        found += [
            Advisory(int(r.vulnerability_id), str(r.ecosystem), str(r.package), json.loads(r.affected_json))
            for r in rows
        ]
    return found


@dataclass(frozen=True, slots=True)
class MatchRow:
    package_id: int
    vulnerability_id: int
    manifest_digest: str
    fixed_by: str = ""


def replace_matches(db: Db, package_ids: Sequence[int], matches: Sequence[MatchRow]) -> None:
    """Set the matches of `package_ids` to exactly `matches` (a re-match of those packages)."""
    for chunk in _chunks(list(package_ids)):
        db.execute(delete(SecscanMatch).where(SecscanMatch.package_id.in_(chunk)))
    if matches:
        db.execute(
            insert(SecscanMatch),
            [
                {
                    "package_id": m.package_id,
                    "vulnerability_id": m.vulnerability_id,
                    "manifest_digest": m.manifest_digest,
                    "fixed_by": m.fixed_by,
                }
                for m in matches
            ],
        )


# Sources -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceRecord:
    url: str
    etag: str | None
    last_modified: str | None
    last_attempt_ms: int
    last_success_ms: int | None
    last_error: str | None
    imported: int


def get_source(db: Db, url: str) -> SourceRecord | None:
    row = db.execute(select(SecscanSource.__table__).where(SecscanSource.url == url)).first()
    return None if row is None else _source(row)


def sources(db: Db) -> list[SourceRecord]:
    return [_source(r) for r in db.execute(select(SecscanSource.__table__).order_by(SecscanSource.url))]


def _source(row: Any) -> SourceRecord:
    return SourceRecord(
        row.url,
        row.etag,
        row.last_modified,
        row.last_attempt_ms,
        row.last_success_ms,
        row.last_error,
        row.imported,
    )


def record_source(
    db: Db,
    url: str,
    *,
    error: str | None = None,
    imported: int = 0,
    etag: str | None = None,
    last_modified: str | None = None,
) -> None:
    """Record an update of a source: a success (error None) keeps the validators the download
    answered with, for the next conditional request; a failure keeps the earlier ones."""
    now = now_ms()
    values: dict[str, Any] = {"last_attempt_ms": now, "last_error": error}
    if error is None:
        values |= {"last_success_ms": now, "imported": imported, "etag": etag, "last_modified": last_modified}
    if db.execute(update(SecscanSource).where(SecscanSource.url == url).values(**values)).rowcount == 0:
        db.execute(insert(SecscanSource).values(url=url, **{"imported": 0, **values}))


# Reading a report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FoundVulnerability:
    package_id: int
    osv_id: str
    aliases: tuple[str, ...]
    summary: str
    details: str
    links: tuple[str, ...]
    severity: str
    score: float | None
    vector: str | None
    source: str
    fixed_by: str
    ecosystem: str


@dataclass(frozen=True, slots=True)
class Report:
    index: IndexRecord
    packages: list[StoredPackage]
    vulnerabilities: dict[int, list[FoundVulnerability]]
    """Package id -> the vulnerabilities that affect it, by OSV id."""


def report(db: Db, digest: str) -> Report | None:
    """An index with its packages and their vulnerabilities; None when the digest has no index."""
    index = get_index(db, digest)
    if index is None:
        return None
    packages = packages_of(db, digest)
    rows = db.execute(
        select(
            SecscanMatch.package_id,
            SecscanMatch.fixed_by,
            SecscanPackage.ecosystem,
            *SecscanVulnerability.__table__.c,
        )
        .join(SecscanVulnerability, SecscanVulnerability.id == SecscanMatch.vulnerability_id)
        .join(SecscanPackage, SecscanPackage.id == SecscanMatch.package_id)
        .where(SecscanMatch.manifest_digest == digest)
        .order_by(SecscanMatch.package_id, SecscanVulnerability.osv_id)
    )
    found: dict[int, list[FoundVulnerability]] = {}
    for v in rows:
        found.setdefault(int(v.package_id), []).append(
            FoundVulnerability(
                int(v.package_id),
                v.osv_id,
                tuple(json.loads(v.aliases_json)),
                v.summary,
                v.details,
                tuple(json.loads(v.links_json)),
                v.severity,
                v.score,
                v.vector,
                v.source,
                str(v.fixed_by),
                str(v.ecosystem),
            )
        )
    return Report(index, packages, found)


@dataclass(frozen=True, slots=True)
class Status:
    indexes: dict[str, int]
    """Status -> how many digests."""
    waiting: int
    """Index jobs queued."""
    vulnerabilities: int
    newest_modified: str | None
    matches: int


def status(db: Db) -> Status:
    by_status = db.execute(select(SecscanIndex.status, func.count()).group_by(SecscanIndex.status))
    waiting = db.execute(select(func.count()).select_from(Job).where(Job.queue == INDEX_QUEUE)).scalar()
    vulns, newest = db.execute(
        select(func.count(), func.max(SecscanVulnerability.modified)).select_from(SecscanVulnerability)
    ).one()
    matches = db.execute(select(func.count()).select_from(SecscanMatch)).scalar()
    return Status(
        {str(s): int(n) for s, n in by_status},
        int(waiting or 0),
        int(vulns or 0),
        str(newest) if newest else None,
        int(matches or 0),
    )


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]

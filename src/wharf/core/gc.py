"""Garbage collection: expired tags, then manifests nothing reaches, then blobs nothing references.

How it stays safe against concurrent pushes (docs/garbage-collection.md explains it at length):

- A repository is swept under an exclusive lock that every manifest PUT takes in shared form, so
  the sweep sees each committed manifest's references and never races a push's checks.
- Manifests and repository-blob links younger than GC_GRACE_PERIOD_S are spared: an image's blobs
  and child manifests are pushed before the manifest or index that references them.
- A blob row is deleted together with a `blob_deletions` marker, the file afterwards, the marker
  last. An upload that completes the same digest meanwhile waits for the marker to go, then copies
  its bytes into place again, so a published blob never loses its file.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import BigInteger, and_, cast, delete, exists, func, insert, select

from wharf.core import quotas
from wharf.core._sql import lock
from wharf.core.orphans import OrphanReport
from wharf.core.tags import end_expired
from wharf.db.engine import Db
from wharf.db.models import (
    Account,
    Blob,
    BlobDeletion,
    Manifest,
    ManifestBlob,
    ManifestChild,
    Repository,
    RepositoryBlob,
    Tag,
)

log = logging.getLogger("wharf.gc")


@dataclass
class Report:
    dry_run: bool = False
    tags_expired: int = 0
    tag_lifetimes_removed: int = 0
    manifests_removed: int = 0
    links_removed: int = 0
    blobs_removed: int = 0
    bytes_freed: int = 0
    squashed_removed: int = 0
    """Cached squashed downloads of manifests that are gone."""
    removed_digests: list[str] = field(default_factory=list)
    """Blob digests whose files are (or, in a dry run, would be) deleted."""
    orphans: OrphanReport | None = None
    """What the sweep of storage for orphans removed, when this run included one."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add_expiry(self, tags_expired: int, lifetimes_removed: int) -> None:
        self.tags_expired += tags_expired
        self.tag_lifetimes_removed += lifetimes_removed

    def add_sweep(self, manifests_removed: int, links_removed: int) -> None:
        self.manifests_removed += manifests_removed
        self.links_removed += links_removed


def expire_tags(db: Db, now: int, default_window_ms: int) -> tuple[int, int]:
    """Close tags whose expiry passed, then drop lifetimes older than their namespace's window;
    returns (tags expired, lifetimes removed). Counts are returned, not added to a Report here:
    a write that is retried would count twice."""
    expired = end_expired(db, now)
    window_ms = func.coalesce(cast(Account.tag_expiration_s, BigInteger) * 1000, default_window_ms)
    too_old = (
        select(Tag.id)
        .join(Repository, Repository.id == Tag.repository_id)
        .join(Account, Account.id == Repository.namespace_id)
        .where(Tag.lifetime_end_ms.is_not(None), Tag.lifetime_end_ms < now - window_ms)
    )
    return expired, int(db.execute(delete(Tag).where(Tag.id.in_(too_old))).rowcount)


def repository_ids(db: Db) -> list[int]:
    return [r.id for r in db.execute(select(Repository.id).order_by(Repository.id))]


def sweep_repository(db: Db, repository_id: int, now: int, grace_ms: int) -> tuple[int, int]:
    """Remove the repository's manifests that nothing reaches and links that nothing uses;
    returns (manifests removed, links removed)."""
    manifests_removed = 0
    lock(db, "repository-gc", repository_id)
    rows = db.execute(
        select(Manifest.id, Manifest.digest, Manifest.subject_digest, Manifest.created_ms).where(
            Manifest.repository_id == repository_id
        )
    ).all()
    if rows:
        tagged = {
            r.manifest_id
            for r in db.execute(select(Tag.manifest_id).where(Tag.repository_id == repository_id).distinct())
        }
        roots = tagged | {r.id for r in rows if r.created_ms > now - grace_ms}
        ids = [r.id for r in rows]
        children: dict[int, list[int]] = {}
        for edge in db.execute(
            select(ManifestChild.manifest_id, ManifestChild.child_id).where(
                ManifestChild.manifest_id.in_(ids)
            )
        ):
            children.setdefault(edge.manifest_id, []).append(edge.child_id)
        by_digest = {r.digest: r.id for r in rows}
        referrers: dict[int, list[int]] = {}
        for r in rows:
            if r.subject_digest and r.subject_digest in by_digest:
                referrers.setdefault(by_digest[r.subject_digest], []).append(r.id)
        reachable: set[int] = set()
        pending = [m for m in roots if m in set(ids)]
        while pending:
            m = pending.pop()
            if m in reachable:
                continue
            reachable.add(m)
            pending.extend(children.get(m, ()))
            pending.extend(referrers.get(m, ()))
        garbage = [m for m in ids if m not in reachable]
        if garbage:
            quotas.release_manifests(db, repository_id, garbage)  # in this transaction: never drifts
            # Parents before children: an index's child rows reference the manifests below it.
            db.execute(delete(ManifestChild).where(ManifestChild.manifest_id.in_(garbage)))
            db.execute(delete(Manifest).where(Manifest.id.in_(garbage)))
            manifests_removed = len(garbage)
    used = (
        select(ManifestBlob.blob_id)
        .join(Manifest, Manifest.id == ManifestBlob.manifest_id)
        .where(Manifest.repository_id == repository_id)
    )
    unused_links = delete(RepositoryBlob).where(
        RepositoryBlob.repository_id == repository_id,
        RepositoryBlob.created_ms < now - grace_ms,
        RepositoryBlob.blob_id.not_in(used),
    )
    return manifests_removed, int(db.execute(unused_links).rowcount)


_UNREFERENCED = and_(
    ~exists().where(RepositoryBlob.blob_id == Blob.id),
    ~exists().where(ManifestBlob.blob_id == Blob.id),
)


def unreferenced_blobs(db: Db, limit: int) -> list[tuple[int, str, int]]:
    rows = db.execute(select(Blob.id, Blob.digest, Blob.size).where(_UNREFERENCED).limit(limit))
    return [(r.id, r.digest, r.size) for r in rows]


def mark_for_deletion(db: Db, blob_id: int, digest: str, now: int) -> bool:
    """Delete the blob's row and leave the deletion marker, if it is still unreferenced."""
    lock(db, "blob", digest)
    deleted = db.execute(delete(Blob).where(Blob.id == blob_id, _UNREFERENCED)).rowcount
    if not deleted:
        return False
    db.execute(delete(BlobDeletion).where(BlobDeletion.digest == digest))
    db.execute(insert(BlobDeletion).values(digest=digest, started_ms=now))
    return True


def manifests_exist(db: Db, digests: list[str]) -> set[str]:
    """Which of these manifest digests some repository still holds."""
    if not digests:
        return set()
    rows = db.execute(select(Manifest.digest).where(Manifest.digest.in_(digests)).distinct())
    return {r.digest for r in rows}


def pending_deletions(db: Db, started_before: int) -> list[str]:
    """Digests whose deletion began before `started_before` and never finished (its deleter died)."""
    rows = db.execute(select(BlobDeletion.digest).where(BlobDeletion.started_ms < started_before))
    return [r.digest for r in rows]


def clear_deletion(db: Db, digest: str) -> None:
    db.execute(delete(BlobDeletion).where(BlobDeletion.digest == digest))


def plan(db: Db, now: int, default_window_ms: int, grace_ms: int, batch: int = 100_000) -> Report:
    """Everything one collection would remove, computed by doing it; the caller rolls it back."""
    report = Report(dry_run=True)
    report.add_expiry(*expire_tags(db, now, default_window_ms))
    for repository_id in repository_ids(db):
        report.add_sweep(*sweep_repository(db, repository_id, now, grace_ms))
    for _blob_id, digest, size in unreferenced_blobs(db, batch):
        report.blobs_removed += 1
        report.bytes_freed += size
        report.removed_digests.append(digest)
    return report

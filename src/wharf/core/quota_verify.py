"""The stored sizes checked against a full recomputation, and corrected (`wharf admin quota verify`).

The incremental accounting of core/quotas.py is right as long as every change goes through it; a
node still on older code during a rolling upgrade, or a hand-edited database, can make it drift.
This recomputes one namespace from the manifests themselves and compares everything accounting
keeps: both reference counts and both totals. With `fix`, the namespace's rows are rewritten from
the recomputation under the same locks pushes and garbage collection take, so no push is lost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from wharf.core._sql import lock
from wharf.db.engine import Db
from wharf.db.models import (
    Account,
    Blob,
    Manifest,
    ManifestBlob,
    QuotaNamespaceBlob,
    QuotaNamespaceSize,
    QuotaRepositoryBlob,
    QuotaRepositorySize,
    Repository,
)


@dataclass(frozen=True, slots=True)
class Drift:
    kind: str
    """"repository" or "namespace"."""
    name: str
    stored_bytes: int
    actual_bytes: int
    references_differ: bool
    """The per-blob reference counts differ (future changes would drift even if the total is right)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Truth:
    repo_blobs: dict[tuple[int, int], tuple[int, int]]
    """(repository, blob) -> (refs, size)"""
    ns_blobs: dict[int, tuple[int, int]]
    """blob -> (repositories holding it, size)"""


def namespace_ids(db: Db) -> list[tuple[int, str]]:
    rows = db.execute(
        select(Account.id, Account.name).where(Account.kind.in_(("user", "org"))).order_by(Account.name)
    )
    return [(r.id, r.name) for r in rows]


def _truth(db: Db, namespace_id: int) -> _Truth:
    rows = db.execute(
        select(Manifest.repository_id, ManifestBlob.blob_id, func.count(), func.max(Blob.size))
        .join(ManifestBlob, ManifestBlob.manifest_id == Manifest.id)
        .join(Blob, Blob.id == ManifestBlob.blob_id)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(Repository.namespace_id == namespace_id, Manifest.deleted_ms.is_(None))
        .group_by(Manifest.repository_id, ManifestBlob.blob_id)
    ).all()
    repo_blobs = {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}
    holders: dict[int, int] = defaultdict(int)
    sizes: dict[int, int] = {}
    for (_repo, blob), (_refs, size) in repo_blobs.items():
        holders[blob] += 1
        sizes[blob] = size
    return _Truth(repo_blobs, {b: (n, sizes[b]) for b, n in holders.items()})


def _stored(db: Db, namespace_id: int, repo_ids: list[int]) -> _Truth:
    repo_rows = db.execute(
        select(
            QuotaRepositoryBlob.repository_id,
            QuotaRepositoryBlob.blob_id,
            QuotaRepositoryBlob.refs,
            QuotaRepositoryBlob.size,
        ).where(QuotaRepositoryBlob.repository_id.in_(repo_ids))
    ).all()
    ns_rows = db.execute(
        select(QuotaNamespaceBlob.blob_id, QuotaNamespaceBlob.refs, QuotaNamespaceBlob.size).where(
            QuotaNamespaceBlob.namespace_id == namespace_id
        )
    ).all()
    return _Truth(
        {(r[0], r[1]): (int(r[2]), int(r[3])) for r in repo_rows},
        {r[0]: (int(r[1]), int(r[2])) for r in ns_rows},
    )


def check_namespace(db: Db, namespace_id: int, namespace: str, *, fix: bool) -> list[Drift]:
    """What differs in one namespace (empty when nothing does); with `fix`, corrected."""
    repos = {
        r.id: r.name
        for r in db.execute(
            select(Repository.id, Repository.name)
            .where(Repository.namespace_id == namespace_id)
            .order_by(Repository.id)
        )
    }
    ids = list(repos)
    if fix:  # what pushes (shared) and GC (exclusive) take, in the same order
        for repository_id in ids:
            lock(db, "repository-gc", repository_id)
        lock(db, "quota-namespace", namespace_id)
    truth, stored = _truth(db, namespace_id), _stored(db, namespace_id, ids)
    stored_repo_sizes = {
        r[0]: int(r[1])
        for r in db.execute(
            select(QuotaRepositorySize.repository_id, QuotaRepositorySize.size_bytes).where(
                QuotaRepositorySize.repository_id.in_(ids)
            )
        )
    }
    stored_ns = db.execute(
        select(QuotaNamespaceSize.size_bytes).where(QuotaNamespaceSize.namespace_id == namespace_id)
    ).scalar()
    drifts = _compare(namespace, repos, truth, stored, stored_repo_sizes, int(stored_ns or 0))
    if fix and drifts:
        _rewrite(db, namespace_id, ids, truth)
    return drifts


def _compare(
    namespace: str,
    repos: dict[int, str],
    truth: _Truth,
    stored: _Truth,
    stored_repo_sizes: dict[int, int],
    stored_ns: int,
) -> list[Drift]:
    drifts = []
    for repository_id, name in repos.items():
        actual_rows = {k: v for k, v in truth.repo_blobs.items() if k[0] == repository_id}
        stored_rows = {k: v for k, v in stored.repo_blobs.items() if k[0] == repository_id and v[0] > 0}
        actual = sum(size for _refs, size in actual_rows.values())
        kept = int(stored_repo_sizes.get(repository_id, 0))
        if actual != kept or actual_rows != stored_rows:
            drifts.append(
                Drift("repository", f"{namespace}/{name}", kept, actual, actual_rows != stored_rows)
            )
    actual_ns = sum(size for _refs, size in truth.ns_blobs.values())
    stored_ns_rows = {k: v for k, v in stored.ns_blobs.items() if v[0] > 0}
    if actual_ns != stored_ns or truth.ns_blobs != stored_ns_rows:
        drifts.append(Drift("namespace", namespace, stored_ns, actual_ns, truth.ns_blobs != stored_ns_rows))
    return drifts


def _rewrite(db: Db, namespace_id: int, repo_ids: list[int], truth: _Truth) -> None:
    db.execute(delete(QuotaRepositoryBlob).where(QuotaRepositoryBlob.repository_id.in_(repo_ids)))
    db.execute(delete(QuotaRepositorySize).where(QuotaRepositorySize.repository_id.in_(repo_ids)))
    db.execute(delete(QuotaNamespaceBlob).where(QuotaNamespaceBlob.namespace_id == namespace_id))
    if truth.repo_blobs:
        db.execute(
            insert(QuotaRepositoryBlob),
            [
                {"repository_id": r, "blob_id": b, "refs": n, "size": s}
                for (r, b), (n, s) in truth.repo_blobs.items()
            ],
        )
        totals: dict[int, int] = defaultdict(int)
        for (r, _b), (_n, s) in truth.repo_blobs.items():
            totals[r] += s
        db.execute(
            insert(QuotaRepositorySize), [{"repository_id": r, "size_bytes": s} for r, s in totals.items()]
        )
    if truth.ns_blobs:
        db.execute(
            insert(QuotaNamespaceBlob),
            [
                {"namespace_id": namespace_id, "blob_id": b, "refs": n, "size": s}
                for b, (n, s) in truth.ns_blobs.items()
            ],
        )
    size = sum(s for _n, s in truth.ns_blobs.values())
    if (
        db.execute(
            update(QuotaNamespaceSize)
            .where(QuotaNamespaceSize.namespace_id == namespace_id)
            .values(size_bytes=size)
        ).rowcount
        == 0
    ):
        db.execute(
            insert(QuotaNamespaceSize).values(
                namespace_id=namespace_id, size_bytes=size, notified_percent=None
            )
        )

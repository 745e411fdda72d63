"""The health of repository mirroring (Quay's getRepositoryMirrorHealth and
getSuperUserRepositoryMirrorHealth): how many mirrors sync, succeeded, failed or never ran, and
which need a look.

Quay reads the last sync times and the pending tags from its workers' Prometheus metrics; Wharf
has them in the mirror's own row (`last_success_ms`, `tags_total - tags_done`), so the answer is
the same on every node. Only enabled mirrors of repositories in state MIRROR count, as on Quay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from wharf.core import mirrors, repositories
from wharf.db.engine import Db
from wharf.db.models import Account, Job, RepoMirrorConfig, Repository

STALE_MS = 24 * 3600 * 1000
"""A mirror whose last successful sync is older than this is stale (Quay's 24 hours)."""
FAILURE_THRESHOLD = 0.2
"""Unhealthy when more than this share of the mirrors that ran are failing (Quay's 20%)."""
SAMPLES = 5
"""The most repositories named per kind of issue."""
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Query:
    namespace_id: int | None = None
    detailed: bool = False
    limit: int = 100
    offset: int = 0
    name_repositories: bool = True
    """False for the superuser panel's summary, which names no repository (as Quay's)."""


def _scope(statement: Any, namespace_id: int | None) -> Any:
    statement = statement.join(Repository, Repository.id == RepoMirrorConfig.repository_id).where(
        Repository.state == repositories.MIRROR, RepoMirrorConfig.is_enabled.is_(True)
    )
    if namespace_id is not None:
        statement = statement.where(Repository.namespace_id == namespace_id)
    return statement


def _count(status: str) -> Any:
    return func.coalesce(func.sum(case((RepoMirrorConfig.sync_status == status, 1), else_=0)), 0)


def _counts(db: Db, namespace_id: int | None) -> dict[str, int]:
    statement = _scope(
        select(
            func.count(RepoMirrorConfig.repository_id),
            _count(mirrors.SYNCING),
            _count(mirrors.SYNC_SUCCESS),
            _count(mirrors.SYNC_FAILED),
            _count(mirrors.NEVER_RUN),
            func.coalesce(
                func.sum(
                    case(
                        (
                            RepoMirrorConfig.sync_status == mirrors.SYNCING,
                            RepoMirrorConfig.tags_total - RepoMirrorConfig.tags_done,
                        ),
                        else_=0,
                    )
                ),
                0,
            ),
        ).select_from(RepoMirrorConfig),
        namespace_id,
    )
    row = db.execute(statement).one()
    keys = ("total", "syncing", "completed", "failed", "never_run", "tags_pending")
    return {k: int(v or 0) for k, v in zip(keys, row, strict=True)}


def _rows(namespace_id: int | None) -> Any:
    statement: Any = select(
        Account.name,
        Repository.name,
        RepoMirrorConfig.sync_status,
        RepoMirrorConfig.is_enabled,
        RepoMirrorConfig.last_success_ms,
        RepoMirrorConfig.sync_retries_remaining,
        RepoMirrorConfig.tags_done,
        RepoMirrorConfig.tags_total,
        RepoMirrorConfig.last_error,
    ).select_from(RepoMirrorConfig)
    statement = _scope(statement, namespace_id).join(Account, Account.id == Repository.namespace_id)
    return statement.order_by(Account.name, Repository.name)


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _issues(db: Db, namespace_id: int | None, now: int) -> list[dict[str, Any]]:
    """Up to SAMPLES repositories of each kind of trouble, named."""
    at = _date(now)
    kinds: list[tuple[str, Any, str]] = [
        ("warning", RepoMirrorConfig.last_success_ms < now - STALE_MS, "hasn't synced in over 24 hours"),
        ("warning", RepoMirrorConfig.sync_status == mirrors.NEVER_RUN, "has never been synced"),
        (
            "warning",
            and_(
                RepoMirrorConfig.sync_status == mirrors.SYNCING,
                RepoMirrorConfig.sync_expiration_ms < now,
            ),
            "has a sync whose worker stopped: it is resumed at the next look",
        ),
        ("error", RepoMirrorConfig.sync_status == mirrors.SYNC_FAILED, "failed its last sync"),
    ]
    issues: list[dict[str, Any]] = []
    for severity, condition, what in kinds:
        for row in db.execute(_rows(namespace_id).where(condition).limit(SAMPLES)):
            message = f"Repository {row[0]}/{row[1]} {what}"
            if severity == "error" and row.last_error:
                message += f": {row.last_error}"
            issues.append({"severity": severity, "message": message, "timestamp": at})
    return issues


def _details(db: Db, query: Query) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    limit = max(1, min(query.limit, MAX_PAGE))
    offset = max(0, query.offset)
    rows = db.execute(_rows(query.namespace_id).limit(limit + 1).offset(offset)).all()
    details = [
        {
            "namespace": row[0],
            "repository": row[1],
            "sync_status": row.sync_status,
            "is_enabled": row.is_enabled,
            "last_sync": _date(row.last_success_ms) if row.last_success_ms else None,
            "retries_remaining": row.sync_retries_remaining,
            "tags_done": row.tags_done,
            "tags_total": row.tags_total,
        }
        for row in rows[:limit]
    ]
    return details, {"limit": limit, "offset": offset, "has_more": len(rows) > limit}


def _running(db: Db, queue_name: str, now: int) -> int:
    """Syncs a worker holds the lease of now: Wharf's count of busy mirror workers."""
    statement = select(func.count(Job.id)).where(Job.queue == queue_name, Job.lease_until_ms >= now)
    return int(db.execute(statement).scalar() or 0)


def health(db: Db, query: Query, queue_name: str, now: int) -> dict[str, Any]:
    """Quay's health document: `healthy` (the API answers 503 when it is not)."""
    counts = _counts(db, query.namespace_id)
    issues = _issues(db, query.namespace_id, now) if query.name_repositories else []
    healthy = True
    ran = counts["total"] - counts["never_run"]
    if ran > 0 and counts["failed"] / ran > FAILURE_THRESHOLD:
        healthy = False
        rate = counts["failed"] / ran
        issues.insert(
            0,
            {
                "severity": "critical",
                "message": f"{rate * 100:.1f}% of repositories are failing "
                f"(threshold: {FAILURE_THRESHOLD * 100:.1f}%)",
                "timestamp": _date(now),
            },
        )
    active = _running(db, queue_name, now)
    repos: dict[str, Any] = {k: counts[k] for k in ("total", "syncing", "completed", "failed", "never_run")}
    if query.detailed and query.name_repositories:
        repos["details"], repos["pagination"] = _details(db, query)
    return {
        "healthy": healthy,
        # Wharf's workers are not counted apart from the jobs they hold: `active` is the syncs
        # running now, and every `wharf worker` runs syncs (no replica count to compare with).
        "workers": {"active": active, "configured": active, "status": "healthy" if healthy else "degraded"},
        "repositories": repos,
        "tags_pending": counts["tags_pending"],
        "last_check": _date(now),
        "issues": issues,
    }

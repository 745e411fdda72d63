"""A job queue in the database: enqueue in the caller's transaction, claim with a lease.

A claimed job stays in its row with `lease_until_ms` in the future; finishing deletes the row and a
failure re-arms it with a backoff. A worker that dies leaves a lease that simply runs out, and the
job is claimed again. PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite has a single writer,
so its immediate write transaction is enough.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from wharf.core._sql import insert_ignore
from wharf.core.clock import now_ms
from wharf.db.engine import Database, Db
from wharf.db.models import Job

LEASE_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    queue: str
    body: dict[str, Any]
    retries_remaining: int


def enqueue(
    db: Db,
    queue: str,
    body: dict[str, Any] | None = None,
    *,
    delay_ms: int = 0,
    dedupe_key: str | None = None,
) -> None:
    now = now_ms()
    insert_ignore(
        db,
        Job,
        {
            "queue": queue,
            "body": json.dumps(body or {}),
            "dedupe_key": dedupe_key,
            "available_after_ms": now + delay_ms,
            "lease_until_ms": None,
            "retries_remaining": 5,
            "created_ms": now,
        },
    )


async def claim(database: Database, queues: list[str]) -> ClaimedJob | None:
    return await database.write(_claim, queues)


def _claim(db: Db, queues: list[str]) -> ClaimedJob | None:
    now = now_ms()
    ready = (
        select(Job.id, Job.queue, Job.body, Job.retries_remaining)
        .where(
            Job.queue.in_(queues),
            Job.available_after_ms <= now,
            or_(Job.lease_until_ms.is_(None), Job.lease_until_ms < now),
        )
        .order_by(Job.available_after_ms, Job.id)
        .limit(1)
    )
    if db.dialect.name == "postgresql":
        ready = ready.with_for_update(skip_locked=True)
    row = db.execute(ready).first()
    if row is None:
        return None
    db.execute(update(Job).where(Job.id == row.id).values(lease_until_ms=now + LEASE_MS))
    return ClaimedJob(row.id, row.queue, json.loads(row.body), row.retries_remaining)


async def extend_lease(database: Database, job: ClaimedJob) -> None:
    """Lease a running job for another LEASE_MS, so that no other worker claims it meanwhile."""
    await database.write(
        lambda db: db.execute(update(Job).where(Job.id == job.id).values(lease_until_ms=now_ms() + LEASE_MS))
    )


async def release(database: Database, job: ClaimedJob) -> None:
    """Give a claimed job back unrun or unfinished: claimable again at once, in its old place in
    the queue, with its retries untouched."""
    await database.write(
        lambda db: db.execute(update(Job).where(Job.id == job.id).values(lease_until_ms=None))
    )


async def complete(database: Database, job: ClaimedJob) -> None:
    await database.write(lambda db: db.execute(delete(Job).where(Job.id == job.id)))


async def fail(database: Database, job: ClaimedJob) -> None:
    await database.write(_fail, job)


def _fail(db: Db, job: ClaimedJob) -> None:
    if job.retries_remaining <= 1:
        db.execute(delete(Job).where(Job.id == job.id))
        return
    backoff = 2 ** (6 - job.retries_remaining) * 1000
    db.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(
            lease_until_ms=None,
            available_after_ms=now_ms() + backoff,
            retries_remaining=job.retries_remaining - 1,
        )
    )


def depth(db: Db) -> dict[str, int]:
    """Jobs waiting or running, per queue."""
    rows = db.execute(select(Job.queue, func.count().label("n")).group_by(Job.queue))
    return {r.queue: int(r.n) for r in rows}

"""A job queue in the database: enqueue in the caller's transaction, claim with a lease.

A claimed job stays in its row with `lease_until_ms` in the future and the claim's owner token in
`lease_token`; finishing deletes the row and a failure re-arms it with a backoff. A worker that dies
leaves a lease that simply runs out, and the job is claimed again, under a new token: the worker
that lost it (it stalled, it did not die) can then no longer extend, release, complete or fail it.
PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite has a single writer, so its immediate write
transaction is enough.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update

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
    token: str
    """This claim's owner token: the job's row carries it while this claim holds the lease."""
    lease_ms: int = LEASE_MS
    """How long each lease (the claim's, then each renewal) lasts."""


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


async def claim(database: Database, queues: list[str], lease_ms: int = LEASE_MS) -> ClaimedJob | None:
    return await database.write(claim_at, queues, now_ms(), lease_ms)


def claim_at(db: Db, queues: list[str], now: int, lease_ms: int = LEASE_MS) -> ClaimedJob | None:
    """Claim the next job ready at `now` (ms since the epoch) whose lease, if any, has run out."""
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
    token = secrets.token_hex(16)
    db.execute(update(Job).where(Job.id == row.id).values(lease_until_ms=now + lease_ms, lease_token=token))
    return ClaimedJob(row.id, row.queue, json.loads(row.body), row.retries_remaining, token, lease_ms)


def _held(job: ClaimedJob) -> ColumnElement[bool]:
    """The job's row, while `job`'s claim still holds it: a worker whose lease ran out and was
    claimed by another must not extend, release, complete or fail that other worker's claim."""
    return and_(Job.id == job.id, Job.lease_token == job.token)


async def extend_lease(database: Database, job: ClaimedJob) -> bool:
    """Lease a running job again for its claim's lease, so that no other worker claims it
    meanwhile. False when the claim was lost (the lease ran out and another worker claimed the job)."""
    return await database.write(extend_at, job, now_ms())


def extend_at(db: Db, job: ClaimedJob, now: int) -> bool:
    return db.execute(update(Job).where(_held(job)).values(lease_until_ms=now + job.lease_ms)).rowcount == 1


async def release(database: Database, job: ClaimedJob) -> bool:
    """Give a claimed job back unrun or unfinished: claimable again at once, in its old place in
    the queue, with its retries untouched. False when the claim was lost."""
    return await database.write(release_claim, job)


def release_claim(db: Db, job: ClaimedJob) -> bool:
    released = update(Job).where(_held(job)).values(lease_until_ms=None, lease_token=None)
    return db.execute(released).rowcount == 1


async def complete(database: Database, job: ClaimedJob) -> bool:
    """Remove a finished job; False (and the job stays) when the claim was lost."""
    return await database.write(complete_claim, job)


def complete_claim(db: Db, job: ClaimedJob) -> bool:
    return db.execute(delete(Job).where(_held(job))).rowcount == 1


async def fail(database: Database, job: ClaimedJob) -> bool:
    """Re-arm a failed job with a backoff, or drop it after its last retry; False when the claim
    was lost."""
    return await database.write(fail_at, job, now_ms())


def fail_at(db: Db, job: ClaimedJob, now: int) -> bool:
    if job.retries_remaining <= 1:
        return db.execute(delete(Job).where(_held(job))).rowcount == 1
    backoff = 2 ** (6 - job.retries_remaining) * 1000
    rearmed = (
        update(Job)
        .where(_held(job))
        .values(
            lease_until_ms=None,
            lease_token=None,
            available_after_ms=now + backoff,
            retries_remaining=job.retries_remaining - 1,
        )
    )
    return db.execute(rearmed).rowcount == 1


def depth(db: Db) -> dict[str, int]:
    """Jobs waiting or running, per queue."""
    rows = db.execute(select(Job.queue, func.count().label("n")).group_by(Job.queue))
    return {r.queue: int(r.n) for r in rows}

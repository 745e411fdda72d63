"""Job leases carry their owner's token: a worker whose lease ran out, and whose job another
worker claimed, can no longer extend, release, complete or fail that other worker's claim.

Core-level, on the real database; the clock is moved by passing `now` to the queue's functions."""

from __future__ import annotations

from sqlalchemy import select

from wharf.app import WharfApp
from wharf.core import queue
from wharf.core.clock import now_ms
from wharf.core.queue import LEASE_MS
from wharf.db.models import Job

QUEUE = "lease-test"


async def test_a_worker_that_lost_its_lease_cannot_touch_the_new_claim(wharf: WharfApp) -> None:
    db = wharf.rt.db
    await db.write(queue.enqueue, QUEUE)
    t0 = now_ms()
    first = await db.write(queue.claim_at, [QUEUE], t0)
    assert first is not None
    assert await db.write(queue.claim_at, [QUEUE], t0 + LEASE_MS - 1) is None  # still leased

    # The first worker stalls past its lease; a second one claims the job.
    late = t0 + LEASE_MS + 1
    second = await db.write(queue.claim_at, [QUEUE], late)
    assert second is not None and second.id == first.id and second.token != first.token

    # The first worker wakes up: nothing it does reaches the second worker's claim.
    assert not await db.write(queue.extend_at, first, late + 1)
    assert not await db.write(queue.release_claim, first)
    assert not await db.write(queue.fail_at, first, late + 1)
    assert not await db.write(queue.complete_claim, first)
    row = await db.read(lambda c: c.execute(select(Job).where(Job.id == first.id)).one())
    assert (row.lease_token, row.lease_until_ms, row.retries_remaining) == (
        second.token,
        late + LEASE_MS,
        second.retries_remaining,
    )
    assert await db.write(queue.claim_at, [QUEUE], late + 2) is None  # not released by the first

    # The second worker's claim works as it should.
    assert await db.write(queue.extend_at, second, late + LEASE_MS - 1)
    assert await db.write(queue.claim_at, [QUEUE], late + LEASE_MS + 1) is None  # extended
    assert await db.write(queue.complete_claim, second)
    assert await db.read(lambda c: c.execute(select(Job).where(Job.id == first.id)).first()) is None


async def test_release_and_failure_need_the_claim_and_hand_the_job_on(wharf: WharfApp) -> None:
    db = wharf.rt.db
    await db.write(queue.enqueue, QUEUE)
    t0 = now_ms()
    job = await db.write(queue.claim_at, [QUEUE], t0)
    assert job is not None
    assert await db.write(queue.release_claim, job)
    assert not await db.write(queue.release_claim, job)  # released once
    again = await db.write(queue.claim_at, [QUEUE], t0 + 1)
    assert again is not None and again.id == job.id
    assert not await db.write(queue.fail_at, job, t0 + 2)  # the old claim, given back already
    assert await db.write(queue.fail_at, again, t0 + 2)
    retried = await db.write(queue.claim_at, [QUEUE], t0 + 2 + 60_000)
    assert retried is not None and retried.retries_remaining == again.retries_remaining - 1
    assert await queue.complete(db, retried)

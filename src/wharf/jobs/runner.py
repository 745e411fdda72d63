"""Runs queued jobs, in the server process by default or in `wharf worker` processes.

A job cancelled while it runs (a worker stopping after its grace period, a server shutting down)
gives its lease back at once, so that another worker can run it without waiting for the lease to
run out; an interruption does not count as one of the job's failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from wharf import metrics
from wharf.core import queue, uploads
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.jobs import autoprune, gc, log_export, notify, orphans, secscan
from wharf.runtime import Runtime

log = logging.getLogger("wharf.jobs")

JobHandler = Callable[[Runtime, dict[str, Any]], Awaitable[None]]


async def cleanup_uploads(rt: Runtime, _body: dict[str, Any]) -> None:
    cutoff = now_ms() - rt.settings.BLOB_UPLOAD_EXPIRATION_S * 1000
    removed = await uploads.expire_abandoned(rt.db, rt.store, cutoff)
    if removed:
        log.info("removed %d abandoned uploads", removed)


async def collect_garbage(rt: Runtime, _body: dict[str, Any]) -> None:
    await gc.collect_periodically(rt)


# The jobs of features a registry may never use (an LDAP directory, mirrors, builds) import their
# services when one first runs: an idle `wharf serve` does not hold them, nor the outbound clients
# they bring (integrations/ldap_directory.py, integrations/upstream.py; tests/process/
# test_lazy_imports.py). Their queue names are therefore spelled here; tests/unit/test_job_queues.py
# checks them against the services'.
TEAM_SYNC_QUEUE = "team_sync"
USER_CHECK_QUEUE = "directory_user_check"
MIRROR_QUEUE = "repo_mirror_sync"
MIRROR_SCHEDULE_QUEUE = "repo_mirror_schedule"
ORG_MIRROR_QUEUE = "org_mirror_sync"
ORG_MIRROR_SCHEDULE_QUEUE = "org_mirror_schedule"


async def sync_teams(rt: Runtime, _body: dict[str, Any]) -> None:
    from wharf.services import directory_sync

    await directory_sync.sync_stale_teams(rt)


async def check_directory_users(rt: Runtime, _body: dict[str, Any]) -> None:
    from wharf.services import directory_sync

    await directory_sync.check_directory_users(rt)


async def sync_mirror(rt: Runtime, body: dict[str, Any]) -> None:
    from wharf.services import mirroring

    await mirroring.run(rt, body)


async def schedule_mirrors(rt: Runtime, body: dict[str, Any]) -> None:
    from wharf.services import mirroring

    await mirroring.schedule(rt, body)


async def sync_org_mirror(rt: Runtime, body: dict[str, Any]) -> None:
    from wharf.services import org_mirroring

    await org_mirroring.run(rt, body)


async def schedule_org_mirrors(rt: Runtime, body: dict[str, Any]) -> None:
    from wharf.services import org_mirroring

    await org_mirroring.schedule(rt, body)


async def sweep_orphans(rt: Runtime, _body: dict[str, Any]) -> None:
    await orphans.sweep(rt, progress=None)  # INFO when it removed something, else DEBUG


async def clean_up_builds(rt: Runtime, _body: dict[str, Any]) -> None:
    from wharf.services import builds as build_service

    logs = await build_service.prune_logs(rt)
    files = await build_service.forget_expired_files(rt)
    if logs or files:
        log.info("removed %d build log entries and %d expired build files", logs, files)


async def sweep_builds(rt: Runtime, _body: dict[str, Any]) -> None:
    from wharf.services import builds as build_service

    swept = await build_service.sweep_interrupted(rt)
    if swept:
        log.warning("builds whose builder stopped before finishing them: %s", ", ".join(swept))


HANDLERS: dict[str, JobHandler] = {
    "upload_cleanup": cleanup_uploads,
    "gc": collect_garbage,
    "gc_orphans": sweep_orphans,
    "notification": notify.deliver,
    "notification_image_expiry": notify.announce_expiring_tags,
    "log_export": log_export.export_logs,
    "log_rotation": log_export.rotate_logs,
    secscan.INDEX_QUEUE: secscan.index,
    secscan.BACKFILL_QUEUE: secscan.backfill,
    secscan.UPDATE_QUEUE: secscan.update_sources,
    autoprune.QUEUE: autoprune.run,
    TEAM_SYNC_QUEUE: sync_teams,
    USER_CHECK_QUEUE: check_directory_users,
    "build_cleanup": clean_up_builds,
    MIRROR_QUEUE: sync_mirror,
    MIRROR_SCHEDULE_QUEUE: schedule_mirrors,
    "build_sweep": sweep_builds,
    ORG_MIRROR_QUEUE: sync_org_mirror,
    ORG_MIRROR_SCHEDULE_QUEUE: schedule_org_mirrors,
}
"""The jobs of `wharf serve` and `wharf worker`. Builds are not among them: only `wharf builder`
claims those (jobs/builder.py, BUILDER_HANDLERS), where buildah is installed."""


def periodic(rt: Runtime) -> dict[str, int]:
    """Queue name -> interval in seconds, for the jobs that recur."""
    s = rt.settings
    jobs = {
        "upload_cleanup": s.UPLOAD_CLEANUP_INTERVAL_S,
        "gc": s.GC_INTERVAL_S,
        "notification_image_expiry": s.NOTIFICATION_TASK_RUN_MINIMUM_INTERVAL_MINUTES * 60,
    }
    if s.FEATURE_AUTO_PRUNE or s.FEATURE_IMMUTABLE_TAGS:
        jobs[autoprune.QUEUE] = s.AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES * 60
    if s.FEATURE_BUILD_SUPPORT:
        jobs["build_cleanup"] = 3600
        jobs["build_sweep"] = s.BUILDER_LEASE_S
    if s.FEATURE_REPO_MIRROR:
        jobs[MIRROR_SCHEDULE_QUEUE] = s.REPO_MIRROR_INTERVAL
    if s.FEATURE_ORG_MIRROR:
        jobs[ORG_MIRROR_SCHEDULE_QUEUE] = s.ORG_MIRROR_INTERVAL
    if s.GC_ORPHAN_INTERVAL_S:
        jobs["gc_orphans"] = s.GC_ORPHAN_INTERVAL_S
    if s.FEATURE_ACTION_LOG_ROTATION:
        jobs["log_rotation"] = s.ACTION_LOG_ROTATION_INTERVAL_S
    if s.AUTHENTICATION_TYPE == "LDAP":
        if s.FEATURE_TEAM_SYNCING:
            jobs[TEAM_SYNC_QUEUE] = s.TEAM_SYNC_WORKER_FREQUENCY
        if s.LDAP_USER_CHECK_INTERVAL_S:
            jobs[USER_CHECK_QUEUE] = s.LDAP_USER_CHECK_INTERVAL_S
    if s.FEATURE_SECURITY_SCANNER:
        jobs[secscan.BACKFILL_QUEUE] = s.SECURITY_SCANNER_INDEXING_INTERVAL
        if s.SECURITY_SCANNER_VULN_SOURCES:
            jobs[secscan.UPDATE_QUEUE] = s.SECURITY_SCANNER_UPDATE_INTERVAL
    return jobs


async def schedule_periodic(rt: Runtime) -> None:
    def _schedule(db: Db) -> None:
        for name, interval in periodic(rt).items():
            queue.enqueue(db, name, delay_ms=interval * 1000, dedupe_key=f"periodic:{name}")

    await rt.db.write(_schedule)


async def run_once(
    rt: Runtime,
    stop: asyncio.Event | None = None,
    handlers: Mapping[str, JobHandler] = HANDLERS,
    lease_ms: int = queue.LEASE_MS,
) -> bool:
    """Claim and run one job of `handlers`' queues; False when none was ready, or when `stop` was
    set while claiming (the job is then handed back unrun)."""
    job = await queue.claim(rt.db, list(handlers), lease_ms)
    if job is None:
        return False
    if stop is not None and stop.is_set():
        await _release(rt, job)
        return False
    started = time.perf_counter()
    renewer = asyncio.create_task(_keep_leased(rt, job), name=f"wharf-job-lease-{job.id}")
    outcome = "interrupted"  # stays so when the job is cancelled (a stopping worker or server)
    try:
        await handlers[job.queue](rt, job.body)
    except Exception:
        log.exception("job %s (%s) failed", job.id, job.queue)
        outcome = "failed"
    else:
        outcome = "done"
    finally:
        # Stopped before the job is completed or re-armed, which a late renewal would undo.
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        if outcome == "interrupted":
            metrics.JOB_SECONDS.labels(job.queue, outcome).observe(time.perf_counter() - started)
            log.warning("job %s (%s) was interrupted; released for another worker", job.id, job.queue)
            # Shielded: the release is written even if the task is cancelled again meanwhile.
            await asyncio.shield(_release(rt, job))
    metrics.JOB_SECONDS.labels(job.queue, outcome).observe(time.perf_counter() - started)
    if outcome == "failed":
        held = await queue.fail(rt.db, job)
    else:
        held = await queue.complete(rt.db, job)
    if not held:
        log.warning("job %s (%s) ran past its lease and was claimed again meanwhile", job.id, job.queue)
    return True


async def _release(rt: Runtime, job: queue.ClaimedJob) -> None:
    try:
        await queue.release(rt.db, job)
    except Exception:
        log.warning(
            "could not release job %s (%s); it runs again once its lease runs out",
            job.id,
            job.queue,
            exc_info=True,
        )


# A job outliving its lease would be claimed again by another worker and run twice at once
# (a collection or an orphan sweep of a large store can take longer than LEASE_MS): renewed
# every third of it.
LEASE_RENEW_S = queue.LEASE_MS / 1000 / 3


async def _keep_leased(rt: Runtime, job: queue.ClaimedJob) -> None:
    while True:
        await asyncio.sleep(job.lease_ms / 1000 / 3)
        try:
            if not await queue.extend_lease(rt.db, job):
                log.warning("job %s (%s) lost its lease to another worker", job.id, job.queue)
                return
        except Exception:
            log.warning("could not renew the lease of job %s (%s)", job.id, job.queue, exc_info=True)


async def run_forever(
    rt: Runtime,
    poll_interval_s: float = 2.0,
    stop: asyncio.Event | None = None,
    handlers: Mapping[str, JobHandler] = HANDLERS,
    lease_ms: int = queue.LEASE_MS,
) -> None:
    """Run jobs as they come due until cancelled, or until `stop` is set: then no further job
    is claimed, and this returns as soon as the job running (if any) has finished. The periodic
    jobs are scheduled by the runners of the default `handlers` only."""
    stop = stop or asyncio.Event()
    if rt.db.read_only:
        # Every job writes (GC, cleanup, notifications): none runs while REGISTRY_STATE is readonly.
        log.info("REGISTRY_STATE is readonly: no background jobs run until it is normal again")
        await stop.wait()
        return
    while not stop.is_set():
        try:
            if handlers is HANDLERS:
                await schedule_periodic(rt)
            while not stop.is_set() and await run_once(rt, stop, handlers, lease_ms):
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job runner loop failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_interval_s)


async def run_until_stopped(
    rt: Runtime,
    stop: asyncio.Event,
    grace_s: float,
    poll_interval_s: float = 2.0,
    handlers: Mapping[str, JobHandler] = HANDLERS,
    concurrency: int = 1,
    lease_ms: int = queue.LEASE_MS,
) -> bool:
    """`run_forever` for a `wharf worker` (or `wharf builder`, with its `handlers` and
    `concurrency` runners): once `stop` is set, the jobs running get `grace_s` seconds to finish;
    past that they are cancelled, which releases them for another worker.
    True when the worker stopped without cancelling anything."""

    async def _runners() -> None:
        await asyncio.gather(
            *(run_forever(rt, poll_interval_s, stop, handlers, lease_ms) for _ in range(concurrency))
        )

    jobs = asyncio.create_task(_runners(), name="wharf-jobs")
    stopping = asyncio.create_task(stop.wait(), name="wharf-jobs-stop")
    try:
        await asyncio.wait({jobs, stopping}, return_when=asyncio.FIRST_COMPLETED)
        done, _ = await asyncio.wait({jobs}, timeout=grace_s)
        if done:
            jobs.result()  # run_forever returns only once stopped; anything else is raised here
            return True
        return False
    finally:
        stopping.cancel()
        if not jobs.done():
            jobs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await jobs


@contextlib.asynccontextmanager
async def in_background(rt: Runtime) -> Any:
    task = asyncio.create_task(run_forever(rt), name="wharf-jobs")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""Running garbage collection: the periodic job, and `wharf admin gc [--dry-run] [--orphans]`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from wharf import metrics
from wharf.core import durations, gc, squash
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.jobs import orphans as orphan_sweep
from wharf.oci.digest import Digest
from wharf.runtime import Runtime
from wharf.storage.base import blob_path

log = logging.getLogger("wharf.gc")

BLOB_BATCH = 500
# A deletion marker older than this belongs to a deleter that died. A younger one may be held by
# a deleter still at work (another GC, the orphan sweep): finishing it for them would clear the
# marker before their file deletion, and an upload of that digest could publish in between.
ABANDONED_MARKER_MS = 10 * 60 * 1000


class _DryRun(Exception):
    def __init__(self, report: gc.Report) -> None:
        super().__init__("dry run")
        self.report = report


def _windows(rt: Runtime) -> tuple[int, int]:
    default_window_ms = durations.parse_seconds(rt.settings.DEFAULT_TAG_EXPIRATION) * 1000
    return default_window_ms, rt.settings.GC_GRACE_PERIOD_S * 1000


async def collect(
    rt: Runtime,
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] = log.info,
    grace_s: int | None = None,
    orphans: bool = False,
) -> gc.Report:
    """One full collection. A dry run computes what would go, in a transaction it rolls back.
    `grace_s` overrides GC_GRACE_PERIOD_S. With `orphans`, storage is then swept for orphans too
    (what the separate periodic job gc_orphans does)."""
    report = await _collect(rt, dry_run=dry_run, progress=progress, grace_s=grace_s)
    if orphans:
        report.orphans = await orphan_sweep.sweep(rt, dry_run=dry_run, progress=progress)
    return report


async def collect_periodically(rt: Runtime) -> gc.Report:
    """The periodic job. On an idle registry a run every GC_INTERVAL_S has nothing to say: its
    progress goes to DEBUG, and one INFO line only when the run removed something."""
    report = await collect(rt, progress=log.debug)
    removed = {
        "tags expired": report.tags_expired,
        "old tag lifetimes": report.tag_lifetimes_removed,
        "manifests": report.manifests_removed,
        "blob links": report.links_removed,
        "blobs": report.blobs_removed,
        "squashed downloads": report.squashed_removed,
    }
    if any(removed.values()):
        counts = ", ".join(f"{n} {what}" for what, n in removed.items() if n)
        log.info("gc: removed %s (%d bytes freed)", counts, report.bytes_freed)
    return report


async def _collect(
    rt: Runtime, *, dry_run: bool, progress: Callable[[str], None], grace_s: int | None
) -> gc.Report:
    default_window_ms, grace_ms = _windows(rt)
    if grace_s is not None:
        grace_ms = grace_s * 1000
    started = time.monotonic()
    if dry_run:

        def rehearse(db: Db) -> None:
            raise _DryRun(gc.plan(db, now_ms(), default_window_ms, grace_ms))

        try:
            await rt.db.write(rehearse)
        except _DryRun as e:
            return e.report
        raise AssertionError("unreachable")

    report = gc.Report()
    # Markers left by an interrupted run: finish their deletions first.
    for digest in await rt.db.read(gc.pending_deletions, now_ms() - ABANDONED_MARKER_MS):
        await _delete_file(rt, digest)
        await rt.db.write(gc.clear_deletion, digest)
    now = now_ms()
    report.add_expiry(*await rt.db.write(gc.expire_tags, now, default_window_ms))
    progress(
        f"gc: {report.tags_expired} tags expired, {report.tag_lifetimes_removed} old tag lifetimes removed"
    )
    for repository_id in await rt.db.read(gc.repository_ids):
        report.add_sweep(*await rt.db.write(gc.sweep_repository, repository_id, now, grace_ms))
    progress(f"gc: {report.manifests_removed} manifests and {report.links_removed} blob links removed")
    while True:
        candidates = await rt.db.read(gc.unreferenced_blobs, BLOB_BATCH)
        removed_now = 0
        for blob_id, digest, size in candidates:
            if not await rt.db.write(gc.mark_for_deletion, blob_id, digest, now_ms()):
                continue
            await _delete_file(rt, digest)
            await rt.db.write(gc.clear_deletion, digest)
            report.blobs_removed += 1
            report.bytes_freed += size
            report.removed_digests.append(digest)
            removed_now += 1
        if len(candidates) < BLOB_BATCH or not removed_now:
            break
        progress(f"gc: {report.blobs_removed} blobs ({report.bytes_freed} bytes) removed so far")
    report.squashed_removed = await _sweep_squashed(rt)
    _count(report, time.monotonic() - started)
    progress(
        f"gc: done in {time.monotonic() - started:.1f} s: {report.blobs_removed} blobs removed, "
        f"{report.bytes_freed} bytes freed"
    )
    return report


def _count(report: gc.Report, seconds: float) -> None:
    metrics.GC_RUNS.inc()
    metrics.GC_DURATION.observe(seconds)
    for name, value in (
        ("tag", report.tags_expired),
        ("tag_lifetime", report.tag_lifetimes_removed),
        ("manifest", report.manifests_removed),
        ("blob_link", report.links_removed),
        ("blob", report.blobs_removed),
        ("squashed_download", report.squashed_removed),
    ):
        metrics.GC_REMOVED.labels(name).inc(value)
    metrics.GC_BYTES_FREED.inc(report.bytes_freed)


async def _sweep_squashed(rt: Runtime) -> int:
    """Drop cached squashed downloads of manifests that no longer exist anywhere."""
    cached: dict[str, str] = {}
    async for path in rt.store.list("squashed"):
        digest = squash.cached_digest(path)
        if digest is not None:
            cached[digest] = path
    alive = await rt.db.read(gc.manifests_exist, list(cached))
    for digest, path in cached.items():
        if digest not in alive:
            await rt.store.delete(path)
    return len(cached) - len(alive)


async def _delete_file(rt: Runtime, digest: str) -> None:
    await rt.store.delete(blob_path(Digest.parse(digest)))

"""The orphan sweep: storage files no database row owns, and the storage driver's interrupted writes.

Listing every blob of a large bucket is expensive, so this is a job of its own on a longer schedule
(GC_ORPHAN_INTERVAL_S) than collection, and part of `wharf admin gc --orphans`. Why it is safe next
to pushes in progress is in wharf.core.orphans.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Callable

from wharf import metrics
from wharf.core import gc, log_archive, log_exports, orphans, squash
from wharf.core._staging import PARTIAL_SUFFIX
from wharf.core.clock import now_ms
from wharf.oci.digest import SUPPORTED_ALGORITHMS, Digest, DigestError
from wharf.runtime import Runtime
from wharf.storage.base import StoredObject, blob_path, upload_path

log = logging.getLogger("wharf.gc")

# Storage objects checked against the database with one query.
CHECK_BATCH = 500
UPLOADS_PREFIX = "uploads"
# Where writes stage an object under a name of its own before moving it into place: log exports
# and archives (`<path>.partial`, core/_staging.py), squashed downloads (`squashed/staging-<id>`).
# No row names a staged object; one older than the grace period was left by a crash.
STAGED_PREFIXES = (log_exports.STORAGE_PREFIX, log_archive.PREFIX, squash.STAGING_PREFIX.partition("/")[0])

OwnerOf = Callable[[str], str | None]
"""The owner a storage path names (a digest, an upload id), or None for a path Wharf does not write."""


async def sweep(
    rt: Runtime,
    *,
    dry_run: bool = False,
    now: float | None = None,
    grace_s: int | None = None,
    progress: Callable[[str], None] | None = log.info,
) -> orphans.OrphanReport:
    """Remove what storage holds, older than the grace period, that no row owns. `now` (seconds
    since the epoch) and `grace_s` override the clock and GC_ORPHAN_GRACE_S. A dry run reports
    what would go and removes nothing (interrupted writes are not counted then). `progress` None:
    the summary is logged at INFO when the sweep found something, else at DEBUG."""
    started = time.monotonic()
    grace = rt.settings.GC_ORPHAN_GRACE_S if grace_s is None else grace_s
    cutoff = (time.time() if now is None else now) - grace
    report = orphans.OrphanReport()
    await _sweep_uploads(rt, cutoff, dry_run, report)
    for prefix in STAGED_PREFIXES:
        await _sweep_staged(rt, prefix, cutoff, dry_run, report)
    for algorithm in sorted(SUPPORTED_ALGORITHMS):
        await _sweep_blobs(rt, algorithm, cutoff, dry_run, report)
    if not dry_run:
        report.interrupted_writes_removed = await rt.store.remove_interrupted_writes(cutoff)
        _count(report)
    summary = (
        f"gc: orphan sweep done in {time.monotonic() - started:.1f} s: {report.blobs_removed} orphan "
        f"blobs, {report.uploads_removed} orphan uploads, {report.staged_removed} staged objects "
        f"({report.bytes_freed} bytes)"
    )
    if progress is None:
        found = report.blobs_removed or report.uploads_removed or report.staged_removed
        level = logging.INFO if found or report.interrupted_writes_removed else logging.DEBUG
        progress = functools.partial(log.log, level)
    if dry_run:
        progress(f"{summary} would be removed")
    else:
        progress(f"{summary} and {report.interrupted_writes_removed} interrupted writes removed")
    return report


async def _sweep_uploads(rt: Runtime, cutoff: float, dry_run: bool, report: orphans.OrphanReport) -> None:
    async for batch in _old_objects(rt, UPLOADS_PREFIX, cutoff, _upload_id_at):
        owned = await rt.db.read(orphans.owned_uploads, [upload_id for upload_id, _ in batch])
        for upload_id, found in batch:
            if upload_id in owned:
                continue
            # No re-check is needed: an upload's row is written before its first byte, and a
            # deleted row never comes back.
            if not dry_run:
                await rt.store.delete(upload_path(upload_id))
            report.uploads_removed += 1
            _add(report, found)


async def _sweep_staged(
    rt: Runtime, prefix: str, cutoff: float, dry_run: bool, report: orphans.OrphanReport
) -> None:
    """Staged objects a crashed write left. A write in flight keeps its object young (each chunk
    it writes is new), and a retried one writes the same `.partial` name afresh."""
    async for batch in _old_objects(rt, prefix, cutoff, _staged_at):
        for path, found in batch:
            if not dry_run:
                await rt.store.delete(path)
            report.staged_removed += 1
            _add(report, found)


async def _sweep_blobs(
    rt: Runtime, algorithm: str, cutoff: float, dry_run: bool, report: orphans.OrphanReport
) -> None:
    async for batch in _old_objects(rt, algorithm, cutoff, _digest_at):
        # Most blob files have their row: one query per batch sorts them out, and only the few
        # orphans are re-checked one by one, under the lock, right before their deletion.
        owned = await rt.db.read(orphans.owned_blobs, [digest for digest, _ in batch])
        for digest, found in batch:
            if digest in owned:
                continue
            if not dry_run and not await _remove_blob(rt, digest, found.path):
                continue
            report.blobs_removed += 1
            _add(report, found)


async def _remove_blob(rt: Runtime, digest: str, path: str) -> bool:
    """Delete an orphan blob file under a deletion marker; False if it is no orphan any more."""
    if not await rt.db.write(orphans.mark_orphan_blob, digest, now_ms()):
        return False
    try:
        await rt.store.delete(path)
    finally:
        await rt.db.write(gc.clear_deletion, digest)
    return True


async def _old_objects(
    rt: Runtime, prefix: str, cutoff: float, owner_of: OwnerOf
) -> AsyncIterator[list[tuple[str, StoredObject]]]:
    """Batches of (owner, object) for the objects under `prefix` last written before `cutoff`."""
    batch: list[tuple[str, StoredObject]] = []
    async for found in rt.store.scan(prefix):
        if found.modified >= cutoff:
            continue
        owner = owner_of(found.path)
        if owner is None:
            continue  # not a path Wharf writes: not the sweep's to judge
        batch.append((owner, found))
        if len(batch) >= CHECK_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _digest_at(path: str) -> str | None:
    algorithm, _, rest = path.partition("/")
    try:
        digest = Digest.parse(f"{algorithm}:{rest.rpartition('/')[2]}")
    except DigestError:
        return None
    return str(digest) if blob_path(digest) == path else None


def _staged_at(path: str) -> str | None:
    if path.endswith(PARTIAL_SUFFIX) or path.startswith(squash.STAGING_PREFIX):
        return path
    return None


def _upload_id_at(path: str) -> str | None:
    upload_id = path.removeprefix(f"{UPLOADS_PREFIX}/")
    return upload_id if "/" not in upload_id and upload_path(upload_id) == path else None


def _add(report: orphans.OrphanReport, found: StoredObject) -> None:
    report.bytes_freed += found.size
    report.removed_paths.append(found.path)


def _count(report: orphans.OrphanReport) -> None:
    for kind, removed in (
        ("orphan_blob", report.blobs_removed),
        ("orphan_upload", report.uploads_removed),
        ("orphan_staged", report.staged_removed),
        ("interrupted_write", report.interrupted_writes_removed),
    ):
        metrics.GC_REMOVED.labels(kind).inc(removed)
    metrics.GC_BYTES_FREED.inc(report.bytes_freed)

"""Security scanning's jobs: indexing one manifest digest (queued by its push, by a manifest
list's indexing, or by the backfill), the backfill that finds manifests not yet indexed by this
indexer (existing ones, or all of them after a new indexer version) and failed indexes whose
retry is due (the blob store failed them), and the update from the vulnerability sources."""

from __future__ import annotations

import logging
from typing import Any, Final

from wharf.core import queue
from wharf.core import secscan as store
from wharf.core.secscan import BACKFILL_QUEUE, INDEX_QUEUE
from wharf.runtime import Runtime

# The services (and through them univers, cvss, zstandard: about 6 MiB) are imported by the first
# job that runs, not with the runner: an idle server that has indexed nothing does not hold them.
log = logging.getLogger("wharf.secscan")

BACKFILL_BATCH: Final = 1000

UPDATE_QUEUE: Final = "secscan_update"

__all__ = ["BACKFILL_QUEUE", "INDEX_QUEUE", "UPDATE_QUEUE", "backfill", "index", "update_sources"]


async def index(rt: Runtime, body: dict[str, Any]) -> None:
    if not rt.settings.FEATURE_SECURITY_SCANNER:
        return  # queued before the scanner was turned off: dropped, as the backfill requeues it
    from wharf.services import secscan

    digest = str(body["digest"])
    status = await secscan.index_manifest(rt.db, rt.store, digest, rt.settings.public_origin)
    log.debug("indexed %s: %s", digest, status)
    if status == store.SCANNED:
        from wharf.services import secscan_sbom

        base = secscan_sbom.document_base(rt.settings)
        attached = await secscan_sbom.attach(rt.db, rt.store, digest, base=base)
        if attached:
            log.info("attached SBOM referrers of %s: %s", digest, ", ".join(attached))


async def backfill(rt: Runtime, _body: dict[str, Any]) -> None:
    if not rt.settings.FEATURE_SECURITY_SCANNER:
        return
    from wharf.services import secscan

    queued = await rt.db.write(secscan.queue_backfill, BACKFILL_BATCH)
    if queued:
        log.info("queued %d manifests for indexing", queued)
    if rt.settings.SECURITY_SCANNER_VULN_SOURCES and not await rt.db.read(store.sources):
        # Never updated: now, rather than a whole SECURITY_SCANNER_UPDATE_INTERVAL after start.
        await rt.db.write(queue.enqueue, UPDATE_QUEUE, dedupe_key=f"{UPDATE_QUEUE}:first")


async def update_sources(rt: Runtime, _body: dict[str, Any]) -> None:
    """Update from each SECURITY_SCANNER_VULN_SOURCES entry; one failing does not stop the others
    (its error is recorded for `wharf secscan status`)."""
    if not rt.settings.FEATURE_SECURITY_SCANNER:
        return
    from wharf.services import secscan_update

    for source in rt.settings.SECURITY_SCANNER_VULN_SOURCES:
        try:
            result = await secscan_update.update_source(rt.db, rt.settings, source)
        except secscan_update.SourceFailure as e:
            log.warning("vulnerability source %s: %s", source, e)
            continue
        if result is None:
            log.info("vulnerability source %s: unchanged", source)
        else:
            log.info(
                "vulnerability source %s: %d records imported, %d matches re-made",
                source,
                result.imported,
                result.matches,
            )

"""Security scanning's jobs: indexing one manifest digest (queued by its push, by a manifest
list's indexing, or by the backfill), and the backfill that finds manifests not yet indexed by
this indexer (existing ones, or all of them after a new indexer version)."""

from __future__ import annotations

import logging
from typing import Any, Final

from wharf.core.secscan import BACKFILL_QUEUE, INDEX_QUEUE
from wharf.runtime import Runtime
from wharf.services import secscan

log = logging.getLogger("wharf.secscan")

BACKFILL_BATCH: Final = 1000

__all__ = ["BACKFILL_QUEUE", "INDEX_QUEUE", "backfill", "index"]


async def index(rt: Runtime, body: dict[str, Any]) -> None:
    if not rt.settings.FEATURE_SECURITY_SCANNER:
        return  # queued before the scanner was turned off: dropped, as the backfill requeues it
    digest = str(body["digest"])
    status = await secscan.index_manifest(rt.db, rt.store, digest)
    log.debug("indexed %s: %s", digest, status)


async def backfill(rt: Runtime, _body: dict[str, Any]) -> None:
    if not rt.settings.FEATURE_SECURITY_SCANNER:
        return
    queued = await rt.db.write(secscan.queue_backfill, BACKFILL_BATCH)
    if queued:
        log.info("queued %d manifests for indexing", queued)

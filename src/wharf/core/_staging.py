"""Writing a stored object so that it appears under its name whole or not at all."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from wharf.storage.base import BlobStore, FileWriter

PARTIAL_SUFFIX = ".partial"


@contextlib.asynccontextmanager
async def published(store: BlobStore, path: str) -> AsyncIterator[FileWriter]:
    """A writer to `<path>.partial`, moved to `path` when the block ends without an error.

    A retry after a crash writes the same staging name again, so crashes leave no litter behind.
    """
    staging = f"{path}{PARTIAL_SUFFIX}"
    writer = await store.writer(staging)
    try:
        yield writer
        await writer.close()
        await store.move(staging, path)
    except BaseException:
        await writer.cancel()
        await store.delete(staging)
        raise

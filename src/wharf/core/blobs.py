"""Blobs as a repository sees them: content-addressed storage plus a per-repository link."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from wharf.core._sql import insert_ignore
from wharf.core.clock import now_ms
from wharf.core.errors import BlobNotFound
from wharf.db.engine import Db
from wharf.db.models import Blob, RepositoryBlob


@dataclass(frozen=True, slots=True)
class BlobRecord:
    id: int
    digest: str
    size: int


async def get_linked(db: Db, repository_id: int, digest: str) -> BlobRecord | None:
    row = (
        await db.execute(
            select(Blob.id, Blob.digest, Blob.size)
            .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
            .where(RepositoryBlob.repository_id == repository_id, Blob.digest == digest)
        )
    ).first()
    return BlobRecord(*row) if row else None


async def register(db: Db, digest: str, size: int) -> BlobRecord:
    """The blob row for verified content now in storage, created unless a concurrent push won."""
    await insert_ignore(db, Blob, {"digest": digest, "size": size, "created_ms": now_ms()})
    row = (await db.execute(select(Blob.id, Blob.digest, Blob.size).where(Blob.digest == digest))).one()
    return BlobRecord(*row)


async def link(db: Db, repository_id: int, blob_id: int) -> None:
    await insert_ignore(
        db,
        RepositoryBlob,
        {"repository_id": repository_id, "blob_id": blob_id, "created_ms": now_ms()},
    )


async def mount(db: Db, source_repository_id: int, target_repository_id: int, digest: str) -> BlobRecord:
    blob = await get_linked(db, source_repository_id, digest)
    if blob is None:
        raise BlobNotFound(f"blob {digest} is not in the source repository")
    await link(db, target_repository_id, blob.id)
    return blob


async def unlink(db: Db, repository_id: int, digest: str) -> None:
    blob = await get_linked(db, repository_id, digest)
    if blob is None:
        raise BlobNotFound(f"blob {digest} is not in this repository")
    await db.execute(
        delete(RepositoryBlob).where(
            RepositoryBlob.repository_id == repository_id, RepositoryBlob.blob_id == blob.id
        )
    )

"""What storage holds that no database row accounts for, and how it is removed without a race.

Files under `uploads/` and `sha256/` (`sha512/`) become orphans when a crash, a cancelled upload
or an interrupted garbage collection leaves them without the row that owns them. The orphan sweep
(wharf.jobs.orphans) lists storage and asks the functions here which files are still owned.

Why it never removes what a push needs (docs/garbage-collection.md says it at length):

- An upload's row is written before its first byte and never comes back once deleted (ids are
  random UUIDs), so an upload file without a row is dead whatever its age.
- A push writes a blob's file first and its row afterwards, so a file without a row may be a push
  about to commit. Only files older than GC_ORPHAN_GRACE_S are considered; a copy or move makes a
  file new in every driver, so a push's file is not among them.
- An old orphan may still be replaced by a push of the same digest at the very moment it is
  swept. So a blob file is removed under the deletion marker garbage collection uses: in one
  transaction, under the per-digest lock uploads take to publish, the sweep checks that no row
  and no other deletion exists and records the marker; then it deletes the file; then the marker.
  An upload publishing meanwhile finds the marker, waits and copies its bytes again, and after
  publishing checks that its file is there (a deletion that ended between its copy and its commit
  is repaired from the upload's bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import insert, select

from wharf.core._sql import lock
from wharf.db.engine import Db
from wharf.db.models import Blob, BlobDeletion, Upload


@dataclass
class OrphanReport:
    blobs_removed: int = 0
    """Blob files no blob row owns."""
    uploads_removed: int = 0
    """Upload files (S3: their part objects) no upload row owns."""
    staged_removed: int = 0
    """Objects a crashed write staged and never moved into place (log exports, squashed downloads)."""
    interrupted_writes_removed: int = 0
    """The storage driver's own leftovers: S3 incomplete multipart uploads, staging files."""
    bytes_freed: int = 0
    """Bytes of the orphan blob and upload files (interrupted writes are not measured)."""
    removed_paths: list[str] = field(default_factory=list)
    """Storage paths of the orphans removed (in a dry run: that would be)."""


def owned_blobs(db: Db, digests: list[str]) -> set[str]:
    """Which of these digests have a blob row."""
    if not digests:
        return set()
    return {r.digest for r in db.execute(select(Blob.digest).where(Blob.digest.in_(digests)))}


def owned_uploads(db: Db, upload_ids: list[str]) -> set[str]:
    """Which of these uploads have a row."""
    if not upload_ids:
        return set()
    return {r.id for r in db.execute(select(Upload.id).where(Upload.id.in_(upload_ids)))}


def mark_orphan_blob(db: Db, digest: str, now: int) -> bool:
    """Record the deletion marker of a blob file, if it is still an orphan: no row, and no other
    deletion of it under way (that one removes the file itself)."""
    lock(db, "blob", digest)
    if db.execute(select(Blob.id).where(Blob.digest == digest)).first() is not None:
        return False
    if db.execute(select(BlobDeletion.digest).where(BlobDeletion.digest == digest)).first() is not None:
        return False
    db.execute(insert(BlobDeletion).values(digest=digest, started_ms=now))
    return True

"""Files users drop for builds (getFiledropUrl): a reservation, then one upload by its owner.

The bytes live in the blob store under `userfiles/<id>`; these rows say whose a file is, whether
it arrived, and until when an unused drop is kept.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import UserFile

PREFIX = "userfiles/"


def storage_path(file_id: str) -> str:
    return f"{PREFIX}{file_id}"


@dataclass(frozen=True, slots=True)
class UserFileRecord:
    id: str
    owner_id: int
    mime_type: str
    size: int | None
    sha256: str | None
    expires_ms: int
    uploaded_ms: int | None

    @property
    def uploaded(self) -> bool:
        return self.uploaded_ms is not None


def reserve(db: Db, owner_id: int, mime_type: str, lifetime_ms: int) -> UserFileRecord:
    now = now_ms()
    file_id = str(uuidlib.uuid4())
    db.execute(
        insert(UserFile).values(
            id=file_id,
            owner_id=owner_id,
            mime_type=mime_type[:255],
            created_ms=now,
            expires_ms=now + lifetime_ms,
        )
    )
    return UserFileRecord(file_id, owner_id, mime_type[:255], None, None, now + lifetime_ms, None)


def get(db: Db, file_id: str) -> UserFileRecord | None:
    row = db.execute(
        select(
            UserFile.id,
            UserFile.owner_id,
            UserFile.mime_type,
            UserFile.size,
            UserFile.sha256,
            UserFile.expires_ms,
            UserFile.uploaded_ms,
        ).where(UserFile.id == file_id)
    ).first()
    return UserFileRecord(*row) if row else None


def mark_uploaded(db: Db, file_id: str, size: int, sha256: str) -> bool:
    """Record the upload; False when the file was already uploaded (a drop is written once)."""
    done = db.execute(
        update(UserFile)
        .where(UserFile.id == file_id, UserFile.uploaded_ms.is_(None))
        .values(size=size, sha256=sha256, uploaded_ms=now_ms())
    ).rowcount
    return bool(done)


def expired(db: Db, now: int, limit: int = 500) -> list[str]:
    """Drops past their expiry (used or not: a build reads its file when it runs, long before)."""
    rows = db.execute(select(UserFile.id).where(UserFile.expires_ms < now).limit(limit))
    return [r.id for r in rows]


def forget(db: Db, file_ids: list[str]) -> None:
    db.execute(delete(UserFile).where(UserFile.id.in_(file_ids)))

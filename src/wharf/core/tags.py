"""Tags with history: a change closes the live row and opens a new one; nothing is rewritten."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, insert, select, update

from wharf.core._sql import lock
from wharf.core.clock import now_ms
from wharf.core.errors import ManifestNotFound
from wharf.db.engine import Db
from wharf.db.models import Tag

LIVE = Tag.lifetime_end_ms.is_(None)
_LIVE_TAG = select(Tag.id, Tag.manifest_id).where(
    Tag.repository_id == bindparam("repo"), Tag.name == bindparam("name"), LIVE
)
_END = update(Tag).where(Tag.id == bindparam("tag_id")).values(lifetime_end_ms=bindparam("end"))
_INSERT = insert(Tag)


def point(db: Db, repository_id: int, name: str, manifest_id: int) -> bool:
    """Point tag `name` at a manifest; False when it already pointed there."""
    lock(db, "tag", repository_id, name)
    live = db.execute(_LIVE_TAG, {"repo": repository_id, "name": name}).first()
    if live is not None and live.manifest_id == manifest_id:
        return False
    now = now_ms()
    if live is not None:
        db.execute(_END, {"tag_id": live.id, "end": now})
    db.execute(
        _INSERT,
        {
            "repository_id": repository_id,
            "name": name,
            "manifest_id": manifest_id,
            "lifetime_start_ms": now,
            "lifetime_end_ms": None,
            "hidden": False,
            "reversion": False,
        },
    )
    return True


def remove(db: Db, repository_id: int, name: str) -> int:
    """End the live lifetime of tag `name`; returns the manifest id it pointed at."""
    lock(db, "tag", repository_id, name)
    live = (
        db.execute(
            select(Tag.id, Tag.manifest_id).where(
                Tag.repository_id == repository_id, Tag.name == name, LIVE, Tag.hidden.is_(False)
            )
        )
    ).first()
    if live is None:
        raise ManifestNotFound(f"tag {name!r} does not exist")
    db.execute(update(Tag).where(Tag.id == live.id).values(lifetime_end_ms=now_ms()))
    return int(live.manifest_id)


def remove_all_for(db: Db, repository_id: int, manifest_id: int) -> list[str]:
    """End every live tag pointing at a manifest; returns their names."""
    rows = (
        db.execute(
            select(Tag.id, Tag.name).where(
                and_(Tag.repository_id == repository_id, Tag.manifest_id == manifest_id, LIVE)
            )
        )
    ).all()
    if rows:
        db.execute(update(Tag).where(Tag.id.in_([r.id for r in rows])).values(lifetime_end_ms=now_ms()))
    return [r.name for r in rows if not r.name.startswith("$")]


_NAMES = (
    select(Tag.name)
    .where(Tag.repository_id == bindparam("repo"), LIVE, Tag.hidden.is_(False), Tag.name > bindparam("after"))
    .order_by(Tag.name)
    .limit(bindparam("limit"))
)


def list_names(db: Db, repository_id: int, *, after: str | None, limit: int) -> list[str]:
    rows = db.execute(_NAMES, {"repo": repository_id, "after": after or "", "limit": limit})
    return [r[0] for r in rows]

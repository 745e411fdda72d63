"""One page of a repository's tag history, as the web UI's Tag history tab shows it: every tag's
lifetimes, newest first, filtered by a name prefix or glob (as the Tags tab filters), with the
total.

The count and the page's ids are read without the manifests: by name from
`ix_tags_repository_name_end` when the filter has a literal prefix, else from the repository's
rows; only the page's rows are then joined to their manifests.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select

from wharf.core.clock import now_ms
from wharf.core.paging import Paged, window
from wharf.core.tag_pages import name_matches
from wharf.db.engine import Db
from wharf.db.models import Manifest, Tag

PER_PAGE_MIN, PER_PAGE_MAX = 10, 100


@dataclass(frozen=True, slots=True)
class Entry:
    """One lifetime of a tag."""

    id: int
    name: str
    manifest_digest: str
    start_ms: int
    end_ms: int | None
    """When it ended, or when it is set to expire; None while it lives with no expiration."""
    alive: bool
    reversion: bool


def _where(db: Db, repository_id: int, pattern: str) -> list[ColumnElement[bool]]:
    out = [Tag.repository_id == repository_id, Tag.hidden.is_(False)]
    if pattern:
        out.append(name_matches(db, pattern))
    return out


def page(db: Db, repository_id: int, *, pattern: str = "", page: int = 1, per_page: int = 50) -> Paged[Entry]:
    """The lifetimes matching `pattern` (see tag_pages.name_matches), newest first, one page."""
    per_page = min(max(per_page, PER_PAGE_MIN), PER_PAGE_MAX)
    where = _where(db, repository_id, pattern)
    total = int(db.execute(select(func.count()).select_from(Tag).where(*where)).scalar_one())
    page, offset = window(total, page, per_page)
    # Tag ids grow with time, and a lifetime starts when its row is written: the id breaks ties.
    ids = (
        select(Tag.id)
        .where(*where)
        .order_by(Tag.lifetime_start_ms.desc(), Tag.id.desc())
        .offset(offset)
        .limit(per_page)
        .subquery()
    )
    rows = db.execute(
        select(
            Tag.id,
            Tag.name,
            Manifest.digest,
            Tag.lifetime_start_ms,
            Tag.lifetime_end_ms,
            Tag.expires_ms,
            Tag.reversion,
        )
        .join(ids, ids.c.id == Tag.id)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .order_by(Tag.lifetime_start_ms.desc(), Tag.id.desc())
    ).all()
    now = now_ms()
    out = []
    for r in rows:
        expired = r.expires_ms is not None and r.expires_ms <= now
        end = r.lifetime_end_ms if r.lifetime_end_ms is not None else r.expires_ms
        out.append(
            Entry(
                r.id,
                r.name,
                r.digest,
                r.lifetime_start_ms,
                end,
                r.lifetime_end_ms is None and not expired,
                r.reversion,
            )
        )
    return Paged(out, total, page, per_page)

"""A repository's tags as the web UI shows and changes them: the Information tab's overview, the
Tags tab's pages, the per-tag panel, the Tag history tab, and the tag changes its forms send.
Each call is one transaction, so a page renders without composing transactions itself."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.auth.permissions import RepositoryView
from wharf.core import audit, history_pages, quotas, repositories, stars, tag_changes, tag_pages
from wharf.core.history_pages import Entry
from wharf.core.paging import Paged
from wharf.core.repositories import RepositoryRecord
from wharf.core.tag_pages import Sort, TagPage, TagRow
from wharf.db.engine import Db
from wharf.runtime import Runtime

RECENT = 10
"""Tags the Information tab offers to pull, newest first."""


@dataclass(frozen=True, slots=True)
class Overview:
    """What every tab of a repository shows, and the Information tab's pull commands."""

    description: str | None
    starred: bool
    pull: TagRow | None
    """The tag whose pull commands the Information tab shows: the one asked for, else the newest."""
    recent: list[TagRow]
    size_bytes: int = 0
    """The repository's stored size (core/quotas.py): one indexed read, no sum over its images."""


async def overview(rt: Runtime, repo: RepositoryRecord, account_id: int | None, tag: str = "") -> Overview:
    def read(db: Db) -> Overview:
        recent = tag_pages.page(db, repo.id, sort="modified", descending=True, per_page=RECENT).rows
        chosen = tag_pages.one(db, repo.id, tag) if tag else None
        return Overview(
            repositories.description(db, repo.id),
            bool(stars.starred_among(db, account_id, [repo.id])),
            chosen or (recent[0] if recent else None),
            recent,
            quotas.repository_sizes(db, [repo.id]).get(repo.id, 0),
        )

    return await rt.db.read(read)


@dataclass(frozen=True, slots=True)
class TagsTab:
    overview: Overview
    page: TagPage
    chosen: TagRow | None
    """The tag whose panel of changes is open, if any."""


async def tags_tab(
    rt: Runtime,
    repo: RepositoryRecord,
    account_id: int | None,
    *,
    pattern: str,
    sort: Sort,
    descending: bool,
    page: int,
    per_page: int,
    chosen: str,
) -> TagsTab:
    """One page of the Tags tab (see core/tag_pages.page), and the tag `chosen` for its panel."""

    def read(db: Db) -> TagsTab:
        found = tag_pages.page(
            db, repo.id, pattern=pattern, sort=sort, descending=descending, page=page, per_page=per_page
        )
        head = Overview(
            repositories.description(db, repo.id),
            bool(stars.starred_among(db, account_id, [repo.id])),
            None,
            [],
        )
        return TagsTab(head, found, tag_pages.one(db, repo.id, chosen) if chosen else None)

    return await rt.db.read(read)


@dataclass(frozen=True, slots=True)
class HistoryTab:
    overview: Overview
    history: Paged[Entry]


async def history_tab(
    rt: Runtime,
    repo: RepositoryRecord,
    account_id: int | None,
    *,
    pattern: str = "",
    page: int = 1,
    per_page: int = 50,
) -> HistoryTab:
    """One page of the tag lifetimes matching `pattern` (a name prefix or glob), newest first,
    with the total."""

    def read(db: Db) -> HistoryTab:
        found = history_pages.page(db, repo.id, pattern=pattern, page=page, per_page=per_page)
        head = Overview(
            repositories.description(db, repo.id),
            bool(stars.starred_among(db, account_id, [repo.id])),
            None,
            [],
        )
        return HistoryTab(head, found)

    return await rt.db.read(read)


# The tag changes of the Tags and Tag history tabs, each one transaction through core/tag_changes
# (which checks the repository's state and writes the audit entry).


async def point(rt: Runtime, repo: RepositoryRecord, tag: str, digest: str, by: audit.Actor) -> None:
    await rt.db.write(tag_changes.point, repo, tag, digest, by)


async def delete(rt: Runtime, repo: RepositoryRecord, tag: str, by: audit.Actor) -> None:
    await rt.db.write(tag_changes.delete, repo, tag, by)


async def set_expiration(
    rt: Runtime, repo: RepositoryRecord, tag: str, expires_ms: int | None, by: audit.Actor
) -> None:
    await rt.db.write(tag_changes.set_expiration, repo, tag, expires_ms, by)


async def set_immutable(
    rt: Runtime, repo: RepositoryRecord, tag: str, immutable: bool, by: audit.Actor
) -> None:
    await rt.db.write(tag_changes.set_immutable, repo, tag, immutable, by)


async def revert(rt: Runtime, view: RepositoryView, tag: str, digest: str, by: audit.Actor) -> None:
    """Point `tag` back at `digest`, within the namespace's time-machine window."""
    window_s = tag_changes.time_machine_s(rt.settings.DEFAULT_TAG_EXPIRATION, view.namespace)
    await rt.db.write(tag_changes.revert, view.repo, tag, digest, window_s * 1000, by)


async def forget(rt: Runtime, repo: RepositoryRecord, tag: str, digest: str, by: audit.Actor) -> int:
    """Remove `tag`'s past lifetimes on `digest` for good; how many there were."""
    removed: int = await rt.db.write(tag_changes.forget, repo, tag, digest, False, by)
    return removed


async def star(rt: Runtime, account_id: int, repo: RepositoryRecord, starred: bool) -> None:
    if starred:
        await rt.db.write(stars.star, account_id, repo.id)
    else:
        await rt.db.write(stars.unstar, account_id, repo.id)

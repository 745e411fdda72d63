"""Repositories as the API lists, searches, shows and creates them: each is one transaction that
gathers what a page of results needs (stars, sizes, activity), so a surface renders without
composing transactions itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false

from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.core import accounts, audit, find, orgs, provision, pull_stats, quotas, repositories, stars
from wharf.core.repositories import RepositoryRecord, RepositorySummary, TagSummary
from wharf.db.engine import Db
from wharf.oci.names import InvalidNameError, RepositoryName
from wharf.runtime import Runtime


async def create(
    rt: Runtime,
    namespace: str,
    name: str,
    *,
    visibility: str,
    description: str | None,
    creator_id: int | None,
    by: audit.Actor,
) -> RepositoryRecord:
    """A new, empty repository with its description (raises AlreadyExists)."""

    def apply(db: Db) -> RepositoryRecord:
        repo = provision.create_repository(
            db, namespace, name, visibility=visibility, creator_id=creator_id, actor=by
        )
        if description:
            repositories.describe_new(db, repo, description)
        return repo

    return await rt.db.write(apply)


@dataclass(frozen=True, slots=True)
class Page:
    """Repositories of one page, with what the caller asked to know about each."""

    repos: list[RepositorySummary]
    more: bool
    starred: set[int]
    modified: dict[int, int] | None
    actions: dict[int, int] | None
    sizes: dict[int, int]
    configured: dict[str, int | None]
    """Each namespace's quota (Quay's configured_quota), by name."""


async def listing_page(
    rt: Runtime,
    account_id: int | None,
    *,
    visible: ColumnElement[bool] | None,
    include_public: bool,
    namespace: str | None,
    starred_by: int | None,
    after: str | None,
    page_size: int,
    modified: bool,
    popularity_since_ms: int | None,
) -> Page:
    """A page of `repositories.listing`: which of them `account_id` starred, their sizes, and when
    asked their last change and their activity since `popularity_since_ms`."""

    def read(db: Db) -> Page:
        found = repositories.listing(
            db,
            visible=visible,
            include_public=include_public,
            namespace=namespace,
            starred_by=starred_by,
            after=after,
            limit=page_size + 1,
        )
        page = found[:page_size]
        ids = [r.id for r in page]
        return Page(
            page,
            len(found) > page_size,
            stars.starred_among(db, account_id, ids),
            repositories.last_modified(db, ids) if modified else None,
            repositories.activity(db, ids, popularity_since_ms) if popularity_since_ms is not None else None,
            quotas.repository_sizes(db, ids),
            quotas.configured_by_name(
                db, [r.namespace for r in page], rt.settings.DEFAULT_SYSTEM_REJECT_QUOTA_BYTES
            ),
        )

    return await rt.db.read(read)


SCOPES = ("mine", "starred", "public", "readable")
"""What a repository list shows: the repositories the caller may see through its own namespace,
its teams and grants (and public ones when the registry lists them: FEATURE_PUBLIC_CATALOG); those
it starred; public ones; everything it may read."""


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a repository list."""

    repo: repositories.Listed
    starred: bool
    stars: int
    tags: int
    size: int | None
    """Bytes of the blobs its manifests reference, each counted once; None without manifests."""
    modified_ms: int | None
    """When a tag last started or ended (a push, a retag, a deletion); None without tags."""
    pulls: int = 0
    """Manifest pulls counted by the pull statistics (core/pull_stats)."""


@dataclass(frozen=True, slots=True)
class Browsed:
    """A page of a repository list: its rows, how many repositories match in all, and the
    1-based number of the page read (a number past the end reads the last page)."""

    rows: list[Row]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def first(self) -> int:
        """The position of the page's first row among all that match (1-based; 0 when none)."""
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.page_size + len(self.rows)


async def browse(
    rt: Runtime,
    who: Identity,
    *,
    scope: str = "readable",
    namespace: str | None = None,
    contains: str = "",
    page: int = 1,
    page_size: int = 50,
) -> Browsed:
    """One page, in name order, of the repositories `who` may see in `scope` (one of SCOPES),
    optionally only in `namespace` and whose name (`namespace/name` across namespaces) contains
    `contains`; with the stars, live tag counts, sizes, last change and pulls of the page's rows. The
    permission resolver decides what is seen: a repository `who` may not read is never listed nor
    counted."""
    visible = permissions.visible_repositories(who, rt.settings)
    public = permissions.may_read_public(who, rt.settings)
    me = None if who.is_anonymous else who.account_id
    include_public = public and scope != "mine"
    if (scope == "starred" and me is None) or (scope == "public" and not public):
        visible, include_public = false(), False
    starred_by = me if scope == "starred" else None

    def read(db: Db) -> Browsed:
        found, total, offset = repositories.browse(
            db,
            visible=visible,
            include_public=include_public,
            public_only=scope == "public",
            namespace=namespace,
            starred_by=starred_by,
            contains=contains,
            offset=(max(1, page) - 1) * page_size,
            limit=page_size,
        )
        ids = [r.id for r in found]
        mine = stars.starred_among(db, me, ids)
        star_counts = stars.counts(db, ids)
        tags = repositories.live_tag_counts(db, ids)
        sizes = quotas.repository_sizes(db, ids)  # stored by the accounting: no join over the manifests
        modified = repositories.last_modified(db, ids)
        pulls = pull_stats.of_repositories(db, ids)
        rows = [
            Row(
                r,
                r.id in mine,
                star_counts.get(r.id, 0),
                tags.get(r.id, 0),
                sizes.get(r.id),
                modified.get(r.id),
                pulls.get(r.id, pull_stats.NEVER).count,
            )
            for r in found
        ]
        return Browsed(rows, total, offset // page_size + 1, page_size)

    return await rt.db.read(read)


async def creatable_namespaces(rt: Runtime, who: Identity) -> list[str]:
    """The caller's own namespace, then the organizations it may create repositories in."""

    def read(db: Db) -> list[str]:
        names = [who.name] if who.name and not who.is_anonymous else []
        if who.account_id is None or who.is_anonymous:
            return names
        if permissions.is_restricted(db, rt.settings, who):
            names = []  # a restricted user creates nothing in their own namespace
        for org, _roles in orgs.of_member(db, who.account_id):
            if permissions.can_create_in(db, rt.settings, who, org):
                names.append(org.name)
        return names

    return await rt.db.read(read)


Usage = tuple[dict[int, int], dict[int, int], dict[int, int]]
"""Per repository id: last modified (ms), stars, actions in the popularity window."""


async def search_page(
    rt: Runtime,
    *,
    visible: ColumnElement[bool] | None,
    include_public: bool,
    query: str,
    offset: int,
    page_size: int,
    popularity_since_ms: int | None,
) -> tuple[list[RepositorySummary], Usage | None]:
    """`repositories.search` for one page plus one (to tell whether more follow), with the usage of
    the page's repositories when `popularity_since_ms` is given."""

    def read(db: Db) -> tuple[list[RepositorySummary], Usage | None]:
        found = repositories.search(
            db,
            visible=visible,
            include_public=include_public,
            query=query,
            offset=offset,
            limit=page_size + 1,
        )
        ids = [r.id for r in found[:page_size]]
        usage = (
            (
                repositories.last_modified(db, ids),
                stars.counts(db, ids),
                repositories.activity(db, ids, popularity_since_ms),
            )
            if popularity_since_ms is not None
            else None
        )
        return found, usage

    return await rt.db.read(read)


@dataclass(frozen=True, slots=True)
class FoundAll:
    teams: list[find.Found]
    robots: list[find.Found]
    repositories: list[RepositorySummary]
    namespaces: list[find.Found]


async def find_all(
    rt: Runtime,
    me: int | None,
    *,
    visible: ColumnElement[bool] | None,
    include_public: bool,
    query: str,
    limit: int,
) -> FoundAll:
    """Teams and robots of `me` (when signed in), readable repositories and namespaces whose name
    contains `query`, at most `limit` of each."""

    def read(db: Db) -> FoundAll:
        return FoundAll(
            find.teams(db, me, query, limit) if me is not None else [],
            find.robots(db, me, query, limit) if me is not None else [],
            repositories.search(
                db, visible=visible, include_public=include_public, query=query, offset=0, limit=limit
            ),
            find.namespaces(db, query, limit),
        )

    return await rt.db.read(read)


@dataclass(frozen=True, slots=True)
class Detail:
    description: str | None
    starred: bool
    tags: list[TagSummary] | None
    daily: dict[int, int] | None


async def detail(
    rt: Runtime,
    repo: RepositoryRecord,
    account_id: int | None,
    *,
    max_tags: int | None,
    stats_since_ms: int | None,
) -> Detail:
    """What the repository's page shows besides its record: description, whether `account_id`
    starred it, up to `max_tags` live tags and daily activity since `stats_since_ms` (when given)."""

    def read(db: Db) -> Detail:
        return Detail(
            repositories.description(db, repo.id),
            bool(stars.starred_among(db, account_id, [repo.id])),
            repositories.live_tags(db, repo.id, max_tags) if max_tags is not None else None,
            repositories.daily_activity(db, repo.id, stats_since_ms) if stats_since_ms is not None else None,
        )

    return await rt.db.read(read)


async def delete(rt: Runtime, repo: RepositoryRecord, actor: audit.Actor | None) -> None:
    """Delete the repository (deleteRepository, the settings page's Delete). Its build triggers
    go with it; first, those connected to GitHub, GitLab or Bitbucket have their deploy key and
    webhook removed there, as deleting each would (a service that refuses does not keep the
    repository: the log names what is left to remove by hand)."""
    # Imported here: the builds' modules stay out of a server until it meets a build or trigger.
    from wharf.services import build_triggers

    await build_triggers.uninstall_all(rt, repo)
    await rt.db.write(repositories.delete_repo, repo, actor)


async def absent_and_admined(rt: Runtime, who: Identity, repository: str) -> bool:
    """Whether `repository` does not exist and `who` would administer it (its namespace's owner or
    admins, a superuser): deleting it is then done, as on Quay."""

    def read(db: Db) -> bool:
        try:
            name = RepositoryName.parse(repository, rt.settings.LIBRARY_NAMESPACE)
        except InvalidNameError:
            return False
        if repositories.get(db, name.namespace, name.name) is not None:
            return False
        return permissions.administers_namespace(db, who, accounts.get_by_name(db, name.namespace))

    return await rt.db.read(read)

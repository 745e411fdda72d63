"""Repositories: lookup, creation, listing and search, description, visibility and state."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
    update,
)

from wharf.core import audit, quotas, revocation
from wharf.core._sql import dialect_insert, first, strings
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput, NamespaceNotFound, ReadOnly, RepositoryNotFound
from wharf.core.tags import MANIFEST_SIZE
from wharf.db.engine import Db
from wharf.db.models import (
    Account,
    LogEntry,
    Manifest,
    ProxyCacheConfig,
    Repository,
    Star,
    Tag,
)

NORMAL, READ_ONLY, MIRROR, ORG_MIRROR = 0, 1, 2, 4  # Quay's numbers (3 is MARKED_FOR_DELETION)
STATE_NAMES = {NORMAL: "NORMAL", READ_ONLY: "READ_ONLY", MIRROR: "MIRROR", ORG_MIRROR: "ORG_MIRROR"}
MIRRORED = (MIRROR, ORG_MIRROR)
"""States whose repository only its mirror's robot writes to (ORG_MIRROR: created by an
organization mirror, core/org_mirrors.py, each with a repository mirror of its own)."""
STATES = {name: state for state, name in STATE_NAMES.items()}

REGISTRY_READ_ONLY = (
    "System is currently read-only for maintenance. Pulls will succeed but all write operations "
    "are currently suspended."
)
"""What every surface answers to a write while REGISTRY_STATE is `readonly`."""


@dataclass(frozen=True, slots=True)
class RepositoryRecord:
    id: int
    namespace_id: int
    namespace: str
    name: str
    visibility: str
    state: int

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"


_COLUMNS = (
    Repository.id,
    Repository.namespace_id,
    Account.name.label("namespace"),
    Repository.name,
    Repository.visibility,
    Repository.state,
)


# Hot-path statements are built once: building and cache-keying a select costs more than running it.
_GET = (
    select(*_COLUMNS)
    .join(Account, Account.id == Repository.namespace_id)
    .where(Repository.full_name == bindparam("full_name"))
)


_GET_AS = (
    select(*_COLUMNS, revocation.GENERATION_OF_CALLER)
    .join(Account, Account.id == Repository.namespace_id)
    .where(Repository.full_name == bindparam("full_name"))
)


GET_AS = _GET_AS
"""The repository by `full_name` and, last, the caller's generation (bind `account_id`): for a
statement that reads more with them (core/uploads.py `find_as`)."""


# The /v2 reads (a manifest, a blob, a tag page) are each one statement that starts from this:
# one row whether or not the repository exists (outer joins from a one-row source), so that a
# missing repository still tells its caller's generation ("revoked" or "not found") without a
# second statement, which matters for a push that looks up each of its blobs before the
# repository exists. Each join is one index search.
_ONE_ROW = select(literal_column("1").label("one")).subquery("one_row")


def lookup_statement(*columns: Any) -> Select[Any]:
    """A hot statement (bind `full_name` and `account_id`) of the repository's columns, the caller's
    generation and then `columns`, in one row; outer-join to it what `columns` read."""
    return (
        select(*_COLUMNS, revocation.GENERATION_OF_CALLER, *columns)
        .select_from(_ONE_ROW)
        .outerjoin(Repository, Repository.full_name == bindparam("full_name"))
        .outerjoin(Account, Account.id == Repository.namespace_id)
    )


LookupQuery = tuple[Select[Any], dict[str, Any]]
"""A `lookup_statement` and its parameters, for `Database.first_row`."""


def lookup_params(namespace: str, name: str, account_id: int | None, **more: Any) -> dict[str, Any]:
    return {"full_name": f"{namespace}/{name}", "account_id": account_id, **more}


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a `lookup_statement` row says: the repository (None when there is none), the caller's
    credential generation (None without an account, or when it is gone or disabled) and the
    statement's own columns."""

    repository: RepositoryRecord | None
    generation: int | None
    rest: tuple[Any, ...]


_LOOKUP_WIDTH = len(_COLUMNS)


def looked_up(row: tuple[Any, ...] | None) -> Lookup:
    if row is None:
        raise AssertionError("a lookup statement gives one row")
    width = _LOOKUP_WIDTH
    repo = None if row[0] is None else RepositoryRecord(*row[:width])
    generation = None if row[width] is None else int(row[width])
    return Lookup(repo, generation, row[width + 1 :])


_TAG_LIST_LOOKUP = lookup_statement(Repository.tags_version)
"""The tag list's lookup, with the repository's `tags_version` (core/tag_list_cache.py)."""


def listed_lookup(namespace: str, name: str, account_id: int | None) -> LookupQuery:
    """The tag list's statement and parameters; its row reads with `looked_up`, the version last."""
    return _TAG_LIST_LOOKUP, lookup_params(namespace, name, account_id)


def get(db: Db, namespace: str, name: str) -> RepositoryRecord | None:
    row = first(db, _GET, {"full_name": f"{namespace}/{name}"})  # every /v2 request: core/_sql.py
    return RepositoryRecord(*row) if row else None


def get_by_id(db: Db, repository_id: int) -> RepositoryRecord | None:
    statement = (
        select(*_COLUMNS)
        .join(Account, Account.id == Repository.namespace_id)
        .where(Repository.id == repository_id)
    )
    row = db.execute(statement).first()
    return RepositoryRecord(*row) if row else None


@dataclass(frozen=True, slots=True)
class NamespaceKey:
    """What creating a repository needs of its namespace: read with the failed lookup (`get_as`),
    so that a first push does not read it again."""

    id: int
    kind: str


# `get_as` in one statement whether or not the repository exists: the namespace's row, and the
# repository outer-joined to it (its columns NULL when there is none). A first push's HEAD and the
# POST that creates the repository learn the namespace it goes to from the same read that missed.
_IN_NAMESPACE_AS = (
    select(Account.id, Account.kind, revocation.GENERATION_OF_CALLER, *_COLUMNS)
    .select_from(Account)
    .outerjoin(
        Repository,
        and_(Repository.namespace_id == Account.id, Repository.full_name == bindparam("full_name")),
    )
    .where(Account.name == bindparam("namespace"), Account.kind != "robot")
)


def get_as(
    db: Db, namespace: str, name: str, account_id: int
) -> tuple[RepositoryRecord | None, int | None, NamespaceKey | None]:
    """The repository and the caller's credential generation (core/revocation.py); when the
    repository does not exist, the namespace a first push creates it in (None when there is no
    such namespace). One statement, and one more only when the namespace does not exist."""
    params = {"namespace": namespace, "full_name": f"{namespace}/{name}", "account_id": account_id}
    row = first(db, _IN_NAMESPACE_AS, params)
    if row is None:
        return None, revocation.generation(db, account_id), None
    namespace_id, kind, generation, *columns = row
    caller = None if generation is None else int(generation)
    if columns[0] is None:
        return None, caller, NamespaceKey(namespace_id, kind)
    return RepositoryRecord(*columns), caller, None


def create(
    db: Db,
    namespace: str,
    name: str,
    *,
    visibility: str,
    actor: audit.Actor | None,
) -> RepositoryRecord:
    return create_in(db, namespace, name, visibility=visibility, actor=actor)[0]


_NAMESPACE = select(Account.id, Account.kind).where(
    Account.name == bindparam("namespace"), Account.kind != "robot"
)


@functools.cache
def _insert_new(dialect_name: str) -> Insert:
    # One statement both checks and inserts: an existing name (a unique constraint) inserts nothing.
    return cast(
        Insert, dialect_insert(dialect_name, Repository).on_conflict_do_nothing().returning(Repository.id)
    )


def create_in(
    db: Db,
    namespace: str,
    name: str,
    *,
    visibility: str,
    actor: audit.Actor | None,
    known: NamespaceKey | None = None,
) -> tuple[RepositoryRecord, str]:
    """A new repository and its `create_repo` entry, with the kind of its namespace (user or org),
    in three statements, or two when the namespace is `known` (read by `get_as`)."""
    ns = known or db.execute(_NAMESPACE, {"namespace": namespace}).first()
    if ns is None:
        raise NamespaceNotFound(f"namespace {namespace!r} does not exist")
    row = {
        "namespace_id": ns.id,
        "name": name,
        "full_name": f"{namespace}/{name}",
        "visibility": visibility,
        "state": NORMAL,
        "created_ms": now_ms(),
        # Where the count of its tag changes starts (core/tag_list_cache.py): at random, since a
        # new repository may get the id of one deleted (SQLite reuses the highest rowid) whose
        # pages a process still keeps, and must not find them under the same count.
        "tags_version": secrets.randbits(52),
    }
    repo_id = db.execute(_insert_new(db.dialect.name), row).scalar()
    if repo_id is None:
        raise AlreadyExists(f"repository {namespace}/{name} exists", field="name")
    audit.record(
        db, "create_repo", actor, namespace_id=ns.id, repository_id=repo_id, repo=name, namespace=namespace
    )
    return RepositoryRecord(repo_id, ns.id, namespace, name, visibility, NORMAL), ns.kind


def list_names(db: Db, *, visible: ColumnElement[bool] | None, after: str | None, limit: int) -> list[str]:
    """Full names in lexical order, after `after`, restricted by the caller's `visible` clause."""
    query = select(Repository.full_name).where(visible if visible is not None else true())
    if after:
        query = query.where(Repository.full_name > after)
    return strings(db.execute(query.order_by(Repository.full_name).limit(limit)))


def set_visibility(db: Db, repo: RepositoryRecord, visibility: str, actor: audit.Actor | None) -> None:
    if visibility not in ("public", "private"):
        raise InvalidInput("visibility must be public or private")
    db.execute(update(Repository).where(Repository.id == repo.id).values(visibility=visibility))
    audit.record_for(
        db,
        "change_repo_visibility",
        actor,
        repo,
        visibility=visibility,
    )


def delete_repo(db: Db, repo: RepositoryRecord, actor: audit.Actor | None) -> None:
    """The repository disappears at once with its tags, manifests, links and grants; blobs that no
    other repository links are left to garbage collection."""
    audit.record(
        db,
        "delete_repo",
        actor,
        namespace_id=repo.namespace_id,
        repository_id=None,
        namespace=repo.namespace,
        repo=repo.name,
    )
    revocation.revoke_repository(db, repo.id)
    quotas.release_repository(db, repo.id, repo.namespace_id)
    db.execute(delete(Repository).where(Repository.id == repo.id))


# --- reading for the API: summaries, listing, search, tags and activity -----------------------------


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    id: int
    namespace: str
    name: str
    full_name: str
    description: str | None
    visibility: str
    state: int
    namespace_kind: str
    namespace_email: str | None

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"


_SUMMARY = select(
    Repository.id,
    Account.name.label("namespace"),
    Repository.name,
    Repository.full_name,
    Repository.description,
    Repository.visibility,
    Repository.state,
    Account.kind.label("namespace_kind"),
    Account.email.label("namespace_email"),
).join(Account, Account.id == Repository.namespace_id)

_PUBLIC = Repository.visibility == "public"


def _readable(visible: ColumnElement[bool] | None, include_public: bool) -> ColumnElement[bool]:
    """`visible` (None: everything), widened to public repositories when `include_public`."""
    if visible is None:
        return true()
    if not include_public or visible.compare(_PUBLIC):
        # An anonymous visitor sees the public ones already: said once, the clause is a range of
        # ix_repositories_visibility_full_name (twice, the planners scanned every repository).
        return visible
    return or_(visible, _PUBLIC)


def listing(
    db: Db,
    *,
    visible: ColumnElement[bool] | None,
    include_public: bool,
    namespace: str | None = None,
    starred_by: int | None = None,
    after: str | None = None,
    limit: int,
) -> list[RepositorySummary]:
    """Repositories in full-name order after `after`: those `visible` selects (plus public ones when
    `include_public`), optionally only in one namespace and only those `starred_by` starred."""
    query = _SUMMARY.where(_readable(visible, include_public))
    if namespace is not None:
        query = query.where(Account.name == namespace)
    if starred_by is not None:
        query = query.where(
            Repository.id.in_(select(Star.repository_id).where(Star.account_id == starred_by))
        )
    if after:
        query = query.where(Repository.full_name > after)
    rows = db.execute(query.order_by(Repository.full_name).limit(limit))
    return [RepositorySummary(*r) for r in rows]


def _like_contains(text: str) -> str:
    """A LIKE pattern matching any value that contains `text` (lowercased; `%`, `_` and `\\` literal)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    db: Db,
    *,
    visible: ColumnElement[bool] | None,
    include_public: bool,
    query: str,
    offset: int,
    limit: int,
) -> list[RepositorySummary]:
    """Repositories whose `namespace/name` contains `query` (so the name or the namespace matches)."""
    statement = (
        _SUMMARY.where(
            _readable(visible, include_public), Repository.full_name.like(_like_contains(query), escape="\\")
        )
        .order_by(Repository.full_name)
        .offset(offset)
        .limit(limit)
    )
    return [RepositorySummary(*r) for r in db.execute(statement)]


@dataclass(frozen=True, slots=True)
class Listed:
    """A repository as a list row shows it: the description is only its head (a list shows its
    first line, and a description may be 256 KiB)."""

    id: int
    full_name: str
    visibility: str
    state: int
    description_head: str | None

    @property
    def namespace(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


DESCRIPTION_HEAD = 400
"""Characters of the description a list row reads."""

_LISTED = (
    Repository.id,
    Repository.full_name,
    Repository.visibility,
    Repository.state,
    func.substr(Repository.description, 1, DESCRIPTION_HEAD),
)


def browse(
    db: Db,
    *,
    visible: ColumnElement[bool] | None,
    include_public: bool,
    public_only: bool = False,
    namespace: str | None = None,
    starred_by: int | None = None,
    contains: str = "",
    offset: int,
    limit: int,
) -> tuple[list[Listed], int, int]:
    """One page of the repositories `visible` selects (widened to public ones when
    `include_public`, narrowed to public ones when `public_only`), optionally of one namespace,
    starred by one account, and whose name contains `contains`; with the total that match and
    the offset actually read (an offset past the end reads the last page).

    Across namespaces the order and the filter are on `namespace/name` (the unique full_name
    index); within one namespace on the name (the unique (namespace_id, name) index), which is
    the same order."""
    where = [_readable(visible, include_public)]
    if public_only:
        where.append(_PUBLIC)
    column = Repository.full_name
    if namespace is not None:
        where.append(
            Repository.namespace_id == select(Account.id).where(Account.name == namespace).scalar_subquery()
        )
        column = Repository.name
    if starred_by is not None:
        where.append(Repository.id.in_(select(Star.repository_id).where(Star.account_id == starred_by)))
    if contains:
        where.append(column.like(_like_contains(contains), escape="\\"))
    total = int(db.execute(select(func.count()).select_from(Repository).where(*where)).scalar_one())
    if total == 0:
        return [], 0, 0
    if offset >= total:
        offset = (total - 1) // limit * limit
    # The page's ids first, then their rows: sorting only (id, name) keeps the descriptions' heads
    # out of the sort (PostgreSQL otherwise sorted 10,000 of them on disk for a deep page).
    page = select(Repository.id).where(*where).order_by(column).offset(offset).limit(limit).subquery()
    rows = db.execute(select(*_LISTED).join(page, page.c.id == Repository.id).order_by(column))
    return [Listed(*r) for r in rows], total, offset


_LIVE_TAG_COUNTS = (
    select(Tag.repository_id, func.count())
    .where(
        Tag.repository_id.in_(bindparam("repos", expanding=True)),
        Tag.lifetime_end_ms.is_(None),
        Tag.hidden.is_(False),
        or_(Tag.expires_ms.is_(None), Tag.expires_ms > bindparam("now")),
    )
    .group_by(Tag.repository_id)
)


def live_tag_counts(db: Db, repository_ids: list[int]) -> dict[int, int]:
    """How many alive, visible tags each repository has (read from the live-tag index);
    repositories without any are absent."""
    if not repository_ids:
        return {}
    rows = db.execute(_LIVE_TAG_COUNTS, {"repos": repository_ids, "now": now_ms()})
    return {r[0]: r[1] for r in rows}


_DESCRIPTION = select(Repository.description).where(Repository.id == bindparam("repo"))


def description(db: Db, repository_id: int) -> str | None:
    return db.execute(_DESCRIPTION, {"repo": repository_id}).scalar()


@dataclass(frozen=True, slots=True)
class TagSummary:
    name: str
    manifest_digest: str
    size: int | None
    """Bytes of the blobs the manifest references (config and layers); None for an index."""
    start_ms: int
    expires_ms: int | None


_LIVE_TAGS = (
    select(Tag.name, Manifest.digest, MANIFEST_SIZE, Tag.lifetime_start_ms, Tag.expires_ms)
    .join(Manifest, Manifest.id == Tag.manifest_id)
    .where(
        Tag.repository_id == bindparam("repo"),
        Tag.lifetime_end_ms.is_(None),
        or_(Tag.expires_ms.is_(None), Tag.expires_ms > bindparam("now")),
        Tag.hidden.is_(False),
    )
    .order_by(Tag.name)
    .limit(bindparam("limit"))
)


def live_tags(db: Db, repository_id: int, limit: int) -> list[TagSummary]:
    """The repository's alive tags by name, at most `limit` of them."""
    rows = db.execute(_LIVE_TAGS, {"repo": repository_id, "now": now_ms(), "limit": limit})
    return [TagSummary(*r) for r in rows]


_LAST_MODIFIED = (
    select(Tag.repository_id, func.max(Tag.lifetime_start_ms), func.max(Tag.lifetime_end_ms))
    .where(Tag.repository_id.in_(bindparam("repos", expanding=True)), Tag.hidden.is_(False))
    .group_by(Tag.repository_id)
)


def last_modified(db: Db, repository_ids: list[int]) -> dict[int, int]:
    """When a tag of each repository last started or ended (ms); repositories without tags are absent."""
    if not repository_ids:
        return {}
    rows = db.execute(_LAST_MODIFIED, {"repos": repository_ids})
    return {r[0]: max(r[1], r[2] or 0) for r in rows}


_ACTIVITY = (
    select(LogEntry.repository_id, func.count())
    .where(
        LogEntry.repository_id.in_(bindparam("repos", expanding=True)),
        LogEntry.created_ms >= bindparam("since"),
    )
    .group_by(LogEntry.repository_id)
)


def activity(db: Db, repository_ids: list[int], since_ms: int) -> dict[int, int]:
    """How many audit-log entries (pushes, tag and setting changes...) each repository has since then."""
    if not repository_ids:
        return {}
    rows = db.execute(_ACTIVITY, {"repos": repository_ids, "since": since_ms})
    return {r[0]: r[1] for r in rows if r[0] is not None}


DAY_MS = 86_400_000
_DAY = (LogEntry.created_ms // DAY_MS).label("day")
_DAILY_ACTIVITY = (
    select(_DAY, func.count())
    .where(LogEntry.repository_id == bindparam("repo"), LogEntry.created_ms >= bindparam("since"))
    .group_by(_DAY)
)


def daily_activity(db: Db, repository_id: int, since_ms: int) -> dict[int, int]:
    """Audit-log entries of the repository per UTC day (days since the epoch) since then."""
    return {int(r[0]): r[1] for r in db.execute(_DAILY_ACTIVITY, {"repo": repository_id, "since": since_ms})}


# --- changing a repository's settings ----------------------------------------------------------------

# The state, and whether the namespace is a proxy cache (its repositories follow the upstream:
# only pulls change them, services/proxy_cache_manifests.py), in one statement.
_STATE = select(
    Repository.state,
    exists().where(ProxyCacheConfig.org_id == Repository.namespace_id).label("proxied"),
).where(Repository.id == bindparam("repo"))


def check_writable(repo: RepositoryRecord) -> None:
    """READ_ONLY and MIRROR repositories accept no change of content or settings, as on Quay
    (a surface checks early with the record it has; core checks again with `require_normal`)."""
    if repo.state != NORMAL:
        raise ReadOnly(
            f"repository {repo.full_name} is in state {STATE_NAMES.get(repo.state, repo.state)}: "
            "it accepts no writes"
        )


def require_normal(db: Db, repo: RepositoryRecord) -> None:
    """`check_writable` with the state read now, in the writing transaction."""
    row = db.execute(_STATE, {"repo": repo.id}).first()
    if row is None:
        raise RepositoryNotFound(f"repository {repo.full_name} not found")
    check_writable(replace(repo, state=row.state))
    if row.proxied:
        raise ReadOnly(
            f"repository {repo.full_name} is in a proxy-cache organization: its tags follow the "
            "upstream registry and change only by pulls"
        )


_SET_DESCRIPTION = (
    update(Repository).where(Repository.id == bindparam("repo")).values(description=bindparam("description"))
)


def set_description(db: Db, repo: RepositoryRecord, text: str, actor: audit.Actor | None) -> None:
    require_normal(db, repo)
    db.execute(_SET_DESCRIPTION, {"repo": repo.id, "description": text})
    audit.record_for(
        db,
        "set_repo_description",
        actor,
        repo,
        description=text,
    )


def describe_new(db: Db, repo: RepositoryRecord, text: str) -> None:
    """The description given when the repository is created (part of its `create_repo` entry)."""
    db.execute(_SET_DESCRIPTION, {"repo": repo.id, "description": text})


def set_state(db: Db, repo: RepositoryRecord, state: int, actor: audit.Actor | None) -> None:
    if state not in STATE_NAMES:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}")
    db.execute(update(Repository).where(Repository.id == repo.id).values(state=state))
    audit.record_for(
        db,
        "change_repo_state",
        actor,
        repo,
        state_changed=STATE_NAMES[state],
    )

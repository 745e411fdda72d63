"""Repositories: lookup, creation on push, listing for the catalog."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, bindparam, delete, insert, select, true, update

from wharf.core import audit
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput, NamespaceNotFound
from wharf.db.engine import Db
from wharf.db.models import Account, Repository

NORMAL, READ_ONLY, MIRROR = 0, 1, 2


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


def get(db: Db, namespace: str, name: str) -> RepositoryRecord | None:
    row = db.execute(_GET, {"full_name": f"{namespace}/{name}"}).first()
    return RepositoryRecord(*row) if row else None


def create(
    db: Db,
    namespace: str,
    name: str,
    *,
    visibility: str,
    actor: audit.Actor | None,
) -> RepositoryRecord:
    ns = (db.execute(select(Account.id).where(Account.name == namespace, Account.kind != "robot"))).first()
    if ns is None:
        raise NamespaceNotFound(f"namespace {namespace!r} does not exist")
    if get(db, namespace, name) is not None:
        raise AlreadyExists(f"repository {namespace}/{name} exists")
    result = db.execute(
        insert(Repository).values(
            namespace_id=ns.id,
            name=name,
            full_name=f"{namespace}/{name}",
            visibility=visibility,
            state=NORMAL,
            created_ms=now_ms(),
        )
    )
    repo_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    assert repo_id is not None
    audit.record(
        db, "create_repo", actor, namespace_id=ns.id, repository_id=repo_id, repo=name, namespace=namespace
    )
    return RepositoryRecord(repo_id, ns.id, namespace, name, visibility, NORMAL)


def list_names(db: Db, *, visible: ColumnElement[bool] | None, after: str | None, limit: int) -> list[str]:
    """Full names in lexical order, after `after`, restricted by the caller's `visible` clause."""
    query = select(Repository.full_name).where(visible if visible is not None else true())
    if after:
        query = query.where(Repository.full_name > after)
    rows = db.execute(query.order_by(Repository.full_name).limit(limit))
    return [r[0] for r in rows]


def set_visibility(db: Db, repo: RepositoryRecord, visibility: str, actor: audit.Actor | None) -> None:
    if visibility not in ("public", "private"):
        raise InvalidInput("visibility must be public or private")
    db.execute(update(Repository).where(Repository.id == repo.id).values(visibility=visibility))
    audit.record(
        db,
        "change_repo_visibility",
        actor,
        namespace_id=repo.namespace_id,
        repository_id=repo.id,
        namespace=repo.namespace,
        repo=repo.name,
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
    db.execute(delete(Repository).where(Repository.id == repo.id))

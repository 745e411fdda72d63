"""Blobs as a repository sees them: content-addressed storage plus a per-repository link."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Insert, and_, bindparam, delete, func, select

from wharf.core import repositories
from wharf.core._sql import dialect_insert, upsert_touch
from wharf.core.clock import now_ms
from wharf.core.errors import BlobNotFound
from wharf.db.engine import Db
from wharf.db.models import Blob, Repository, RepositoryBlob


@dataclass(frozen=True, slots=True)
class BlobRecord:
    id: int
    digest: str
    size: int


_GET_LINKED = (
    select(Blob.id, Blob.digest, Blob.size)
    .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
    .where(RepositoryBlob.repository_id == bindparam("repo"), Blob.digest == bindparam("digest"))
)


# A blob GET's or HEAD's whole read in one statement, as a manifest GET's (core/manifests.py): the
# repository, the caller's credential generation, and the blob when the repository holds it. The
# link's column says whether it is linked here.
_IN_REPOSITORY = (
    repositories.lookup_statement(RepositoryBlob.blob_id, Blob.digest, Blob.size)
    .outerjoin(Blob, Blob.digest == bindparam("digest"))
    .outerjoin(
        RepositoryBlob,
        and_(RepositoryBlob.repository_id == Repository.id, RepositoryBlob.blob_id == Blob.id),
    )
)


def linked_lookup(namespace: str, name: str, digest: str, account_id: int | None) -> repositories.LookupQuery:
    """The statement and parameters that read the repository, the credential generation of
    `account_id` and the blob `digest` when the repository holds it; its row reads with
    `linked_in`."""
    return _IN_REPOSITORY, repositories.lookup_params(namespace, name, account_id, digest=digest)


def linked_in(found: repositories.Lookup) -> BlobRecord | None:
    """The blob in a `linked_lookup` row, when the repository holds it."""
    blob_id, digest, size = found.rest
    return None if blob_id is None else BlobRecord(int(blob_id), digest, int(size))


# On the path of every finished upload: built once.
_BY_DIGEST = select(Blob.id, Blob.digest, Blob.size).where(Blob.digest == bindparam("digest"))


def get_linked(db: Db, repository_id: int, digest: str) -> BlobRecord | None:
    row = db.execute(_GET_LINKED, {"repo": repository_id, "digest": digest}).first()
    return BlobRecord(*row) if row else None


@functools.cache
def _insert_new(dialect_name: str) -> Insert:
    """INSERT that gives the new row, or nothing when the digest is known already: a new blob (the
    usual finished upload) costs one statement, not an insert and a look-up."""
    statement = dialect_insert(dialect_name, Blob).on_conflict_do_nothing(index_elements=["digest"])
    return cast(Insert, statement.returning(Blob.id, Blob.digest, Blob.size))


def register(db: Db, digest: str, size: int) -> BlobRecord:
    """The blob row for verified content now in storage, created unless a concurrent push won."""
    row = db.execute(
        _insert_new(db.dialect.name), {"digest": digest, "size": size, "created_ms": now_ms()}
    ).first()
    if row is None:
        row = db.execute(_BY_DIGEST, {"digest": digest}).one()
    return BlobRecord(*row)


def link(db: Db, repository_id: int, blob_id: int) -> None:
    """Link a blob into a repository. An existing link is refreshed: garbage collection spares links
    younger than its grace period, so a blob just uploaded or mounted waits for its manifest."""
    upsert_touch(
        db,
        RepositoryBlob,
        {"repository_id": repository_id, "blob_id": blob_id, "created_ms": now_ms()},
        ("repository_id", "blob_id"),
        "created_ms",
    )


def mount_from(
    db: Db, namespace: str, name: str, target_repository_id: int, digest: str, *, if_public: bool = False
) -> bool:
    """Link a blob of repository `namespace/name` into the target; False when the source lacks it
    (or, with `if_public`, is not public)."""
    source = repositories.get(db, namespace, name)
    if source is not None and if_public and not source.is_public:
        return False
    blob = get_linked(db, source.id, digest) if source is not None else None
    if blob is None:
        return False
    link(db, target_repository_id, blob.id)
    return True


def unlink(db: Db, repository_id: int, digest: str) -> None:
    blob = get_linked(db, repository_id, digest)
    if blob is None:
        raise BlobNotFound(f"blob {digest} is not in this repository")
    db.execute(
        delete(RepositoryBlob).where(
            RepositoryBlob.repository_id == repository_id, RepositoryBlob.blob_id == blob.id
        )
    )


def total_size(db: Db) -> int:
    """Bytes of every stored blob, each counted once however many repositories link it."""
    return int(db.execute(select(func.coalesce(func.sum(Blob.size), 0))).scalar_one())

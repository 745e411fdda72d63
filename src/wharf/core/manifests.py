"""Manifests: validated on push, stored whole, served by tag or digest, indexed for referrers."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Insert, Select, and_, bindparam, select, update
from sqlalchemy.orm import aliased

from wharf.core import audit, events, labels, notifications, quotas, repositories, tags
from wharf.core._sql import dialect_insert, first, insert_ignore, lock
from wharf.core.clock import now_ms
from wharf.core.errors import (
    DomainError,
    InvalidDigest,
    InvalidManifest,
    InvalidTag,
    ManifestBlobUnknown,
    ManifestChildUnknown,
    ManifestNotFound,
)
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import (
    Account,
    Blob,
    Manifest,
    ManifestBlob,
    ManifestChild,
    Repository,
    RepositoryBlob,
    Tag,
)
from wharf.oci.digest import Digest, DigestError, is_digest
from wharf.oci.manifest import ManifestError, ParsedManifest, parse_manifest
from wharf.oci.names import is_valid_tag

_ALIVE = Manifest.deleted_ms.is_(None)


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    id: int
    digest: str
    media_type: str
    content: bytes
    subject_digest: str | None = None


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: dict[str, str] | None


def parse_reference(reference: str) -> tuple[Digest | None, str | None]:
    """(digest, tag) a push names: InvalidDigest or InvalidTag when it is neither."""
    if is_digest(reference):
        try:
            return Digest.parse(reference), None
        except DigestError as e:
            raise InvalidDigest(str(e)) from None
    if not is_valid_tag(reference):
        raise InvalidTag(f"invalid tag {reference[:200]!r}")
    return None, reference


def parse(body: bytes, content_type: str | None) -> ParsedManifest:
    """The manifest a push sends, validated: InvalidManifest when it is not one."""
    try:
        return parse_manifest(body, content_type)
    except ManifestError as e:
        raise InvalidManifest(str(e)) from None


def put(
    db: Db,
    repo: RepositoryRecord,
    reference: str,
    body: bytes,
    parsed: ParsedManifest,
    actor: audit.Actor | None,
    config_labels: dict[str, str] | None = None,
    quota: quotas.Enforcement = quotas.OFF,
    *,
    sparse: bool = False,
) -> ManifestRecord:
    """Store a manifest (and point a tag at it). `parsed` is `body` as `parse` gives it (the
    caller parsed it once, to find its configuration); `config_labels` are the labels of that
    configuration, which the caller read from storage: they are recorded, and
    `quay.expires-after` among them schedules the tag's expiry. A manifest new to the repository
    (or back after a deletion) is counted in the sizes; over a Reject limit of `quota`, when it
    adds bytes to the namespace, QuotaExceeded. `sparse` accepts an index some of whose children
    are absent (a mirror filtered by architecture, Quay's sparse index): only the repository
    mirror's sync passes it, a push through /v2 never does."""
    by_digest, tag = parse_reference(reference)
    digest = Digest.of(body, by_digest.algorithm if by_digest else "sha256")
    if by_digest is not None and digest != by_digest:
        raise InvalidDigest(f"manifest digest is {digest}, not {by_digest}")

    # Garbage collection sweeps a repository under the exclusive form of this lock: it sees this
    # manifest's references once committed, and never removes a link this push just checked.
    # Taken once for the whole push (tags.point is told it is held).
    lock(db, "repository-gc", repo.id, shared=True)
    blobs = _required_blobs(db, repo.id, parsed)
    child_ids = _required_children(db, repo.id, parsed, sparse=sparse)
    manifest_id, counted_before = _upsert(db, repo.id, str(digest), body, parsed)
    insert_ignore(db, ManifestBlob, [{"manifest_id": manifest_id, "blob_id": b} for b in blobs])
    if not counted_before:
        quotas.add_blobs(db, repo.id, repo.namespace_id, blobs, quota, refuse=True, actor=actor)
    insert_ignore(db, ManifestChild, [{"manifest_id": manifest_id, "child_id": c} for c in child_ids])
    if config_labels:
        labels.record_from_manifest(db, manifest_id, config_labels)
    armed = False
    if tag is not None:
        lifetime_ms = labels.expires_after_ms(config_labels or {})
        expires_ms = now_ms() + lifetime_ms if lifetime_ms else None
        _, armed = tags.point_reading(
            db, repo.id, tag, manifest_id, notifications.ARMED_FOR_PUSH, expires_ms=expires_ms, gc_locked=True
        )
    audit.record_for(
        db,
        "push_repo",
        actor,
        repo,
        tag=tag,
        manifest_digest=str(digest),
    )
    if armed:
        notifications.fire(
            db,
            "repo_push",
            events.repository_data(
                actor.origin if actor else None, repo.namespace, repo.name, updated_tags=[tag]
            ),
            actor,
            repository_id=repo.id,
            context={"manifest_digest": str(digest), "visibility": repo.visibility},
        )
    subject = str(parsed.subject.digest) if parsed.subject else None
    return ManifestRecord(manifest_id, str(digest), parsed.media_type, body, subject)


def store_pulled(
    db: Db, repo: RepositoryRecord, body: bytes, parsed: ParsedManifest
) -> tuple[ManifestRecord, bool]:
    """Store a manifest a proxy cache pulled from its upstream (core/proxy_cache.py), whose blobs
    may not be stored yet: only its children must be (an index's images are pulled first). The
    caller holds the repository's shared GC lock, links the blobs it has and counts them in the
    sizes: the second value says whether the sizes counted this manifest already. Never refused
    by a quota: a proxy cache makes room by evicting (core/proxy_cache_eviction.py)."""
    digest = str(Digest.of(body))
    child_ids = _required_children(db, repo.id, parsed)
    manifest_id, counted = _upsert(db, repo.id, digest, body, parsed)
    insert_ignore(db, ManifestChild, [{"manifest_id": manifest_id, "child_id": c} for c in child_ids])
    subject = str(parsed.subject.digest) if parsed.subject else None
    return ManifestRecord(manifest_id, digest, parsed.media_type, body, subject), counted


_LINKED_BLOBS = (
    select(Blob.id, Blob.digest, Blob.size)
    .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
    .where(
        RepositoryBlob.repository_id == bindparam("repo"),
        Blob.digest.in_(bindparam("digests", expanding=True)),
    )
)
_LIVE_MANIFESTS = select(Manifest.id, Manifest.digest).where(
    Manifest.repository_id == bindparam("repo"),
    Manifest.digest.in_(bindparam("digests", expanding=True)),
    _ALIVE,
)
_EXISTING = select(Manifest.id, Manifest.deleted_ms).where(
    Manifest.repository_id == bindparam("repo"), Manifest.digest == bindparam("digest")
)


@functools.cache
def _insert_new(dialect_name: str) -> Insert:
    """INSERT that gives the new row's id, or nothing when the repository has the digest already:
    a new manifest (the usual push) costs one statement, not a look-up first."""
    statement = dialect_insert(dialect_name, Manifest).on_conflict_do_nothing(
        index_elements=["repository_id", "digest"]
    )
    return cast(Insert, statement.returning(Manifest.id))


def _required_blobs(db: Db, repository_id: int, parsed: ParsedManifest) -> dict[int, int]:
    """{blob id: size} of the blobs the manifest references, all linked to the repository."""
    wanted = {str(d.digest) for d in parsed.required_blobs}
    if not wanted:
        return {}
    rows = db.execute(_LINKED_BLOBS, {"repo": repository_id, "digests": list(wanted)}).all()
    found = {r.digest for r in rows}
    for d in parsed.required_blobs:
        if str(d.digest) not in found:
            raise ManifestBlobUnknown(f"blob {d.digest} is not in this repository", digest=str(d.digest))
    return {r.id: r.size for r in rows}


def _required_children(
    db: Db, repository_id: int, parsed: ParsedManifest, *, sparse: bool = False
) -> list[int]:
    """The ids of the index's children, all stored in the repository (or, `sparse`, those that
    are: the others are simply not linked, and pulling them answers MANIFEST_UNKNOWN)."""
    wanted = {str(d.digest) for d in parsed.children}
    if not wanted:
        return []
    rows = db.execute(_LIVE_MANIFESTS, {"repo": repository_id, "digests": list(wanted)})
    found = {r.digest: r.id for r in rows}
    if sparse:
        return list(found.values())
    for d in parsed.children:
        if str(d.digest) not in found:
            raise ManifestChildUnknown(f"manifest {d.digest} is not in this repository", digest=str(d.digest))
    return list(found.values())


def _upsert(db: Db, repository_id: int, digest: str, body: bytes, parsed: ParsedManifest) -> tuple[int, bool]:
    """(the manifest's id, whether the sizes counted it already): False for a new manifest and
    for one that comes back after a deletion by digest."""
    new_id = db.execute(
        _insert_new(db.dialect.name),
        {
            "repository_id": repository_id,
            "digest": digest,
            "media_type": parsed.media_type,
            "content": body,
            "size": len(body),
            "config_media_type": parsed.config_media_type,
            "artifact_type": parsed.artifact_type,
            "subject_digest": str(parsed.subject.digest) if parsed.subject else None,
            "annotations_json": json.dumps(parsed.annotations) if parsed.annotations else None,
            "created_ms": now_ms(),
            "deleted_ms": None,
        },
    ).scalar()
    if new_id is not None:
        return int(new_id), False
    row = db.execute(_EXISTING, {"repo": repository_id, "digest": digest}).one()
    return int(row.id), not (row.deleted_ms is not None and _undelete(db, row.id))


def _undelete(db: Db, manifest_id: int) -> bool:
    """Bring a deleted manifest back; False when it was not deleted (a concurrent push did it:
    on PostgreSQL the condition is checked again on the locked row, so it is counted once)."""
    result = db.execute(
        update(Manifest)
        .where(Manifest.id == manifest_id, Manifest.deleted_ms.is_not(None))
        .values(deleted_ms=None)
    )
    return bool(result.rowcount)


_RECORD = (Manifest.id, Manifest.digest, Manifest.media_type, Manifest.content, Manifest.subject_digest)


_BY_DIGEST = select(*_RECORD).where(
    Manifest.repository_id == bindparam("repo"), Manifest.digest == bindparam("ref"), _ALIVE
)
_BY_TAG = (
    select(*_RECORD)
    .join(Tag, Tag.manifest_id == Manifest.id)
    .where(
        Tag.repository_id == bindparam("repo"),
        Tag.name == bindparam("ref"),
        tags.ALIVE,
        Tag.hidden.is_(False),
        Manifest.repository_id == bindparam("repo"),
        _ALIVE,
    )
)


def get(db: Db, repository_id: int, reference: str) -> ManifestRecord:
    by_digest, tag = _lookup_reference(reference)
    query = _BY_DIGEST if by_digest is not None else _BY_TAG
    params = {"repo": repository_id, "ref": by_digest or tag, "now": now_ms()}
    row = db.execute(query, params).first()
    if row is None:
        raise ManifestNotFound(f"manifest {reference[:200]} is not in this repository")
    return ManifestRecord(*row)


def _lookup_reference(reference: str) -> tuple[str | None, str | None]:
    """(digest, tag) to look a reference up by, or the error a reference that is neither raises."""
    if not is_digest(reference) and not is_valid_tag(reference):
        raise ManifestNotFound(f"no manifest {reference[:200]!r}: it is neither a valid tag nor a digest")
    by_digest, tag = parse_reference(reference)
    return (str(by_digest) if by_digest else None), tag


# A manifest GET's whole read in one statement: the repository and the caller's credential
# generation (`repositories.lookup_statement`: one row even when the repository is missing), the
# namespace's pull policy (a column of the account row it joins anyway) and the manifest,
# outer-joined so that a missing manifest still gives the repository. On PostgreSQL every
# statement is a round trip; this is the only one a GET makes.
_REPOSITORY = repositories.lookup_statement(Account.secscan_pull_policy, *_RECORD)
_IN_REPOSITORY_BY_DIGEST = _REPOSITORY.outerjoin(
    Manifest,
    and_(Manifest.repository_id == Repository.id, Manifest.digest == bindparam("ref"), _ALIVE),
)
# Two chained outer joins, not one outer join of (tags JOIN manifests): SQLite materializes such a
# nested join for every alive tag of every repository (through the index on expires_ms) before
# matching the repository, so a GET by tag cost grew with the registry's tag count (2 ms against
# 0.9 by digest with 2,000 tags elsewhere). Chained, each side is one index search.
_IN_REPOSITORY_BY_TAG = _REPOSITORY.outerjoin(
    Tag,
    and_(
        Tag.repository_id == Repository.id,
        Tag.name == bindparam("ref"),
        tags.ALIVE,
        Tag.hidden.is_(False),
    ),
).outerjoin(
    Manifest,
    and_(Manifest.id == Tag.manifest_id, Manifest.repository_id == Repository.id, _ALIVE),
)


@dataclass(frozen=True, slots=True)
class PullRead:
    """What a manifest GET reads in its one statement."""

    repository: RepositoryRecord | None
    generation: int | None
    """The credential generation of the caller's account; None without an account, or when it
    is gone or disabled."""
    pull_policy: str | None
    """The namespace's pull policy as stored (JSON text), None when it has none."""
    manifest: ManifestRecord | DomainError
    """The manifest, or in its place the error `get` would raise: the caller decides whether the
    repository's checks come first."""


@dataclass(frozen=True, slots=True)
class PullQuery:
    """A manifest GET's statement with its parameters, and how to read its row: built without a
    connection, so that the surface's service can run it on its own (`Database.first_row`)."""

    statement: Select[Any]
    params: dict[str, Any]
    reference: str
    error: DomainError | None
    """What a reference that is neither a tag nor a digest raises, once the repository's checks
    have passed."""

    def read(self, row: tuple[Any, ...] | None) -> PullRead:
        """What the statement's row says."""
        found = repositories.looked_up(row)
        policy, *record = found.rest
        if found.repository is None or record[0] is None:
            return PullRead(
                found.repository, found.generation, policy, self.error or _not_here(self.reference)
            )
        return PullRead(found.repository, found.generation, policy, ManifestRecord(*record))


def pull_query(namespace: str, name: str, reference: str, account_id: int | None) -> PullQuery:
    """The one statement that reads the repository, the credential generation of `account_id`,
    the namespace's pull policy and the manifest `reference` names in it."""
    error: DomainError | None = None
    try:
        by_digest, tag = _lookup_reference(reference)
    except DomainError as e:
        by_digest, tag, error = None, None, e
    # A reference that is neither a tag nor a digest matches nothing: no tag has its form.
    params = repositories.lookup_params(namespace, name, account_id, ref=by_digest or tag or "", now=now_ms())
    statement = _IN_REPOSITORY_BY_DIGEST if by_digest is not None else _IN_REPOSITORY_BY_TAG
    return PullQuery(statement, params, reference, error)


def get_with_repository(
    db: Db, namespace: str, name: str, reference: str, account_id: int | None
) -> PullRead:
    """`pull_query`'s read in a transaction."""
    query = pull_query(namespace, name, reference, account_id)
    return query.read(first(db, query.statement, query.params))


def _not_here(reference: str) -> ManifestNotFound:
    # Built only on a miss: an exception object is not free, and every pull that finds its
    # manifest would otherwise pay for one.
    return ManifestNotFound(f"manifest {reference[:200]} is not in this repository")


def delete(db: Db, repo: RepositoryRecord, reference: str, actor: audit.Actor | None) -> None:
    """DELETE by tag removes the tag; by digest it removes the manifest and every tag on it."""
    by_digest, tag = parse_reference(reference)
    if tag is not None:
        manifest_id = tags.remove(db, repo.id, tag)
        digest = (db.execute(select(Manifest.digest).where(Manifest.id == manifest_id))).scalar_one()
        audit.record_for(
            db,
            "delete_tag",
            actor,
            repo,
            tag=tag,
            manifest_digest=digest,
        )
        return
    row = (
        db.execute(
            select(Manifest.id).where(
                Manifest.repository_id == repo.id, Manifest.digest == str(by_digest), _ALIVE
            )
        )
    ).first()
    if row is None:
        raise ManifestNotFound(f"manifest {by_digest} is not in this repository")
    removed = tags.remove_all_for(db, repo.id, row.id)
    # Released before it is marked (the hook counts alive manifests), and only by the deletion that
    # marks it: two concurrent deletions of one digest release it once.
    quotas.release_manifests(db, repo.id, [row.id])
    marked = db.execute(
        update(Manifest).where(Manifest.id == row.id, _ALIVE).values(deleted_ms=now_ms())
    ).rowcount
    if not marked:
        raise ManifestNotFound(f"manifest {by_digest} is not in this repository")
    audit.record_for(
        db,
        "delete_manifest",
        actor,
        repo,
        manifest_digest=str(by_digest),
        tags=removed,
    )


def referrers(db: Db, repository_id: int, subject: str, artifact_type: str | None) -> list[Referrer]:
    query = select(
        Manifest.digest, Manifest.media_type, Manifest.size, Manifest.artifact_type, Manifest.annotations_json
    ).where(Manifest.repository_id == repository_id, Manifest.subject_digest == subject, _ALIVE)
    if artifact_type is not None:
        query = query.where(Manifest.artifact_type == artifact_type)
    rows = db.execute(query.order_by(Manifest.id))
    return [
        Referrer(
            r.digest,
            r.media_type,
            r.size,
            r.artifact_type,
            json.loads(r.annotations_json) if r.annotations_json else None,
        )
        for r in rows
    ]


def id_by_digest(repository_id: int, digest: str, *, include_deleted: bool = False) -> Select[int]:
    query = select(Manifest.id).where(Manifest.repository_id == repository_id, Manifest.digest == digest)
    return query if include_deleted else query.where(_ALIVE)


def digest_of(manifest_id: int) -> Select[str]:
    return select(Manifest.digest).where(Manifest.id == manifest_id)


def digests_of(db: Db, manifest_ids: list[int]) -> dict[int, str]:
    """{manifest id: digest} of the manifests, in one query."""
    if not manifest_ids:
        return {}
    rows = db.execute(select(Manifest.id, Manifest.digest).where(Manifest.id.in_(manifest_ids)))
    return {int(r.id): str(r.digest) for r in rows}


def alive_tag_digest(repository_id: int, tag: str, now: int) -> Select[str]:
    """The digest the tag points at now, if it is alive."""
    return (
        select(Manifest.digest)
        .join(Tag, Tag.manifest_id == Manifest.id)
        .where(Tag.repository_id == repository_id, Tag.name == tag, tags.alive_at(now))
    )


def alive_tag_names(db: Db, repository_id: int, manifest_id: int) -> list[str]:
    rows = db.execute(
        select(Tag.name).where(
            Tag.repository_id == repository_id, Tag.manifest_id == manifest_id, tags.alive_at(now_ms())
        )
    )
    return [r.name for r in rows]


def undelete(db: Db, manifest_id: int) -> None:
    """A manifest deleted by digest comes back when a tag is restored onto it (until GC removed it),
    and into the sizes with it."""
    if _undelete(db, manifest_id):
        quotas.add_stored_manifest(db, manifest_id)


def children_of(db: Db, repository_id: int, digests: list[str]) -> dict[str, dict[str, bool]]:
    """For each index among `digests`, the children it lists, each with whether the repository
    holds it: all of them, but for a sparse index (a mirror filtered by architecture)."""
    if not digests:
        return {}
    parents = db.execute(
        select(Manifest.id, Manifest.digest, Manifest.content).where(
            Manifest.repository_id == repository_id, Manifest.digest.in_(set(digests))
        )
    ).all()
    child = aliased(Manifest)
    present_rows = db.execute(
        select(ManifestChild.manifest_id, child.digest)
        .join(child, child.id == ManifestChild.child_id)
        .where(ManifestChild.manifest_id.in_([p.id for p in parents]))
    )
    present: dict[int, set[str]] = {}
    for manifest_id, child_digest in present_rows:
        present.setdefault(manifest_id, set()).add(child_digest)
    found: dict[str, dict[str, bool]] = {}
    for parent in parents:
        listed = _listed_children(parent.content)
        held = present.get(parent.id, set())
        found[parent.digest] = {d: d in held for d in sorted(set(listed) | held)}
    return found


def _listed_children(content: bytes) -> list[str]:
    """The digests an index lists (it was validated when stored)."""
    try:
        entries = json.loads(content).get("manifests") or []
    except (ValueError, AttributeError):
        return []
    return [str(e["digest"]) for e in entries if isinstance(e, dict) and "digest" in e]

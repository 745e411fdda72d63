"""Proxy-cache organizations (Quay's ProxyCacheConfig): the configuration, and what the pull-through
stores, in the transaction each step needs.

A pulled-through manifest is stored before its blobs: the client asks for them one by one after
the manifest. Blobs Wharf already holds (pulled before, in any repository) are linked at once; the
others are written down as pending (`ProxyCachePendingBlob`) and linked to the manifest when the
blob is first pulled through (`link_fetched_blob`). Tags of a proxy-cache organization expire
`expiration_s` after the last pull (re-armed by `keep`), which is what makes them stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select, update

from wharf.core import audit, blobs, manifests, quotas, secscan, tags
from wharf.core._sql import dialect_insert, insert_ignore, lock
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput, NotFound
from wharf.core.manifests import ManifestRecord
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Db
from wharf.db.models import (
    Account,
    Blob,
    Manifest,
    ManifestBlob,
    ManifestChild,
    ProxyCacheConfig,
    ProxyCacheFetch,
    ProxyCachePendingBlob,
    Repository,
    Tag,
)
from wharf.oci.manifest import ParsedManifest

DEFAULT_EXPIRATION_S = 86400
"""Quay's default: a cached tag is re-checked with the upstream a day after its last pull."""

# host (a name, IPv4 or [IPv6]) with an optional port, then optional path components: no scheme.
_REGISTRY = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


class ProxyCacheNotFound(NotFound):
    """The organization is not a proxy cache."""


@dataclass(frozen=True, slots=True)
class ProxyCacheRecord:
    org_id: int
    upstream_registry: str
    username_sealed: str | None
    password_sealed: str | None
    expiration_s: int
    insecure: bool

    def credentials(self, box: SecretBox) -> tuple[str | None, str | None]:
        username = box.open(self.username_sealed) if self.username_sealed else None
        password = box.open(self.password_sealed) if self.password_sealed else None
        return username, password


_COLUMNS = (
    ProxyCacheConfig.org_id,
    ProxyCacheConfig.upstream_registry,
    ProxyCacheConfig.username_sealed,
    ProxyCacheConfig.password_sealed,
    ProxyCacheConfig.expiration_s,
    ProxyCacheConfig.insecure,
)
_BY_NAMESPACE = (
    select(*_COLUMNS)
    .join(Account, Account.id == ProxyCacheConfig.org_id)
    .where(Account.name == bindparam("namespace"))
)
_BY_ORG = select(*_COLUMNS).where(ProxyCacheConfig.org_id == bindparam("org"))


def for_namespace(db: Db, namespace: str) -> ProxyCacheRecord | None:
    """The proxy-cache configuration of the namespace `namespace`, or None (the usual case)."""
    row = db.execute(_BY_NAMESPACE, {"namespace": namespace}).first()
    return ProxyCacheRecord(*row) if row is not None else None


def get(db: Db, org_id: int) -> ProxyCacheRecord | None:
    row = db.execute(_BY_ORG, {"org": org_id}).first()
    return ProxyCacheRecord(*row) if row is not None else None


def check_registry(upstream_registry: str) -> str:
    """`host[:port][/namespace...]`, lower-cased host, no scheme and no trailing slash."""
    value = upstream_registry.strip().rstrip("/")
    if "://" in value:
        raise InvalidInput(
            "upstream_registry is a registry's host name with an optional namespace "
            "(quay.io or quay.io/projectquay), without http:// or https://",
            field="upstream_registry",
        )
    if not value or len(value) > 512 or not _REGISTRY.match(value):
        raise InvalidInput(
            f"upstream_registry {upstream_registry[:100]!r} is not a registry: write host[:port] "
            "with an optional namespace, as in quay.io or registry.example.com:5000/library",
            field="upstream_registry",
        )
    host, _, rest = value.partition("/")
    return f"{host.lower()}/{rest}" if rest else host.lower()


def check_expiration(expiration_s: int) -> int:
    if expiration_s < 60 or expiration_s > 10 * 365 * 86400:
        raise InvalidInput(
            "expiration_s is the seconds a cached tag stays fresh after its last pull: "
            "at least 60, at most ten years",
            field="expiration_s",
        )
    return expiration_s


def create(
    db: Db,
    box: SecretBox,
    org: AccountRecord,
    upstream_registry: str,
    *,
    username: str | None,
    password: str | None,
    expiration_s: int,
    insecure: bool,
    actor: audit.Actor | None,
) -> ProxyCacheRecord:
    """Make the organization a proxy cache of `upstream_registry`; AlreadyExists when it is one."""
    registry = check_registry(upstream_registry)
    check_expiration(expiration_s)
    lock(db, "proxy-cache", org.id)
    if get(db, org.id) is not None:
        raise AlreadyExists("Proxy Cache Configuration already exists")
    record = ProxyCacheRecord(
        org.id,
        registry,
        box.seal(username) if username else None,
        box.seal(password) if password else None,
        expiration_s,
        insecure,
    )
    db.execute(
        insert(ProxyCacheConfig),
        {
            "org_id": record.org_id,
            "upstream_registry": record.upstream_registry,
            "username_sealed": record.username_sealed,
            "password_sealed": record.password_sealed,
            "expiration_s": expiration_s,
            "insecure": insecure,
            "created_ms": now_ms(),
        },
    )
    audit.record(
        db,
        "create_proxy_cache_config",
        actor,
        namespace_id=org.id,
        namespace=org.name,
        upstream_registry=registry,
    )
    return record


def delete_config(db: Db, org: AccountRecord, actor: audit.Actor | None) -> None:
    """The organization stops being a proxy cache; what it cached stays, as ordinary repositories."""
    gone = db.execute(delete(ProxyCacheConfig).where(ProxyCacheConfig.org_id == org.id)).rowcount
    if not gone:
        raise ProxyCacheNotFound(f"{org.name} is not a proxy cache")
    audit.record(db, "delete_proxy_cache_config", actor, namespace_id=org.id, namespace=org.name)


# -- what a pull-through stores ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CachedTag:
    """The newest lifetime of a tag whose manifest is still stored: `fresh` while it is alive."""

    manifest: ManifestRecord
    fresh: bool
    expires_ms: int | None = None


_NEWEST_TAG = (
    select(
        Manifest.id,
        Manifest.digest,
        Manifest.media_type,
        Manifest.content,
        Manifest.subject_digest,
        Tag.lifetime_end_ms,
        Tag.expires_ms,
    )
    .join(Manifest, Manifest.id == Tag.manifest_id)
    .where(
        Tag.repository_id == bindparam("repo"),
        Tag.name == bindparam("name"),
        Tag.hidden.is_(False),
        Manifest.deleted_ms.is_(None),
    )
    .order_by(Tag.lifetime_start_ms.desc(), Tag.id.desc())
    .limit(1)
)


def cached_tag(db: Db, repository_id: int, name: str) -> CachedTag | None:
    """What the cache holds for tag `name`, expired or not (a stale copy is served when the
    upstream is down); None when it never held it or the manifest was collected."""
    row = db.execute(_NEWEST_TAG, {"repo": repository_id, "name": name}).first()
    if row is None:
        return None
    now = now_ms()
    fresh = row.lifetime_end_ms is None and (row.expires_ms is None or row.expires_ms > now)
    return CachedTag(ManifestRecord(*row[:5]), fresh, row.expires_ms)


def keep(db: Db, repository_id: int, name: str, manifest_id: int, expiration_s: int) -> None:
    """Point tag `name` at the manifest, fresh for `expiration_s` from now (a pull re-arms it)."""
    tags.point(db, repository_id, name, manifest_id, expires_ms=now_ms() + expiration_s * 1000)


_KNOWN_BLOBS = select(Blob.id, Blob.digest, Blob.size).where(
    Blob.digest.in_(bindparam("digests", expanding=True))
)
_LINKED_TO_MANIFEST = select(ManifestBlob.blob_id).where(ManifestBlob.manifest_id == bindparam("manifest"))


def store_manifest(
    db: Db,
    repo: RepositoryRecord,
    tag: str | None,
    body: bytes,
    parsed: ParsedManifest,
    expiration_s: int,
    *,
    scan: bool = False,
) -> ManifestRecord:
    """Store a manifest the upstream sent (its digest already checked), and point `tag` at it.
    Blobs Wharf holds are linked now; the others are pending until pulled through. An index's
    children must be stored first. With `scan`, the manifest is queued for indexing when it has
    all its blobs already (else when the last arrives: `link_fetched_blob`)."""
    lock(db, "repository-gc", repo.id, shared=True)
    record, counted = manifests.store_pulled(db, repo, body, parsed)
    wanted = sorted({str(d.digest) for d in parsed.required_blobs})
    known = (
        {r.digest: (r.id, r.size) for r in db.execute(_KNOWN_BLOBS, {"digests": wanted})} if wanted else {}
    )
    linked = set(db.execute(_LINKED_TO_MANIFEST, {"manifest": record.id}).scalars())
    new_links = {blob_id: size for blob_id, size in known.values() if blob_id not in linked}
    for blob_id in new_links:
        blobs.link(db, repo.id, blob_id)
    insert_ignore(db, ManifestBlob, [{"manifest_id": record.id, "blob_id": b} for b in new_links])
    # In the sizes like a push (never refused: the pull made room first); a manifest that comes
    # back after an eviction is counted whole again.
    if counted:
        quotas.add_blobs(db, repo.id, repo.namespace_id, new_links)
    else:
        quotas.add_stored_manifest(db, record.id)
    pending = [{"manifest_id": record.id, "digest": d} for d in wanted if d not in known]
    insert_ignore(db, ProxyCachePendingBlob, pending)
    if scan and not pending:
        _enqueue_complete(db, [record.id])
    if tag is not None:
        tags.point(db, repo.id, tag, record.id, expires_ms=now_ms() + expiration_s * 1000, gc_locked=True)
    return record


_PENDING_IN_REPOSITORY = (
    select(ProxyCachePendingBlob.manifest_id, Manifest.deleted_ms)
    .join(Manifest, Manifest.id == ProxyCachePendingBlob.manifest_id)
    .where(Manifest.repository_id == bindparam("repo"), ProxyCachePendingBlob.digest == bindparam("digest"))
)


def is_named(db: Db, repository_id: int, digest: str) -> bool:
    """Whether a manifest of the repository names the blob and waits for it: what a client may
    ask the upstream for through this repository."""
    return db.execute(_PENDING_IN_REPOSITORY, {"repo": repository_id, "digest": digest}).first() is not None


def link_fetched_blob(
    db: Db, repository_id: int, digest: str, size: int, *, scan: bool = False
) -> blobs.BlobRecord:
    """The blob is now in storage, verified: record it, link it into the repository and to the
    manifests there that waited for it. With `scan` (FEATURE_SECURITY_SCANNER), a manifest that
    has all its blobs now is queued for indexing, like a pushed one."""
    record = blobs.register(db, digest, size)
    blobs.link(db, repository_id, record.id)
    # Taken by deleting: of two requests that stored the blob at once, each manifest is linked
    # and counted by one only.
    taken = list(
        db.execute(
            delete(ProxyCachePendingBlob)
            .where(
                ProxyCachePendingBlob.digest == digest,
                ProxyCachePendingBlob.manifest_id.in_(
                    select(Manifest.id).where(Manifest.repository_id == repository_id)
                ),
            )
            .returning(ProxyCachePendingBlob.manifest_id)
        ).scalars()
    )
    if not taken:
        return record
    insert_ignore(db, ManifestBlob, [{"manifest_id": m, "blob_id": record.id} for m in taken])
    alive = list(
        db.execute(select(Manifest.id).where(Manifest.id.in_(taken), Manifest.deleted_ms.is_(None))).scalars()
    )
    if alive:
        namespace_id = db.execute(
            select(Repository.namespace_id).where(Repository.id == repository_id)
        ).scalar_one()
        # One more manifest referencing the blob for each that waited (an evicted one is not
        # counted: it counts again, whole, if a pull brings it back).
        for _ in alive:
            quotas.add_blobs(db, repository_id, namespace_id, {record.id: record.size})
    if scan:
        _enqueue_complete(db, alive)
    return record


_STILL_PENDING = select(ProxyCachePendingBlob.manifest_id).where(
    ProxyCachePendingBlob.manifest_id.in_(bindparam("ids", expanding=True))
)
_PARENTS = select(ManifestChild.manifest_id).where(
    ManifestChild.child_id.in_(bindparam("ids", expanding=True))
)
_CHILDREN = select(ManifestChild.child_id).where(ManifestChild.manifest_id == bindparam("parent"))


def _enqueue_complete(db: Db, manifest_ids: list[int]) -> None:
    """Queue the indexing of those of the manifests that wait for no blob any more, and of the
    indexes listing them whose images all have their blobs now (the scanner reads the layers from
    storage: a pulled-through image is indexed once it is all there)."""
    if not manifest_ids:
        return
    waiting = set(db.execute(_STILL_PENDING, {"ids": manifest_ids}).scalars())
    complete = [m for m in manifest_ids if m not in waiting and _images_complete(db, m)]
    if not complete:
        return
    parents = sorted(set(db.execute(_PARENTS, {"ids": complete}).scalars()))
    ready = complete + [p for p in parents if _images_complete(db, p)]
    for digest in manifests.digests_of(db, ready).values():
        secscan.enqueue_index(db, digest)


def _images_complete(db: Db, parent_id: int) -> bool:
    children = list(db.execute(_CHILDREN, {"parent": parent_id}).scalars())
    return not children or db.execute(_STILL_PENDING, {"ids": children}).first() is None


# -- one fetch of a blob at a time --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to "may I fetch this blob?": `stored` (its size) when it is in Wharf now,
    else `mine` when this caller holds the fetch's lease, else someone else fetches it."""

    stored: int | None
    mine: bool


_STORED_SIZE = select(Blob.size).where(Blob.digest == bindparam("digest"))


def claim_fetch(db: Db, digest: str, holder: str, lease_ms: int) -> Claim:
    """Take the lease of fetching `digest` unless the blob is stored already or another holder's
    lease is still running (an expired one, of a request or node that died, is taken over)."""
    size = db.execute(_STORED_SIZE, {"digest": digest}).scalar()
    if size is not None:
        return Claim(int(size), False)
    now = now_ms()
    db.execute(
        delete(ProxyCacheFetch).where(ProxyCacheFetch.digest == digest, ProxyCacheFetch.until_ms <= now)
    )
    taken = db.execute(
        dialect_insert(db.dialect.name, ProxyCacheFetch)
        .values(digest=digest, holder=holder, until_ms=now + lease_ms)
        .on_conflict_do_nothing(index_elements=["digest"])
        .returning(ProxyCacheFetch.holder)
    ).first()
    if taken is None:
        return Claim(None, False)
    # On PostgreSQL each statement sees what was committed when it began: the holder before us may
    # have stored the blob and given up its lease between the first read and the insert. Now that
    # nobody else can store it, look again, or the upstream is asked for the blob a second time.
    size = db.execute(_STORED_SIZE, {"digest": digest}).scalar()
    if size is not None:
        release_fetch(db, digest, holder)
        return Claim(int(size), False)
    return Claim(None, True)


def renew_fetch(db: Db, digest: str, holder: str, lease_ms: int) -> None:
    db.execute(
        update(ProxyCacheFetch)
        .where(ProxyCacheFetch.digest == digest, ProxyCacheFetch.holder == holder)
        .values(until_ms=now_ms() + lease_ms)
    )


def release_fetch(db: Db, digest: str, holder: str) -> None:
    db.execute(
        delete(ProxyCacheFetch).where(ProxyCacheFetch.digest == digest, ProxyCacheFetch.holder == holder)
    )

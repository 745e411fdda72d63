"""A proxy-cache organization's quota: room is made for a pull by evicting the tags pulled least
recently, instead of refusing the pull as a push would be refused.

Quay does the same (its proxy model expires the namespace's oldest tags before storing an image
that would not fit). Here an eviction also releases the image from the sizes at once (its
manifest is deleted as by digest, its index's images with it when nothing else uses them) and
removes the tag from the time machine, so that garbage collection reclaims the bytes.

What a pull in progress serves is never evicted: the image being pulled, an image one of whose
blobs is being fetched from the upstream right now (a live fetch lease), and an image pulled in the
last few minutes that still waits for some of its blobs (its client is fetching them one by one).
A warm pull of an evicted image that is reading blobs from storage finishes: the blobs stay in
storage until garbage collection, which spares them for its grace period.

One tag is evicted per transaction (`make_room` is called until it says the image fits): each
takes the evicted repository's GC lock before the namespace's, the order every writer keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update

from wharf.core import audit, quotas, repositories, tags
from wharf.core._sql import lock
from wharf.core.clock import now_ms
from wharf.core.errors import QuotaExceeded
from wharf.core.quotas import Enforcement
from wharf.db.engine import Db
from wharf.db.models import (
    Blob,
    Manifest,
    ManifestChild,
    ProxyCacheFetch,
    ProxyCachePendingBlob,
    QuotaNamespaceBlob,
    Repository,
    Tag,
)

IN_PROGRESS_MS = 10 * 60 * 1000
"""How long after its tag was pulled an image that still waits for blobs counts as being pulled
(a client fetches the blobs one after another, right after the manifest)."""
_CANDIDATES_PER_LOOK = 200


@dataclass(frozen=True, slots=True)
class Pull:
    """The pull that needs room: what it brings, and what it must not evict."""

    namespace_id: int
    blobs: Mapping[str, int]
    """{digest: size} of every blob the image (and an index's images) names."""
    repository_id: int | None = None
    """None when this pull creates the repository."""
    tag: str | None = None
    manifest_digests: frozenset[str] = frozenset()
    expiration_s: int = 86400


_COUNTED = (
    select(Blob.digest)
    .join(QuotaNamespaceBlob, QuotaNamespaceBlob.blob_id == Blob.id)
    .where(
        QuotaNamespaceBlob.namespace_id == bindparam("ns"),
        Blob.digest.in_(bindparam("digests", expanding=True)),
    )
)


def incoming_bytes(db: Db, namespace_id: int, blobs: Mapping[str, int]) -> int:
    """How much the namespace's size grows by storing these blobs: those it does not count yet."""
    if not blobs:
        return 0
    counted = set(db.execute(_COUNTED, {"ns": namespace_id, "digests": sorted(blobs)}).scalars())
    return sum(size for digest, size in blobs.items() if digest not in counted)


def make_room(db: Db, pull: Pull, enforcement: Enforcement) -> bool:
    """True when the pull fits under the namespace's Reject limit (or there is none); else evict
    the least recently pulled tag that may go and return False (call again, in a new
    transaction). QuotaExceeded when the image alone is larger than the limit or nothing is left
    that may be evicted."""
    capacity = quotas.reject_capacity(db, pull.namespace_id, enforcement)
    if capacity is None:
        return True
    incoming = incoming_bytes(db, pull.namespace_id, pull.blobs)
    size = quotas.namespace_size(db, pull.namespace_id)
    if size + incoming <= capacity:
        return True
    if incoming > capacity:
        raise QuotaExceeded(
            f"the image ({quotas.human(incoming)}) is larger than the proxy cache's quota "
            f"({quotas.human(capacity)})"
        )
    victim = _victim(db, pull)
    if victim is None:
        raise QuotaExceeded(
            f"quota exceeded: {quotas.human(size)} of {quotas.human(capacity)}, and every cached image "
            "is being pulled; try again shortly or ask an administrator for a larger quota"
        )
    _evict(db, pull.namespace_id, victim)
    return False


@dataclass(frozen=True, slots=True)
class Victim:
    tag_id: int
    repository_id: int
    name: str
    manifest_id: int
    digest: str


def _candidates(db: Db, namespace_id: int) -> list[tuple[Victim, int | None]]:
    """Open tags of the namespace, least recently pulled first (a pull re-arms `expires_ms`), with
    their expiry."""
    rows = db.execute(
        select(Tag.id, Tag.repository_id, Tag.name, Tag.manifest_id, Tag.expires_ms, Manifest.digest)
        .join(Repository, Repository.id == Tag.repository_id)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(
            Repository.namespace_id == namespace_id,
            tags.OPEN,
            Tag.immutable.is_(False),
            Tag.hidden.is_(False),
        )
        .order_by(Tag.expires_ms, Tag.id)
        .limit(_CANDIDATES_PER_LOOK)
    ).all()
    return [(Victim(r.id, r.repository_id, r.name, r.manifest_id, r.digest), r.expires_ms) for r in rows]


def _victim(db: Db, pull: Pull) -> Victim | None:
    now = now_ms()
    leased, waiting = _busy(db, pull.namespace_id, now)
    for victim, expires_ms in _candidates(db, pull.namespace_id):
        if victim.repository_id == pull.repository_id and (
            victim.name == pull.tag or victim.digest in pull.manifest_digests
        ):
            continue
        family = {victim.manifest_id, *_children(db, victim.manifest_id)}
        if family & leased:
            continue
        pulled_ms = (expires_ms or 0) - pull.expiration_s * 1000
        if family & waiting and pulled_ms > now - IN_PROGRESS_MS:
            continue
        return victim
    return None


def _busy(db: Db, namespace_id: int, now: int) -> tuple[set[int], set[int]]:
    """(manifests of the namespace one of whose blobs is being fetched, manifests still waiting
    for a blob)."""
    rows = db.execute(
        select(ProxyCachePendingBlob.manifest_id, ProxyCacheFetch.until_ms)
        .join(Manifest, Manifest.id == ProxyCachePendingBlob.manifest_id)
        .join(Repository, Repository.id == Manifest.repository_id)
        .outerjoin(ProxyCacheFetch, ProxyCacheFetch.digest == ProxyCachePendingBlob.digest)
        .where(Repository.namespace_id == namespace_id)
    ).all()
    leased = {r.manifest_id for r in rows if r.until_ms is not None and r.until_ms > now}
    return leased, {r.manifest_id for r in rows}


def _children(db: Db, manifest_id: int) -> list[int]:
    return list(
        db.execute(select(ManifestChild.child_id).where(ManifestChild.manifest_id == manifest_id)).scalars()
    )


def _evict(db: Db, namespace_id: int, victim: Victim) -> None:
    lock(db, "repository-gc", victim.repository_id, shared=True)
    lock(db, "quota-namespace", namespace_id)
    lock(db, "tag", victim.repository_id, victim.name)
    now = now_ms()
    ended = db.execute(
        update(Tag).where(Tag.id == victim.tag_id, tags.OPEN).values(lifetime_end_ms=now)
    ).rowcount
    if not ended:
        return  # another pull evicted it meanwhile: the caller looks again
    tags.forget(db, victim.repository_id, victim.name, victim.manifest_id, include_alive=False)
    repo = repositories.get_by_id(db, victim.repository_id)
    if repo is not None:
        audit.record_for(
            db, "proxy_cache_evict_tag", None, repo, tag=victim.name, manifest_digest=victim.digest
        )
    if not _unused(db, victim.manifest_id):
        return  # another tag still points at the image: only this tag goes
    # The index first: its images are unused only once it is deleted.
    for manifest_id in [victim.manifest_id, *_children(db, victim.manifest_id)]:
        if manifest_id == victim.manifest_id or _unused(db, manifest_id):
            # Released before it is marked: the hook counts manifests that are not deleted.
            quotas.release_manifests(db, victim.repository_id, [manifest_id])
            db.execute(
                update(Manifest)
                .where(Manifest.id == manifest_id, Manifest.deleted_ms.is_(None))
                .values(deleted_ms=now)
            )


def _unused(db: Db, manifest_id: int) -> bool:
    """No open tag points at the manifest and no live index of the repository lists it."""
    tagged = db.execute(select(Tag.id).where(Tag.manifest_id == manifest_id, tags.OPEN).limit(1)).first()
    if tagged is not None:
        return False
    parent = db.execute(
        select(Manifest.id)
        .join(ManifestChild, ManifestChild.manifest_id == Manifest.id)
        .where(ManifestChild.child_id == manifest_id, Manifest.deleted_ms.is_(None))
        .limit(1)
    ).first()
    return parent is None

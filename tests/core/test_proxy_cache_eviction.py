"""A proxy-cache organization under a Reject quota: its pulled-through images count in its size,
room is made by evicting the tags pulled least recently, and what a pull in progress serves stays.
Also: a pulled-through manifest is queued for security indexing once all its blobs are stored."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import select

from tests.conftest import Clock
from wharf.core import accounts, blobs, manifests, orgs, provision, proxy_cache, proxy_cache_eviction, quotas
from wharf.core.errors import ManifestNotFound, QuotaExceeded
from wharf.core.proxy_cache_eviction import Pull
from wharf.core.repositories import RepositoryRecord
from wharf.core.secscan import INDEX_QUEUE
from wharf.db.engine import Database
from wharf.db.models import Job, LogEntry
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest
from wharf.oci.manifest import ParsedManifest

ON = quotas.Enforcement(enabled=True)
WINDOW_S = 600


def _setup(db: Database, name: str, limit_bytes: int) -> tuple[accounts.AccountRecord, RepositoryRecord]:
    owner = db.run_write(accounts.create_user, f"{name}-owner", "owner-password", f"{name}@example.com")
    org = db.run_write(orgs.create, name, None, owner, None)
    quota = db.run_write(quotas.create, org.id, name, limit_bytes, None, ON)
    db.run_write(quotas.create_limit, name, quota, quotas.REJECT, 100, None, ON)
    repo = db.run_write(
        provision.create_repository, name, "app", visibility="private", creator_id=None, actor=None
    )
    return org, repo


def _image(layer_size: int) -> tuple[bytes, ParsedManifest, list[tuple[str, int]]]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()}).encode()
    layer_digest = str(Digest.of(os.urandom(16)))  # the bytes are not needed: only the sizes count
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of(config)), "size": len(config)},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": layer_size,
                }
            ],
        }
    ).encode()
    return (
        body,
        manifests.parse(body, mt.OCI_MANIFEST),
        [(str(Digest.of(config)), len(config)), (layer_digest, layer_size)],
    )


def _pull(
    db: Database, repo: RepositoryRecord, tag: str, layer_size: int, *, fetch_blobs: bool = True
) -> str:
    """What a whole pull-through stores: the manifest, then each blob as the client fetches it."""
    body, parsed, contents = _image(layer_size)
    record = db.run_write(proxy_cache.store_manifest, repo, tag, body, parsed, WINDOW_S)
    if fetch_blobs:
        for digest, size in contents:
            db.run_write(proxy_cache.link_fetched_blob, repo.id, digest, size)
    return record.digest


def _room_for(db: Database, org_id: int, layer_size: int, **keep: object) -> Pull:
    _, parsed, _ = _image(layer_size)
    sizes = {str(d.digest): d.size for d in parsed.required_blobs}
    pull = Pull(org_id, sizes, expiration_s=WINDOW_S, **keep)  # type: ignore[arg-type]
    while not db.run_write(proxy_cache_eviction.make_room, pull, ON):
        pass
    return pull


def test_pulled_through_images_count_and_the_least_recently_pulled_tag_makes_room(
    db: Database, clock: Clock
) -> None:
    org, repo = _setup(db, "pcq1", 3000)
    old = _pull(db, repo, "old", 1000)
    clock.advance(60)
    recent = _pull(db, repo, "recent", 1000)
    size = db.run_read(quotas.namespace_size, org.id)
    assert 2000 < size < 2400  # two layers and two small configurations

    _room_for(db, org.id, 1000)
    assert db.run_read(quotas.namespace_size, org.id) == size // 2
    with pytest.raises(ManifestNotFound):
        db.run_read(manifests.get, repo.id, "old")
    with pytest.raises(ManifestNotFound):
        db.run_read(manifests.get, repo.id, old)  # deleted, to be reclaimed by garbage collection
    assert db.run_read(manifests.get, repo.id, "recent").digest == recent
    logged = db.run_read(
        lambda c: c.execute(
            select(LogEntry.metadata_json).where(LogEntry.kind == "proxy_cache_evict_tag")
        ).all()
    )
    assert [json.loads(r.metadata_json)["tag"] for r in logged] == ["old"]

    # a pull re-arms its tag: "recent" is now older than a tag pulled since
    clock.advance(60)
    _pull(db, repo, "newer", 1000)
    clock.advance(60)
    db.run_write(
        proxy_cache.keep, repo.id, "recent", db.run_read(manifests.get, repo.id, "recent").id, WINDOW_S
    )
    _room_for(db, org.id, 1000)
    assert db.run_read(manifests.get, repo.id, "recent").digest == recent
    with pytest.raises(ManifestNotFound):
        db.run_read(manifests.get, repo.id, "newer")


def test_what_a_pull_in_progress_serves_is_not_evicted(db: Database, clock: Clock) -> None:
    org, repo = _setup(db, "pcq2", 3000)
    # the oldest image's layer is being fetched from the upstream right now (a live lease)
    body, parsed, contents = _image(1000)
    db.run_write(proxy_cache.store_manifest, repo, "fetching", body, parsed, WINDOW_S)
    db.run_write(proxy_cache.link_fetched_blob, repo.id, *contents[0])
    assert db.run_write(proxy_cache.claim_fetch, contents[1][0], "a" * 32, 30_000).mine
    clock.advance(60)
    # the next one was just pulled and its client is still fetching blobs
    _pull(db, repo, "starting", 1000, fetch_blobs=False)
    clock.advance(60)
    _pull(db, repo, "done", 1000)
    clock.advance(60)
    # the pull asking for room keeps its own tag too
    _room_for(db, org.id, 1900, repository_id=repo.id, tag="mine")
    assert db.run_read(manifests.get, repo.id, "fetching")
    assert db.run_read(manifests.get, repo.id, "starting")
    with pytest.raises(ManifestNotFound):
        db.run_read(manifests.get, repo.id, "done")

    # nothing left that may go: refused, as a push would be
    with pytest.raises(QuotaExceeded):
        _room_for(db, org.id, 2900)
    # an image larger than the whole quota never fits
    with pytest.raises(QuotaExceeded, match="larger than"):
        _room_for(db, org.id, 5000)

    # once the clients are long gone (the lease ran out), both may go
    clock.advance(proxy_cache_eviction.IN_PROGRESS_MS // 1000 + 1)
    _room_for(db, org.id, 2800)
    for tag in ("fetching", "starting"):
        with pytest.raises(ManifestNotFound):
            db.run_read(manifests.get, repo.id, tag)


def test_a_pull_that_brings_an_evicted_image_back_counts_it_again(db: Database) -> None:
    org, repo = _setup(db, "pcq3", 2500)
    body, parsed, contents = _image(1000)
    db.run_write(proxy_cache.store_manifest, repo, "v1", body, parsed, WINDOW_S)
    for digest, size in contents:
        db.run_write(proxy_cache.link_fetched_blob, repo.id, digest, size)
    full = db.run_read(quotas.namespace_size, org.id)
    _room_for(db, org.id, 2000)
    assert db.run_read(quotas.namespace_size, org.id) == 0
    # the blobs are in Wharf still: the manifest is linked to them at once and counted whole
    db.run_write(proxy_cache.store_manifest, repo, "v1", body, parsed, WINDOW_S)
    assert db.run_read(quotas.namespace_size, org.id) == full


def _index_jobs(db: Database) -> list[str]:
    rows = db.run_read(lambda c: c.execute(select(Job.body).where(Job.queue == INDEX_QUEUE)).scalars().all())
    return sorted(json.loads(r)["digest"] for r in rows)


def test_a_pulled_through_image_is_queued_for_indexing_once_its_blobs_are_stored(db: Database) -> None:
    _, repo = _setup(db, "pcq4", 10**9)
    body, parsed, contents = _image(100)
    record = db.run_write(proxy_cache.store_manifest, repo, "v1", body, parsed, WINDOW_S, scan=True)
    assert _index_jobs(db) == []  # the scanner reads the layers from storage: not yet
    db.run_write(proxy_cache.link_fetched_blob, repo.id, *contents[0], scan=True)
    assert _index_jobs(db) == []
    db.run_write(proxy_cache.link_fetched_blob, repo.id, *contents[1], scan=True)
    assert _index_jobs(db) == [record.digest]

    # an image whose blobs Wharf holds already is queued with its manifest
    other, other_parsed, other_contents = _image(100)
    for digest, size in other_contents:
        db.run_write(blobs.register, digest, size)
    again = db.run_write(proxy_cache.store_manifest, repo, "v2", other, other_parsed, WINDOW_S, scan=True)
    assert _index_jobs(db) == sorted([record.digest, again.digest])

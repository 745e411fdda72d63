"""Proxy-cache configuration and what a pull-through stores, on a real database."""

from __future__ import annotations

import json
import os
import threading

import pytest
from sqlalchemy import text

from tests.conftest import DB_BACKEND, Clock
from tests.waiting import wait_until
from wharf.core import accounts, blobs, manifests, orgs, provision, proxy_cache, tags
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput, ManifestNotFound
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Quay.IO", "quay.io"),
        ("quay.io/projectquay/", "quay.io/projectquay"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("[::1]:5000/lib", "[::1]:5000/lib"),
    ],
)
def test_registry_names(given: str, stored: str) -> None:
    assert proxy_cache.check_registry(given) == stored


@pytest.mark.parametrize(
    "bad", ["", "http://quay.io", "quay.io/Upper", "quay io", "-quay.io", "quay.io/../x"]
)
def test_bad_registry_names(bad: str) -> None:
    with pytest.raises(InvalidInput):
        proxy_cache.check_registry(bad)


def _org(db: Database, name: str) -> accounts.AccountRecord:
    owner = db.run_write(accounts.create_user, f"{name}-owner", "owner-password", f"{name}@example.com")
    return db.run_write(orgs.create, name, None, owner, None)


def _image(size: int = 64) -> tuple[bytes, list[tuple[str, bytes]]]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()}).encode()
    layer = os.urandom(size)
    contents = [(str(Digest.of(config)), config), (str(Digest.of(layer)), layer)]
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": contents[0][0], "size": len(config)},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": contents[1][0],
                    "size": size,
                }
            ],
        }
    ).encode()
    return body, contents


def test_a_configuration_is_one_per_organization(db: Database) -> None:
    box = SecretBox("test-key")
    org = _org(db, "cache")
    made = db.run_write(
        proxy_cache.create,
        box,
        org,
        "quay.io",
        username="u",
        password="p",
        expiration_s=3600,
        insecure=False,
        actor=None,
    )
    assert db.run_read(proxy_cache.for_namespace, "cache") == made
    assert made.credentials(box) == ("u", "p")
    assert db.run_read(proxy_cache.for_namespace, "cache-owner") is None
    with pytest.raises(AlreadyExists):
        db.run_write(
            proxy_cache.create,
            box,
            org,
            "quay.io",
            username=None,
            password=None,
            expiration_s=3600,
            insecure=False,
            actor=None,
        )
    db.run_write(proxy_cache.delete_config, org, None)
    assert db.run_read(proxy_cache.get, org.id) is None


def test_a_manifest_waits_for_its_blobs_and_gets_them_linked(db: Database) -> None:
    _org(db, "cache2")
    repo = db.run_write(
        provision.create_repository, "cache2", "app", visibility="private", creator_id=None, actor=None
    )
    body, contents = _image()
    parsed = manifests.parse(body, mt.OCI_MANIFEST)
    # the configuration is in Wharf already (another repository pulled it): it is linked at once
    config_digest, config = contents[0]
    db.run_write(blobs.register, config_digest, len(config))
    record = db.run_write(proxy_cache.store_manifest, repo, "v1", body, parsed, 600)
    assert db.run_read(blobs.get_linked, repo.id, config_digest) is not None
    layer_digest, layer = contents[1]
    assert db.run_read(proxy_cache.is_named, repo.id, layer_digest)
    assert not db.run_read(proxy_cache.is_named, repo.id, config_digest)

    db.run_write(proxy_cache.link_fetched_blob, repo.id, layer_digest, len(layer))
    assert not db.run_read(proxy_cache.is_named, repo.id, layer_digest)
    assert db.run_read(blobs.get_linked, repo.id, layer_digest) is not None
    # the tag is fresh now and expires after the window
    cached = db.run_read(proxy_cache.cached_tag, repo.id, "v1")
    assert cached is not None and cached.fresh and cached.manifest.digest == record.digest
    assert cached.expires_ms is not None and cached.expires_ms > now_ms()


def test_an_expired_tag_is_still_known_as_stale_and_keep_makes_it_fresh(db: Database) -> None:
    _org(db, "cache3")
    repo = db.run_write(
        provision.create_repository, "cache3", "app", visibility="private", creator_id=None, actor=None
    )
    body, _ = _image()
    record = db.run_write(
        proxy_cache.store_manifest, repo, "v1", body, manifests.parse(body, mt.OCI_MANIFEST), 600
    )
    db.run_write(tags.set_expiration, repo.id, "v1", now_ms() + 1000)
    db.run_write(tags.end_expired, now_ms() + 2000)
    with pytest.raises(ManifestNotFound):
        db.run_read(manifests.get, repo.id, "v1")
    cached = db.run_read(proxy_cache.cached_tag, repo.id, "v1")
    assert cached is not None and not cached.fresh and cached.manifest.digest == record.digest
    db.run_write(proxy_cache.keep, repo.id, "v1", record.id, 600)
    assert db.run_read(manifests.get, repo.id, "v1").digest == record.digest


def test_one_holder_fetches_a_blob_at_a_time(db: Database, clock: Clock) -> None:
    digest = str(Digest.of(b"layer"))
    first = db.run_write(proxy_cache.claim_fetch, digest, "a" * 32, 30_000)
    assert first == proxy_cache.Claim(None, True)
    assert db.run_write(proxy_cache.claim_fetch, digest, "b" * 32, 30_000) == proxy_cache.Claim(None, False)
    db.run_write(proxy_cache.renew_fetch, digest, "a" * 32, 30_000)
    clock.advance(31)  # the holder died: its lease runs out and another takes over
    assert db.run_write(proxy_cache.claim_fetch, digest, "b" * 32, 30_000) == proxy_cache.Claim(None, True)
    db.run_write(proxy_cache.release_fetch, digest, "a" * 32)  # not the holder any more: no effect
    assert db.run_write(proxy_cache.claim_fetch, digest, "c" * 32, 30_000).mine is False
    db.run_write(blobs.register, digest, 5)
    db.run_write(proxy_cache.release_fetch, digest, "b" * 32)
    assert db.run_write(proxy_cache.claim_fetch, digest, "c" * 32, 30_000) == proxy_cache.Claim(5, False)


@pytest.mark.skipif(DB_BACKEND != "postgresql", reason="SQLite runs one write at a time: nothing interleaves")
def test_a_blob_stored_while_its_lease_is_claimed_is_not_fetched_again(db: Database) -> None:
    """The holder stores the blob and gives up its lease in one transaction; a claim that read
    "not stored" before that commit and takes the free lease after it must see the blob."""
    digest = str(Digest.of(b"raced layer"))
    assert db.run_write(proxy_cache.claim_fetch, digest, "a" * 32, 30_000).mine
    stored, commit = threading.Event(), threading.Event()

    def store_and_hold(d: Db) -> None:
        blobs.register(d, digest, 5)
        proxy_cache.release_fetch(d, digest, "a" * 32)
        stored.set()
        commit.wait(30)  # until the other claim waits for this transaction's lease row

    holder = threading.Thread(target=db.run_write, args=(store_and_hold,))
    holder.start()
    stored.wait(30)
    claims: list[proxy_cache.Claim] = []
    claimer = threading.Thread(
        target=lambda: claims.append(db.run_write(proxy_cache.claim_fetch, digest, "b" * 32, 30_000))
    )
    claimer.start()
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    watcher = Database(db.uri, pool_size=1)  # the test's own pool is taken by the two transactions
    try:
        wait_until(
            lambda: watcher.run_read(lambda d: d.execute(waiting).scalar()) or None, "the claim to wait"
        )
    finally:
        watcher.engine.dispose()
    commit.set()
    holder.join()
    claimer.join()
    assert claims == [proxy_cache.Claim(5, False)]
    assert db.run_write(proxy_cache.claim_fetch, digest, "c" * 32, 30_000) == proxy_cache.Claim(5, False)

"""Tags and their history (core/tags.py) on the real database: every move, removal, expiry and
restore is a lifetime row, so the history tells what a tag pointed at and when. The clock is
moved, never waited for."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Clock
from wharf.core import blobs, manifests, repositories, tags
from wharf.core.errors import InvalidInput, ManifestNotFound, NotFound, TagImmutable
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Database, Db
from wharf.oci.digest import Digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DAY_MS = 86_400_000


def _manifest(db: Db, repo: RepositoryRecord, content: str) -> int:
    """An image manifest with one layer, stored through core as a push stores it; its id."""
    config, layer = f'{{"content":"{content}"}}'.encode(), content.encode()
    for data in (config, layer):
        blob = blobs.register(db, str(Digest.of(data)), len(data))
        blobs.link(db, repo.id, blob.id)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(Digest.of(config)),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": str(Digest.of(layer)),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    record = manifests.put(db, repo, str(Digest.of(body)), body, manifests.parse(body, OCI_MANIFEST), None)
    return record.id


@pytest.fixture
def repo(db: Database) -> RepositoryRecord:
    return db.run_write(repositories.create, "admin", "tagged", visibility="private", actor=None)


@pytest.fixture
def images(db: Database, repo: RepositoryRecord) -> tuple[int, int]:
    return db.run_write(_manifest, repo, "one"), db.run_write(_manifest, repo, "two")


def _history(db: Database, repo: RepositoryRecord, name: str) -> list[tags.TagLifetime]:
    return db.run_read(tags.history, repo.id, only_alive=False, name=name)


def test_moving_a_tag_ends_one_lifetime_and_starts_the_next(
    db: Database, repo: RepositoryRecord, images: tuple[int, int], clock: Clock
) -> None:
    one, two = images
    assert db.run_write(tags.point, repo.id, "latest", one) is True
    assert db.run_write(tags.point, repo.id, "latest", one) is False  # already there
    clock.advance(10)
    assert db.run_write(tags.point, repo.id, "latest", two) is True
    newest, oldest = _history(db, repo, "latest")
    assert (newest.alive, newest.end_ms) == (True, None)
    assert oldest.alive is False and oldest.end_ms == newest.start_ms
    assert newest.start_ms - oldest.start_ms >= 10_000
    assert newest.manifest_digest != oldest.manifest_digest
    assert len(db.run_read(tags.list_names, repo.id, after=None, limit=10)) == 1
    assert db.run_read(tags.list_names, repo.id, after=None, limit=10) == ["latest"]


def test_removed_tags_stay_in_history_and_can_be_restored_within_the_window(
    db: Database, repo: RepositoryRecord, images: tuple[int, int], clock: Clock
) -> None:
    one, two = images
    db.run_write(tags.point, repo.id, "v1", one)
    assert db.run_write(tags.remove, repo.id, "v1") == one
    with pytest.raises(ManifestNotFound):
        db.run_write(tags.remove, repo.id, "v1")
    assert db.run_read(tags.list_names, repo.id, after=None, limit=10) == []
    assert [t.alive for t in _history(db, repo, "v1")] == [False]
    # within the window, the tag comes back as a reversion; a manifest it never had does not
    with pytest.raises(NotFound):
        db.run_write(tags.restore, repo.id, "v1", two, DAY_MS)
    db.run_write(tags.restore, repo.id, "v1", one, DAY_MS)
    restored, _removed = _history(db, repo, "v1")
    assert restored.alive and restored.reversion
    # a lifetime that ended longer ago than the window cannot be restored
    db.run_write(tags.point, repo.id, "v1", two)
    clock.advance(2 * DAY_MS / 1000)
    db.run_write(tags.remove, repo.id, "v1")
    with pytest.raises(NotFound):
        db.run_write(tags.restore, repo.id, "v1", one, DAY_MS)


def test_an_expiry_ends_the_tag_when_the_clock_passes_it(
    db: Database, repo: RepositoryRecord, images: tuple[int, int], clock: Clock
) -> None:
    one, _ = images
    db.run_write(tags.point, repo.id, "short", one)
    with pytest.raises(InvalidInput):  # in the past
        db.run_write(tags.set_expiration, repo.id, "short", clock.now_ms() - 1)
    expires = clock.now_ms() + 60_000
    assert db.run_write(tags.set_expiration, repo.id, "short", expires) == one
    assert len(db.run_read(tags.list_names, repo.id, after=None, limit=10)) == 1
    clock.advance(61)
    # gone for every reader at once, though its row is still open ...
    assert len(db.run_read(tags.list_names, repo.id, after=None, limit=10)) == 0
    [lifetime] = _history(db, repo, "short")
    assert (lifetime.alive, lifetime.end_ms, lifetime.expires_ms) == (False, expires, expires)
    # ... until the periodic sweep closes it at its expiry, not at the sweep's time
    assert db.run_write(tags.end_expired, clock.now_ms()) == 1
    assert db.run_write(tags.end_expired, clock.now_ms()) == 0
    [lifetime] = _history(db, repo, "short")
    assert lifetime.end_ms == expires
    # pushing the name again starts a new lifetime
    db.run_write(tags.point, repo.id, "short", one)
    assert [t.alive for t in _history(db, repo, "short")] == [True, False]


def test_an_immutable_tag_cannot_be_moved_removed_or_expired(
    db: Database, repo: RepositoryRecord, images: tuple[int, int]
) -> None:
    one, two = images
    db.run_write(tags.point, repo.id, "stable", one)
    db.run_write(tags.set_immutable, repo.id, "stable", True)
    for change in (
        lambda c: tags.point(c, repo.id, "stable", two),
        lambda c: tags.remove(c, repo.id, "stable"),
        lambda c: tags.set_expiration(c, repo.id, "stable", 2**50),
        lambda c: tags.remove_all_for(c, repo.id, one),
    ):
        with pytest.raises(TagImmutable):
            db.run_write(change)
    [lifetime] = _history(db, repo, "stable")
    assert lifetime.alive and lifetime.immutable
    db.run_write(tags.set_immutable, repo.id, "stable", False)
    assert db.run_write(tags.remove_all_for, repo.id, one) == ["stable"]


def test_forgetting_removes_past_lifetimes_only(
    db: Database, repo: RepositoryRecord, images: tuple[int, int]
) -> None:
    one, two = images
    db.run_write(tags.point, repo.id, "v", one)
    db.run_write(tags.point, repo.id, "v", two)
    db.run_write(tags.point, repo.id, "v", one)
    assert len(_history(db, repo, "v")) == 3
    assert db.run_write(tags.forget, repo.id, "v", one, include_alive=False) == 1  # the first one
    assert [t.alive for t in _history(db, repo, "v")] == [True, False]
    assert db.run_write(tags.forget, repo.id, "v", one, include_alive=True) == 1  # ended, then forgotten
    assert [t.alive for t in _history(db, repo, "v")] == [False]
    with pytest.raises(NotFound):
        db.run_write(tags.restore, repo.id, "v", one, DAY_MS)

"""Repository mirrors in core on the real database: the sparse index only a mirror's sync may
store, a sync whose worker died becoming due again, and the health document."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Clock
from tests.core.test_tags import OCI_MANIFEST, _manifest
from wharf.core import manifests, mirror_health, mirrors, repositories
from wharf.core.errors import InvalidInput, ManifestChildUnknown
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db
from wharf.oci import mediatypes as mt

BOX = SecretBox("test")
QUEUE = "repo_mirror_sync"


@pytest.fixture
def repo(db: Database) -> RepositoryRecord:
    return db.run_write(repositories.create, "admin", "mirrored", visibility="private", actor=None)


def _index(db: Db, repo: RepositoryRecord, digests: list[str], sparse: bool) -> str:
    entries = [
        {"mediaType": OCI_MANIFEST, "digest": d, "size": 100, "platform": {"architecture": a, "os": "linux"}}
        for d, a in zip(digests, ("amd64", "arm64"), strict=False)
    ]
    body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}).encode()
    parsed = manifests.parse(body, mt.OCI_INDEX)
    return manifests.put(db, repo, "multi", body, parsed, None, sparse=sparse).digest


def _digest(db: Db, manifest_id: int) -> str:
    return str(db.execute(manifests.digest_of(manifest_id)).scalar())


def test_a_push_needs_every_child_and_only_a_mirror_write_stores_a_sparse_index(
    db: Database, repo: RepositoryRecord
) -> None:
    present = db.run_read(_digest, db.run_write(_manifest, repo, "amd64 image"))
    absent = "sha256:" + "ab" * 32  # the arm64 image, left upstream by the filter
    with pytest.raises(ManifestChildUnknown):
        db.run_write(_index, repo, [present, absent], False)
    digest = db.run_write(_index, repo, [present, absent], True)
    listed = db.run_read(manifests.children_of, repo.id, [digest])
    assert listed == {digest: {present: True, absent: False}}


def _mirror(db: Database, repo: RepositoryRecord, **extra: object) -> mirrors.MirrorRecord:
    settings = mirrors.Settings(
        external_reference="registry.example.com/proj/app",
        root_rule={"rule_kind": "tag_glob_csv", "rule_value": ["*"]},
        skopeo_timeout_interval=60,
        **extra,  # type: ignore[arg-type]
    )
    return db.run_write(mirrors.create, BOX, repo, settings, None)


def test_the_architecture_filter_takes_quays_architectures(db: Database, repo: RepositoryRecord) -> None:
    with pytest.raises(InvalidInput):
        _mirror(db, repo, architecture_filter=["amd64", "m68k"])
    record = _mirror(db, repo, architecture_filter=["arm64", "amd64", "arm64"])
    assert record.architecture_filter == ["amd64", "arm64"]


def test_a_sync_whose_worker_died_is_due_again_once_it_stops_moving(
    db: Database, repo: RepositoryRecord, clock: Clock
) -> None:
    _mirror(db, repo)
    assert db.run_write(mirrors.begin, repo.id) is not None
    assert repo.id not in db.run_read(mirrors.due, clock.now_ms())
    # a running sync moves its expiration on as it goes, and stays running
    clock.advance(50)
    assert db.run_write(mirrors.progress, repo.id, 1, 4, 2048)
    clock.advance(50)
    running = db.run_read(mirrors.require, repo.id)
    assert mirrors.is_running(running, clock.now_ms())
    assert (running.tags_done, running.tags_total, running.bytes_done) == (1, 4, 2048)
    assert repo.id not in db.run_read(mirrors.due, clock.now_ms())
    assert not db.run_write(mirrors.sync_now, repo, None)
    # its worker died: nothing moves it, it lapses, the mirror is due and a sync resumes it
    clock.advance(61)
    stale = db.run_read(mirrors.require, repo.id)
    assert stale.sync_status == mirrors.SYNCING and not mirrors.is_running(stale, clock.now_ms())
    assert repo.id in db.run_read(mirrors.due, clock.now_ms())
    health = db.run_read(mirror_health.health, mirror_health.Query(), QUEUE, clock.now_ms())
    assert any("worker stopped" in i["message"] for i in health["issues"])
    assert health["repositories"]["syncing"] == 1 and health["tags_pending"] == 3
    first = db.run_read(mirrors.require, repo.id).sync_token
    resumed = db.run_write(mirrors.begin, repo.id)
    assert resumed is not None and resumed.sync_status == mirrors.SYNCING
    assert resumed.sync_token is not None and resumed.sync_token != first

    # the first worker only stalled: when it wakes, its writes are refused and change nothing
    assert not db.run_write(mirrors.progress, repo.id, 4, 4, 9999, first)
    assert db.run_write(mirrors.finish, repo.id, mirrors.SYNC_FAILED, "late", first) is None
    now = db.run_read(mirrors.require, repo.id)
    assert (now.sync_status, now.tags_done, now.bytes_done) == (mirrors.SYNCING, 0, 0)
    assert db.run_write(mirrors.progress, repo.id, 4, 4, 100, resumed.sync_token)
    ended = db.run_write(mirrors.finish, repo.id, mirrors.SYNC_SUCCESS, None, resumed.sync_token)
    assert ended is not None and ended.sync_status == mirrors.SYNC_SUCCESS and ended.sync_token is None


def test_health_counts_and_names_the_mirrors_that_need_a_look(db: Database, clock: Clock) -> None:
    made = [
        db.run_write(repositories.create, "admin", name, visibility="private", actor=None)
        for name in ("good", "bad", "new")
    ]
    for repo in made:
        _mirror(db, repo)
    db.run_write(mirrors.finish, made[0].id, mirrors.SYNC_SUCCESS, None)
    db.run_write(mirrors.finish, made[1].id, mirrors.SYNC_FAILED, "upstream said 500")
    query = mirror_health.Query(detailed=True)
    health = db.run_read(mirror_health.health, query, QUEUE, clock.now_ms())
    assert health["repositories"] | {"details": None, "pagination": None} == {
        "total": 3,
        "syncing": 0,
        "completed": 1,
        "failed": 1,
        "never_run": 1,
        "details": None,
        "pagination": None,
    }
    # half of those that ran fail: over Quay's 20%
    assert health["healthy"] is False and health["issues"][0]["severity"] == "critical"
    messages = [i["message"] for i in health["issues"]]
    assert "Repository admin/new has never been synced" in messages
    assert "Repository admin/bad failed its last sync: upstream said 500" in messages
    details = {d["repository"]: d for d in health["repositories"]["details"]}
    assert details["good"]["sync_status"] == "SYNC_SUCCESS" and details["good"]["last_sync"] is not None
    assert health["repositories"]["pagination"] == {"limit": 100, "offset": 0, "has_more": False}

    # a day without a successful sync makes the good one stale; the summary names no repository
    clock.advance(25 * 3600)
    health = db.run_read(mirror_health.health, query, QUEUE, clock.now_ms())
    assert "Repository admin/good hasn't synced in over 24 hours" in [i["message"] for i in health["issues"]]
    summary = mirror_health.Query(name_repositories=False)
    health = db.run_read(mirror_health.health, summary, QUEUE, clock.now_ms())
    assert "details" not in health["repositories"]
    assert [i["severity"] for i in health["issues"]] == ["critical"]

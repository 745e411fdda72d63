"""Quota accounting (core/quotas.py) on the real database: sizes follow pushes, deletions,
garbage collection and repository deletions in their own transactions, equal a full
recomputation after any sequence of them, and a Reject limit holds against parallel pushes."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update

from wharf.core import blobs, gc, manifests, quota_verify, quotas, repositories, tags
from wharf.core.clock import now_ms
from wharf.core.errors import ManifestNotFound, QuotaExceeded
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Database, Db
from wharf.db.models import QuotaNamespaceSize, QuotaRepositorySize, UserNotification
from wharf.oci.digest import Digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ON = quotas.Enforcement(enabled=True)


def _link(db: Db, repo: RepositoryRecord, data: list[bytes]) -> None:
    for blob in data:
        record = blobs.register(db, str(Digest.of(blob)), len(blob))
        blobs.link(db, repo.id, record.id)


def _body(config: bytes, layers: list[bytes]) -> bytes:
    def descriptor(media_type: str, data: bytes) -> dict[str, object]:
        return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data)}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", d) for d in layers],
        }
    ).encode()


def push(
    database: Database,
    repo: RepositoryRecord,
    layers: list[bytes],
    tag: str | None = None,
    quota: quotas.Enforcement = quotas.OFF,
    config: bytes = b"{}",
) -> str:
    """Link the blobs (as uploads do), then PUT the manifest (as a push does); its digest."""
    database.run_write(_link, repo, [config, *layers])
    body = _body(config, layers)
    reference = tag or str(Digest.of(body))
    parsed = manifests.parse(body, OCI_MANIFEST)
    return database.run_write(
        lambda db: manifests.put(db, repo, reference, body, parsed, None, None, quota)
    ).digest


def repo_size(database: Database, repo: RepositoryRecord) -> int:
    return database.run_read(quotas.repository_sizes, [repo.id]).get(repo.id, 0)


def ns_size(database: Database, namespace_id: int) -> int:
    return database.run_read(quotas.namespace_size, namespace_id)


def collect(database: Database) -> None:
    """Garbage collection with no grace and no time machine: what nothing tags goes now."""
    later = now_ms() + 1
    database.run_write(gc.expire_tags, later, 0)
    for repository_id in database.run_read(gc.repository_ids):
        database.run_write(gc.sweep_repository, repository_id, later, 0)


def drift(database: Database) -> list[quota_verify.Drift]:
    found = []
    for namespace_id, name in database.run_read(quota_verify.namespace_ids):
        found += database.run_write(quota_verify.check_namespace, namespace_id, name, fix=False)
    return found


@pytest.fixture
def repo(db: Database) -> RepositoryRecord:
    return db.run_write(repositories.create, "admin", "app", visibility="private", actor=None)


@pytest.fixture
def other(db: Database) -> RepositoryRecord:
    return db.run_write(repositories.create, "admin", "other", visibility="private", actor=None)


def test_a_blob_counts_once_in_a_repository_and_once_in_its_namespace(
    db: Database, repo: RepositoryRecord, other: RepositoryRecord
) -> None:
    base, top = b"b" * 1000, b"t" * 100
    push(db, repo, [base], "v1")
    assert repo_size(db, repo) == 1002  # the layer and the config ("{}")
    push(db, repo, [base, top], "v2")
    assert repo_size(db, repo) == 1102
    push(db, other, [base], "v1")
    assert repo_size(db, other) == 1002
    assert ns_size(db, repo.namespace_id) == 1102
    assert drift(db) == []


def test_deleting_by_digest_releases_and_pushing_again_counts_again(
    db: Database, repo: RepositoryRecord
) -> None:
    digest = push(db, repo, [b"x" * 500], "v1")
    db.run_write(manifests.delete, repo, digest, None)
    assert repo_size(db, repo) == 0
    assert ns_size(db, repo.namespace_id) == 0
    push(db, repo, [b"x" * 500], "v1")
    assert repo_size(db, repo) == 502
    assert drift(db) == []


def test_a_deleted_tag_frees_nothing_until_garbage_collection_removes_its_image(
    db: Database, repo: RepositoryRecord
) -> None:
    push(db, repo, [b"y" * 700], "v1")
    db.run_write(tags.remove, repo.id, "v1")
    assert repo_size(db, repo) == 702  # the time machine still holds it
    collect(db)
    assert repo_size(db, repo) == 0
    assert ns_size(db, repo.namespace_id) == 0
    assert drift(db) == []


def test_deleting_a_repository_releases_what_only_it_held(
    db: Database, repo: RepositoryRecord, other: RepositoryRecord
) -> None:
    push(db, repo, [b"shared" * 100, b"mine" * 10], "v1")
    push(db, other, [b"shared" * 100], "v1")
    db.run_write(repositories.delete_repo, repo, None)
    assert ns_size(db, repo.namespace_id) == 602
    assert drift(db) == []


def _quota(db: Database, namespace_id: int, limit_bytes: int, *limits: tuple[str, int]) -> None:
    def apply(c: Db) -> None:
        quota = quotas.create(c, namespace_id, "admin", limit_bytes, None, ON)
        for kind, percent in limits:
            quota = quotas.get(c, namespace_id, quota.id)
            quotas.create_limit(c, "admin", quota, kind, percent, None, ON)

    db.run_write(apply)


def _notified(db: Database, namespace_id: int) -> int | None:
    return db.run_read(
        lambda c: c.execute(
            select(QuotaNamespaceSize.notified_percent).where(QuotaNamespaceSize.namespace_id == namespace_id)
        ).scalar()
    )


def test_over_a_reject_limit_pushes_that_add_bytes_are_refused(db: Database, repo: RepositoryRecord) -> None:
    _quota(db, repo.namespace_id, 10_000, (quotas.WARNING, 50), (quotas.REJECT, 100))
    push(db, repo, [b"a" * 6000], "v1", ON)
    assert _notified(db, repo.namespace_id) == 50
    push(db, repo, [b"b" * 6000], "v2", ON)  # accepted: the namespace was under the limit before it
    assert _notified(db, repo.namespace_id) == 100
    with pytest.raises(QuotaExceeded) as refused:
        push(db, repo, [b"c" * 10], "v3", ON)
    assert str(refused.value) == (
        "quota exceeded for namespace admin: 11.7 KiB of 9.8 KiB; delete tags or ask an administrator"
    )
    assert ns_size(db, repo.namespace_id) == 12_002
    assert db.run_read(quotas.overage, repo.namespace_id, ON) == 2_002
    assert db.run_read(quotas.overage, repo.namespace_id, quotas.OFF) == 0
    push(db, repo, [b"a" * 6000], "again", ON)  # adds no bytes: accepted
    pulled = db.run_read(manifests.get, repo.id, "v2")
    assert pulled.digest
    assert drift(db) == []


def _bells(db: Database, namespace_id: int) -> list[str]:
    """The in-app notifications about the namespace's quota, oldest first."""
    return db.run_read(
        lambda c: [
            str(k)
            for k in c.execute(
                select(UserNotification.kind)
                .where(UserNotification.target_id == namespace_id)
                .order_by(UserNotification.id)
            ).scalars()
        ]
    )


def test_notifications_fire_once_per_crossing_and_rearm_when_the_size_falls_back(
    db: Database, repo: RepositoryRecord
) -> None:
    _quota(db, repo.namespace_id, 1000, (quotas.WARNING, 50), (quotas.REJECT, 90))
    digest = push(db, repo, [b"a" * 600], "v1", ON)
    assert _notified(db, repo.namespace_id) == 50
    push(db, repo, [b"b" * 100], "v2", ON)  # still between the limits: nothing new
    assert _bells(db, repo.namespace_id) == ["quota_warning"]
    push(db, repo, [b"c" * 200], "v3", ON)
    assert _bells(db, repo.namespace_id) == ["quota_warning", "quota_error"]
    db.run_write(manifests.delete, repo, digest, None)
    assert _notified(db, repo.namespace_id) is None  # 306 of 1000: under both
    push(db, repo, [b"d" * 300], "v4", ON)
    assert _bells(db, repo.namespace_id) == ["quota_warning", "quota_error", "quota_warning"]


def test_the_system_default_rejects_namespaces_without_a_quota(db: Database, repo: RepositoryRecord) -> None:
    default = quotas.Enforcement(enabled=True, default_reject_bytes=100)
    push(db, repo, [b"a" * 200], "v1", default)
    with pytest.raises(QuotaExceeded):
        push(db, repo, [b"b" * 10], "v2", default)
    push(db, repo, [b"b" * 10], "v2")  # enforcement off: accepted, still counted
    assert ns_size(db, repo.namespace_id) == 212


def test_verify_reports_drift_and_fix_corrects_it(db: Database, repo: RepositoryRecord) -> None:
    push(db, repo, [b"q" * 300], "v1")
    db.run_write(lambda c: c.execute(update(QuotaRepositorySize).values(size_bytes=5)))
    found = drift(db)
    assert [(d.kind, d.name, d.stored_bytes, d.actual_bytes) for d in found] == [
        ("repository", "admin/app", 5, 302)
    ]
    db.run_write(quota_verify.check_namespace, repo.namespace_id, "admin", fix=True)
    assert drift(db) == []
    push(db, repo, [b"q" * 300, b"r"], "v2")
    assert repo_size(db, repo) == 303


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_accounting_equals_a_full_recomputation_after_any_sequence(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    repos = [
        db.run_write(repositories.create, "admin", f"r{i}", visibility="private", actor=None)
        for i in range(3)
    ]
    pool = [bytes([65 + i]) * rng.randint(1, 5000) for i in range(8)]
    pushed: dict[int, list[str]] = {r.id: [] for r in repos}
    for _step in range(40):
        target = rng.choice(repos)
        action = rng.random()
        if action < 0.45 or not pushed[target.id]:
            layers = rng.sample(pool, rng.randint(1, 3))
            pushed[target.id].append(push(db, target, layers, f"t{rng.randint(0, 4)}"))
        elif action < 0.6:  # re-tag an image already there
            digest = rng.choice(pushed[target.id])
            record = db.run_read(manifests.get, target.id, digest) if _alive(db, target, digest) else None
            if record is not None:
                db.run_write(tags.point, target.id, f"t{rng.randint(0, 4)}", record.id)
        elif action < 0.75:
            name = f"t{rng.randint(0, 4)}"
            if _tagged(db, target, name):
                db.run_write(tags.remove, target.id, name)
        elif action < 0.9:
            digest = rng.choice(pushed[target.id])
            if _alive(db, target, digest):
                db.run_write(manifests.delete, target, digest, None)
        else:
            collect(db)
        assert drift(db) == [], f"step {_step}"
    collect(db)
    assert drift(db) == []


def _alive(db: Database, repo: RepositoryRecord, digest: str) -> bool:
    try:
        db.run_read(manifests.get, repo.id, digest)
    except ManifestNotFound:
        return False
    return True


def _tagged(db: Database, repo: RepositoryRecord, name: str) -> bool:
    try:
        db.run_read(manifests.get, repo.id, name)
    except ManifestNotFound:
        return False
    return True


def test_parallel_pushes_never_pass_the_reject_limit_by_more_than_one_manifest(
    db: Database, repo: RepositoryRecord
) -> None:
    layer_size = 1000
    _quota(db, repo.namespace_id, 5 * layer_size, (quotas.REJECT, 100))
    parallel = Database(db.engine.url.render_as_string(hide_password=False), pool_size=8)

    def one(i: int) -> bool:
        try:
            push(parallel, repo, [bytes([i]) * layer_size], f"p{i}", ON, config=f'{{"n":{i}}}'.encode())
        except QuotaExceeded:
            return False
        return True

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            accepted = list(pool.map(one, range(1, 25)))
    finally:
        parallel.dispose()
    size = ns_size(db, repo.namespace_id)
    largest_manifest = layer_size + len('{"n":24}')
    assert size <= 5 * layer_size + largest_manifest
    assert size > 5 * layer_size  # the push that crossed was accepted, the rest refused
    assert not all(accepted)
    assert drift(db) == []


def test_an_index_counts_its_children_once(db: Database, repo: RepositoryRecord) -> None:
    children = [push(db, repo, [bytes([65 + i]) * 400], config=f'{{"p":{i}}}'.encode()) for i in range(2)]
    before = repo_size(db, repo)
    assert before == 2 * (400 + len('{"p":0}'))
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": d,
                    "size": 1,
                    "platform": {"os": "linux", "architecture": a},
                }
                for d, a in zip(children, ("amd64", "arm64"), strict=True)
            ],
        }
    ).encode()
    parsed = manifests.parse(index, "application/vnd.oci.image.index.v1+json")
    db.run_write(lambda c: manifests.put(c, repo, "multi", index, parsed, None))
    assert repo_size(db, repo) == before  # the index adds no blob; its children count once
    collect(db)
    assert repo_size(db, repo) == before  # the tagged index keeps its children
    db.run_write(tags.remove, repo.id, "multi")
    collect(db)
    assert repo_size(db, repo) == 0
    assert drift(db) == []

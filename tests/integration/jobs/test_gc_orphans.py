"""The orphan sweep: storage files no database row owns go once they are older than the grace
period; files with rows, young files and uploads in progress stay. Written against `rt.store`,
so it runs on the filesystem and, with WHARF_TEST_STORAGE=s3, on S3."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from tests.integration.registry_client import RegistryClient, sha256
from wharf.core import gc as gc_rows
from wharf.core import log_archive, log_exports, queue, squash
from wharf.core import orphans as orphan_rows
from wharf.core.clock import now_ms
from wharf.db.models import Job
from wharf.jobs import orphans, runner
from wharf.oci.digest import Digest
from wharf.runtime import Runtime
from wharf.storage._s3api import MultipartApi
from wharf.storage.base import BlobStore, blob_path, upload_path
from wharf.storage.filesystem import FilesystemStore
from wharf.storage.s3 import S3BlobStore

REPO = "admin/orphans"
DAY = 24 * 3600


def _later(rt: Runtime) -> float:
    """A moment at which everything stored so far is past the grace period."""
    return time.time() + rt.settings.GC_ORPHAN_GRACE_S + 60


async def _paths(store: BlobStore, prefix: str) -> set[str]:
    return {p async for p in store.list(prefix)}


async def _stray_blob(store: BlobStore, data: bytes) -> str:
    """A blob file without its row, as a crash between writing it and committing the row leaves it."""
    path = blob_path(Digest.of(data))
    await store.put_bytes(path, data)
    return path


async def _stray_upload(store: BlobStore, data: bytes) -> str:
    """An upload's bytes without its row (on S3: part objects), as a crash or a cancel that died
    half-way leaves them."""
    path = upload_path(str(uuid.uuid4()))
    writer = await store.writer(path)
    await writer.write(data)
    await writer.close()
    return path


async def _stray_staged(store: BlobStore) -> list[str]:
    """Objects a crash left between staging and moving into place: a log export, a log archive, a
    squashed download (on S3: part objects)."""
    paths = [
        f"{log_exports.STORAGE_PREFIX}/{uuid.uuid4()}.json.partial",
        f"{log_archive.PREFIX}/{'7' * 20}.jsonl.gz.partial",
        squash.staging_path(),
    ]
    for path in paths:
        writer = await store.writer(path)
        await writer.write(b"half of something")
        await writer.close()
    return paths


async def _upload_in_progress(reg: RegistryClient, first_chunk: bytes) -> str:
    h = await reg.headers(REPO)
    r = await reg.http.post(f"/v2/{REPO}/blobs/uploads/", headers=h)
    assert r.status_code == 202, r.text
    r = await reg.http.patch(r.headers["Location"], content=first_chunk, headers=h)
    assert r.status_code == 202, r.text
    return str(r.headers["Location"])


async def _removed_total(reg: RegistryClient, kind: str) -> float:
    text = (await reg.http.get("/metrics")).text
    prefix = f'wharf_gc_removed_total{{object="{kind}"}}'
    return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(prefix)), 0.0)


async def test_old_orphans_go_and_everything_owned_stays(reg: RegistryClient) -> None:
    rt = reg.wharf.rt
    owned = await reg.push_blob(REPO, b"a blob with its row")
    stray_blob = await _stray_blob(rt.store, b"a blob without its row")
    stray_upload = await _stray_upload(rt.store, b"an upload without its row")
    stray_staged = await _stray_staged(rt.store)
    cached_squash = squash.cache_path(owned)  # garbage collection's to judge, not the sweep's
    await rt.store.put_bytes(cached_squash, b"a finished squashed download")
    head, tail = b"the first chunk of an upload in progress, ", b"and its last"
    live = await _upload_in_progress(reg, head)
    removed_before = await _removed_total(reg, "orphan_blob")

    rehearsal = await orphans.sweep(rt, dry_run=True, now=_later(rt))
    assert await rt.store.stat(stray_blob) is not None  # a dry run removes nothing
    report = await orphans.sweep(rt, now=_later(rt))

    assert (report.blobs_removed, report.uploads_removed, report.staged_removed) == (1, 1, 3)
    expected = sorted([stray_blob, stray_upload, *stray_staged])
    assert sorted(report.removed_paths) == sorted(rehearsal.removed_paths) == expected
    assert report.bytes_freed == len(b"a blob without its row") + len(b"an upload without its row") + 3 * len(
        b"half of something"
    )
    for path in stray_staged:
        assert await rt.store.stat(path) is None
    assert await rt.store.get_bytes(cached_squash) == b"a finished squashed download"
    assert stray_blob not in await _paths(rt.store, "sha256")
    assert stray_upload not in await _paths(rt.store, "uploads")  # S3: its part objects are gone
    assert await _removed_total(reg, "orphan_blob") - removed_before == 1
    h = await reg.headers(REPO)
    assert (await reg.http.get(f"/v2/{REPO}/blobs/{owned}", headers=h)).content == b"a blob with its row"
    # the upload in progress lost nothing: it finishes whole
    r = await reg.http.put(live, params={"digest": sha256(head + tail)}, content=tail, headers=h)
    assert r.status_code == 201, r.text
    assert (await reg.http.get(f"/v2/{REPO}/blobs/{sha256(head + tail)}", headers=h)).content == head + tail
    again = await orphans.sweep(rt, now=_later(rt))
    assert (again.blobs_removed, again.uploads_removed, again.staged_removed) == (0, 0, 0)


async def test_young_orphans_stay(reg: RegistryClient) -> None:
    rt = reg.wharf.rt
    stray_blob = await _stray_blob(rt.store, b"written a moment ago")
    stray_upload = await _stray_upload(rt.store, b"also just now")
    staged = await _stray_staged(rt.store)  # as a write in flight leaves them
    report = await orphans.sweep(rt)
    assert (report.blobs_removed, report.uploads_removed, report.interrupted_writes_removed) == (0, 0, 0)
    assert report.staged_removed == 0
    for path in staged:
        assert await rt.store.get_bytes(path) == b"half of something"
    assert await rt.store.get_bytes(stray_blob) == b"written a moment ago"
    assert stray_upload in await _paths(rt.store, "uploads")


async def test_the_periodic_job_removes_aged_files_and_keeps_young_ones(
    reg: RegistryClient, caplog: pytest.LogCaptureFixture
) -> None:
    """On the filesystem a file's age can be set directly: the job runs on the real clock."""
    rt = reg.wharf.rt
    if not isinstance(rt.store, FilesystemStore):
        pytest.skip("object ages cannot be set on S3 (the sweep's `now` stands in there)")
    old_blob = await _stray_blob(rt.store, b"left by a crash two days ago")
    young_blob = await _stray_blob(rt.store, b"left a minute ago")
    old_upload = await _stray_upload(rt.store, b"an upload cancelled two days ago")
    staging = rt.store.root / ".staging" / "interrupted-put"
    staging.write_bytes(b"a put_bytes that never got renamed")
    two_days_ago = time.time() - 2 * DAY
    for path in (rt.store.root / old_blob, rt.store.root / old_upload, staging):
        os.utime(path, (two_days_ago, two_days_ago))
    os.utime(rt.store.root / young_blob, (time.time() - 60, time.time() - 60))

    assert runner.periodic(rt)["gc_orphans"] == rt.settings.GC_ORPHAN_INTERVAL_S == DAY
    await rt.db.write(queue.enqueue, "gc_orphans")
    with caplog.at_level(logging.DEBUG, logger="wharf.gc"):
        assert await runner.run_once(rt)

    assert old_blob not in await _paths(rt.store, "sha256")
    assert old_upload not in await _paths(rt.store, "uploads")
    assert not staging.exists()
    assert await rt.store.get_bytes(young_blob) == b"left a minute ago"
    # the run that removed something says so at INFO; one with nothing to remove only at DEBUG
    swept = [r for r in caplog.records if r.name == "wharf.gc"]
    assert [r.levelno for r in swept] == [logging.INFO] and "1 orphan blobs" in swept[0].getMessage()
    caplog.clear()
    await rt.db.write(queue.enqueue, "gc_orphans")
    with caplog.at_level(logging.DEBUG, logger="wharf.gc"):
        assert await runner.run_once(rt)
    assert [r.levelno for r in caplog.records if r.name == "wharf.gc"] == [logging.DEBUG]


async def test_the_sweep_can_be_turned_off(reg: RegistryClient) -> None:
    rt = reg.wharf.rt
    settings = rt.settings.model_copy(update={"GC_ORPHAN_INTERVAL_S": 0})
    off = dataclasses.replace(rt, settings=settings)
    assert "gc_orphans" not in runner.periodic(off)


async def test_a_blob_is_deleted_only_under_a_marker_taken_while_it_has_no_row(reg: RegistryClient) -> None:
    """The re-check right before a deletion: a row published since the listing keeps the file, and a
    marker makes an upload of the same digest wait (core/uploads.py _publish) until it is gone."""
    rt = reg.wharf.rt
    data = b"pushed again after the sweep listed it"
    await _stray_blob(rt.store, data)
    digest = str(Digest.of(data))
    assert await rt.db.write(orphan_rows.mark_orphan_blob, digest, now_ms())
    assert not await rt.db.write(orphan_rows.mark_orphan_blob, digest, now_ms())  # one deletion at a time
    await rt.db.write(gc_rows.clear_deletion, digest)
    assert await reg.push_blob(REPO, data) == digest
    assert not await rt.db.write(orphan_rows.mark_orphan_blob, digest, now_ms())
    report = await orphans.sweep(rt, now=_later(rt))
    assert report.blobs_removed == 0
    assert await rt.store.get_bytes(blob_path(Digest.parse(digest))) == data


async def test_old_incomplete_multipart_uploads_are_aborted(reg: RegistryClient) -> None:
    """What a node that crashed in the middle of a streamed PATCH or an assembly leaves in S3:
    parts that no listing shows and that are billed until the upload is aborted."""
    store = reg.wharf.rt.store
    if not isinstance(store, S3BlobStore):
        pytest.skip("multipart uploads are S3's")
    endpoint = store.multipart_endpoint
    assert endpoint is not None
    async with MultipartApi.session(endpoint) as api:
        key = store.key(f"sha256/ab/{'ab' * 32}")
        upload_id = await api.create(key)
        await api.upload_part(key, upload_id, 1, _body(b"x" * 1024), 1024)
        young = await orphans.sweep(reg.wharf.rt)
        assert young.interrupted_writes_removed == 0
        assert await api.pending(store.key_prefix) == [(key, upload_id)]
        old = await orphans.sweep(reg.wharf.rt, now=_later(reg.wharf.rt))
        assert old.interrupted_writes_removed == 1
        assert await api.pending(store.key_prefix) == []


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_job_running_longer_than_its_lease_is_not_claimed_again(reg: RegistryClient) -> None:
    """A sweep of a large store outlives the first lease: the runner renews it, so no other worker
    starts the same sweep meanwhile."""
    rt = reg.wharf.rt
    await rt.db.write(queue.enqueue, "gc_orphans")
    job = await queue.claim(rt.db, ["gc_orphans"])
    assert job is not None
    expired = update(Job).where(Job.id == job.id).values(lease_until_ms=now_ms() - 1)
    await rt.db.write(lambda db: db.execute(expired))  # as after LEASE_MS of work
    await queue.extend_lease(rt.db, job)
    assert await queue.claim(rt.db, ["gc_orphans"]) is None
    await queue.complete(rt.db, job)

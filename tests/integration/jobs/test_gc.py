"""Garbage collection: what it removes, what it keeps, and that concurrent pushes never lose data."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock
from tests.integration.registry_client import RegistryClient, sha256
from tests.integration.world import World
from wharf.config import Settings, load_settings
from wharf.jobs import gc, orphans
from wharf.oci import mediatypes as mt
from wharf.storage.base import BlobStore

REPO = "acme/app"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None, storage_config: dict[str, object]) -> Settings:
    # The collections below pass grace_s=0 (a setting that low is refused at start): whatever
    # nothing references is garbage at once (the concurrency test relies on the protocol alone,
    # not on the grace period, to keep pushes whole).
    overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, **storage_config}
    return load_settings(None, overrides, environ={})


async def _blob_sizes(store: BlobStore) -> dict[str, int]:
    """Digest -> size of every blob in storage (through the store: any driver)."""
    sizes = {}
    async for path in store.list("sha256"):
        size = await store.stat(path)
        if size is not None:
            sizes["sha256:" + path.rsplit("/", 1)[1]] = size
    return sizes


async def _blob_files(store: BlobStore) -> set[str]:
    return set(await _blob_sizes(store))


async def _push(reg: RegistryClient, repo: str, tag: str | None, layers: list[bytes], **extra: Any) -> str:
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "layers": [sha256(x) for x in layers]}
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": await reg.push_blob(repo, config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": LAYER, "digest": await reg.push_blob(repo, x), "size": len(x)} for x in layers
        ],
        **extra,
    }
    body = json.dumps(manifest).encode()
    r = await reg.push_manifest(repo, tag or sha256(body), body)
    assert r.status_code == 201, r.text
    return sha256(body)


async def _window_zero(world: World) -> None:
    r = await world.reg.http.put(
        "/api/v1/organization/acme", json={"tag_expiration_s": 0}, headers=world.api["owner"]
    )
    assert r.status_code == 200


async def test_deleted_image_is_collected_and_shared_layers_stay(world: World, settings: Settings) -> None:
    reg, rt = world.reg, world.reg.wharf.rt
    await _window_zero(world)
    shared, only_a, only_b = b"shared layer", b"layer of a", b"layer of b"
    a = await _push(reg, REPO, "a", [shared, only_a])
    b = await _push(reg, REPO, "b", [shared, only_b])
    r = await reg.http.delete(f"/v2/{REPO}/manifests/b", headers=await reg.headers(REPO))
    assert r.status_code == 202
    sizes = await _blob_sizes(rt.store)
    before = set(sizes)

    async def freed_bytes() -> float:
        text = (await reg.http.get("/metrics")).text
        line = next(x for x in text.splitlines() if x.startswith("wharf_gc_freed_bytes_total"))
        return float(line.split()[-1])

    freed_before = await freed_bytes()
    rehearsal = await gc.collect(rt, dry_run=True, grace_s=0)
    assert await _blob_files(rt.store) == before  # a dry run deletes nothing
    report = await gc.collect(rt, grace_s=0)
    assert rehearsal.manifests_removed == report.manifests_removed == 1
    removed = set(report.removed_digests)
    assert sha256(only_b) in removed and sha256(shared) not in removed and sha256(only_a) not in removed
    assert await _blob_files(rt.store) == before - removed
    assert report.bytes_freed == sum(sizes[d] for d in removed) == rehearsal.bytes_freed
    assert sorted(rehearsal.removed_digests) == sorted(report.removed_digests)
    # the totals are in the metrics as well (a dry run counts nothing)
    assert await freed_bytes() - freed_before == report.bytes_freed
    # a stays whole; b's manifest is gone for good
    h = await reg.headers(REPO)
    assert (await reg.http.get(f"/v2/{REPO}/manifests/a", headers=h)).headers["Docker-Content-Digest"] == a
    for layer in (shared, only_a):
        assert (await reg.http.get(f"/v2/{REPO}/blobs/{sha256(layer)}", headers=h)).content == layer
    assert (await reg.http.get(f"/v2/{REPO}/manifests/{b}", headers=h)).status_code == 404
    # nothing left to do
    again = await gc.collect(rt, grace_s=0)
    assert (again.manifests_removed, again.blobs_removed) == (0, 0)


async def test_periodic_gc_logs_at_info_only_when_it_removed_something(
    world: World, settings: Settings, caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    reg, rt = world.reg, world.reg.wharf.rt

    def lines(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "wharf.gc" and r.levelno == level]

    with caplog.at_level(logging.DEBUG, logger="wharf.gc"):
        await gc.collect_periodically(rt)  # an idle registry: nothing to say above DEBUG
    assert lines(logging.DEBUG) and not lines(logging.INFO) and not lines(logging.WARNING)
    caplog.clear()
    await _window_zero(world)
    await _push(reg, REPO, "brief", [b"a layer for a moment"])
    r = await reg.http.delete(f"/api/v1/repository/{REPO}/tag/brief", headers=world.api["owner"])
    assert r.status_code == 204
    clock.advance(1)  # the lifetime ended before the run's clock reading
    with caplog.at_level(logging.INFO, logger="wharf.gc"):
        assert (await gc.collect_periodically(rt)).tag_lifetimes_removed == 1
    assert lines(logging.INFO) == ["gc: removed 1 old tag lifetimes (0 bytes freed)"]


async def test_window_keeps_history_restorable(world: World, settings: Settings) -> None:
    reg, rt, http = world.reg, world.reg.wharf.rt, world.reg.http
    digest = await _push(reg, REPO, "keep", [b"kept by the time machine"])
    assert (
        await http.delete(f"/api/v1/repository/{REPO}/tag/keep", headers=world.api["owner"])
    ).status_code == 204
    report = await gc.collect(rt, grace_s=0)  # the default window is two weeks
    assert report.manifests_removed == 0
    r = await http.post(
        f"/api/v1/repository/{REPO}/tag/keep/restore",
        json={"manifest_digest": digest},
        headers=world.api["owner"],
    )
    assert r.status_code == 200
    assert (await http.get(f"/v2/{REPO}/manifests/keep", headers=await reg.headers(REPO))).status_code == 200


async def test_index_children_and_referrers_are_reachable(world: World, settings: Settings) -> None:
    reg, rt = world.reg, world.reg.wharf.rt
    await _window_zero(world)
    child = await _push(reg, REPO, None, [b"child layer"])
    child_body = (
        await reg.http.get(f"/v2/{REPO}/manifests/{child}", headers=await reg.headers(REPO))
    ).content
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": child,
                "size": len(child_body),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    assert (
        await reg.push_manifest(REPO, "multi", json.dumps(index).encode(), mt.OCI_INDEX)
    ).status_code == 201
    index_digest = sha256(json.dumps(index).encode())
    shown = await reg.http.get(
        f"/api/v1/repository/{REPO}/manifest/{index_digest}", headers=world.api["owner"]
    )
    assert shown.json()["is_manifest_list"] is True and shown.json()["layers"] is None
    assert shown.json()["manifests"] == [
        {
            "digest": child,
            "media_type": mt.OCI_MANIFEST,
            "size": len(child_body),
            "platform": {"architecture": "amd64", "os": "linux"},
        }
    ]
    subject = {"mediaType": mt.OCI_MANIFEST, "digest": child, "size": len(child_body)}
    signature = await _push(
        reg, REPO, None, [b"signature"], subject=subject, artifactType="application/x-sig"
    )
    orphan = await _push(reg, REPO, None, [b"orphan layer"])
    report = await gc.collect(rt, grace_s=0)
    h = await reg.headers(REPO)
    assert report.manifests_removed == 1 and sha256(b"orphan layer") in report.removed_digests
    for kept in (child, signature):
        assert (await reg.http.get(f"/v2/{REPO}/manifests/{kept}", headers=h)).status_code == 200
    assert (await reg.http.get(f"/v2/{REPO}/manifests/{orphan}", headers=h)).status_code == 404


async def test_deleted_repository_is_purged(world: World, settings: Settings) -> None:
    reg, rt = world.reg, world.reg.wharf.rt
    await _push(reg, "acme/doomed", "x", [b"doomed layer"])
    r = await reg.http.delete("/api/v1/repository/acme/doomed", headers=world.api["owner"])
    assert r.status_code == 204
    report = await gc.collect(rt, grace_s=0)
    assert sha256(b"doomed layer") in report.removed_digests
    assert sha256(b"doomed layer") not in await _blob_files(rt.store)


async def test_pushes_and_gc_running_together_lose_nothing(world: World, settings: Settings) -> None:
    """Pushers re-upload the same few layers (so GC keeps deleting digests that are being pushed
    again), move and delete tags, while GC and the orphan sweep run in loops. Afterwards every tag
    pulls whole.
    A push may lose a race (its links were swept before its manifest came); it is retried as a
    client would, and what matters is that nothing published is ever broken."""
    reg, rt = world.reg, world.reg.wharf.rt
    await _window_zero(world)
    pool = [f"layer {i}".encode() * 100 for i in range(6)]
    stop = asyncio.Event()
    failures: list[str] = []

    async def pusher(n: int) -> None:
        rng = random.Random(n)
        for i in range(12):
            layers = rng.sample(pool, 2)
            tag = f"t{n}-{i % 3}"
            for _attempt in range(50):
                try:
                    await _push(reg, REPO, tag, layers)
                    break
                except AssertionError as e:  # a push that lost a race with GC is retried, as clients do
                    failures.append(str(e)[:200])
            else:
                raise AssertionError(f"push {tag} never succeeded: {failures[-3:]}")
            if rng.random() < 0.3:
                await reg.http.delete(f"/v2/{REPO}/manifests/{tag}", headers=await reg.headers(REPO))

    removed_by_gc = [0]

    async def collector() -> None:
        while not stop.is_set():
            # With a grace period of 0, every upload would lose its link before its manifest comes.
            report = await gc.collect(rt, progress=lambda _m: None, grace_s=2)
            removed_by_gc[0] += report.blobs_removed
            await asyncio.sleep(0)

    async def orphan_sweeper() -> int:
        removed = 0
        while not stop.is_set():
            # Every file looks past the grace period: only the re-check under the deletion marker
            # keeps a blob being published at that moment.
            report = await orphans.sweep(rt, now=time.time() + 30 * 24 * 3600, progress=lambda _m: None)
            removed += report.blobs_removed + report.uploads_removed
            await asyncio.sleep(0)
        return removed

    gc_task = asyncio.create_task(collector())
    sweep_task = asyncio.create_task(orphan_sweeper())
    # Rounds of pushes go on until GC has removed something while they ran (the garbage of a round
    # is collected once it is older than the grace period), however fast a round is.
    for round_ in range(100):
        await asyncio.gather(*(pusher(100 * round_ + n) for n in range(3)))
        if removed_by_gc[0] > 0:
            break
    stop.set()
    await gc_task
    assert removed_by_gc[0] > 0, "GC removed nothing while the pushes ran: the test proved nothing"
    await sweep_task
    await gc.collect(rt, grace_s=0)

    h = await reg.headers(REPO)
    listed = (await reg.http.get(f"/v2/{REPO}/tags/list", headers=h)).json()["tags"] or []
    assert listed
    for tag in listed:
        r = await reg.http.get(f"/v2/{REPO}/manifests/{tag}", headers=h)
        assert r.status_code == 200, (tag, r.text)
        manifest = r.json()
        for d in [manifest["config"], *manifest["layers"]]:
            blob = await reg.http.get(f"/v2/{REPO}/blobs/{d['digest']}", headers=h)
            assert blob.status_code == 200 and sha256(blob.content) == d["digest"], (tag, d["digest"])

"""Pull statistics through the wire: pulls over /v2, counted by the audit buffer's own flushing loop
(no flush called by hand), read with Quay's getTagPullStatistics and getManifestPullStatistics;
with pull log entries off; with the feature off; and who may read them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.world import PW, World
from tests.waiting import wait_until_async
from wharf.app import WharfApp
from wharf.config import Settings, load_settings

REPO = "acme/app"


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, data_dir: Path, db_uri: str | None, storage_config: dict[str, object]
) -> Settings:
    overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, **storage_config, **getattr(request, "param", {})}
    return load_settings(None, overrides, environ={})


@pytest.fixture
async def flushing(wharf: WharfApp) -> AsyncIterator[None]:
    """The buffer's flushing loop, as `wharf serve` runs it (tests build the app without it)."""
    task = asyncio.create_task(wharf.rt.audit_buffer.run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _pull(world: World, reference: str, *, head: bool = False, user: str = "reader") -> None:
    h = await world.reg.headers(REPO, "pull", user=user, password=PW)
    send = world.reg.http.head if head else world.reg.http.get
    assert (await send(f"/v2/{REPO}/manifests/{reference}", headers=h)).status_code == 200


async def _stats(world: World, path: str, user: str = "reader") -> dict[str, Any]:
    r = await world.reg.http.get(f"/api/v1/repository/{REPO}/{path}/pull_statistics", headers=world.api[user])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _counted(world: World, path: str, key: str, n: int) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        body = await _stats(world, path)
        return body if body[key] == n else {}

    return await wait_until_async(check, f"{key} of {path} to reach {n}")


async def test_pulls_by_tag_and_digest_are_counted_after_the_batch(world: World, flushing: None) -> None:
    digest, _ = await world.reg.push_image(REPO, "v1")
    await world.reg.push_image(REPO, "v2")
    fresh = await _stats(world, "tag/v1")
    assert fresh == {
        "tag_name": "v1",
        "tag_pull_count": 0,
        "last_tag_pull_date": None,
        "current_manifest_digest": digest,
        "manifest_pull_count": 0,
        "last_manifest_pull_date": None,
    }
    await _pull(world, "v1")
    await _pull(world, "v1")
    await _pull(world, digest)
    await _pull(world, "v1", head=True)  # HEAD is no pull
    body = await _counted(world, "tag/v1", "manifest_pull_count", 3)
    assert body["tag_pull_count"] == 2
    assert body["last_tag_pull_date"] is not None and body["last_tag_pull_date"].endswith("+0000")
    manifest = await _stats(world, f"manifest/{digest}")
    assert manifest["manifest_digest"] == digest and manifest["manifest_pull_count"] == 3
    assert manifest["last_manifest_pull_date"] == body["last_manifest_pull_date"]
    assert (await _stats(world, "tag/v2"))["tag_pull_count"] == 0
    # a tag moved to another image keeps its count; the manifest's is the new image's
    other, _ = await world.reg.push_image(REPO, "v1")
    moved = await _stats(world, "tag/v1")
    assert (moved["tag_pull_count"], moved["current_manifest_digest"], moved["manifest_pull_count"]) == (
        2,
        other,
        0,
    )


async def test_what_is_not_there_and_who_may_read(world: World) -> None:
    digest, _ = await world.reg.push_image(REPO, "v1")
    http, api = world.reg.http, world.api
    base = f"/api/v1/repository/{REPO}"
    assert (await http.get(f"{base}/tag/nope/pull_statistics", headers=api["reader"])).status_code == 404
    missing = "sha256:" + "0" * 64
    assert (
        await http.get(f"{base}/manifest/{missing}/pull_statistics", headers=api["reader"])
    ).status_code == 404
    assert (await http.get(f"{base}/manifest/v1/pull_statistics", headers=api["reader"])).status_code == 400
    # a private repository: an outsider may not know it exists, anonymous neither; a superuser may read
    assert (await http.get(f"{base}/tag/v1/pull_statistics", headers=api["outsider"])).status_code == 404
    assert (await http.get(f"{base}/tag/v1/pull_statistics")).status_code == 401
    assert (
        await http.get(f"{base}/manifest/{digest}/pull_statistics", headers=api["admin"])
    ).status_code == 200


@pytest.mark.parametrize("settings", [{"ACTION_LOG_PULLS": False}], indirect=True)
async def test_counted_with_pull_log_entries_off(world: World, flushing: None) -> None:
    await world.reg.push_image(REPO, "v1")
    await _pull(world, "v1")
    await _counted(world, "tag/v1", "tag_pull_count", 1)
    logs = (await world.reg.http.get(f"/api/v1/repository/{REPO}/logs", headers=world.api["owner"])).json()
    assert not [e for e in logs["logs"] if e["kind"] == "pull_repo"]


@pytest.mark.parametrize("settings", [{"FEATURE_IMAGE_PULL_STATS": False}], indirect=True)
async def test_feature_off_counts_nothing_and_hides_the_endpoints(world: World, wharf: WharfApp) -> None:
    await world.reg.push_image(REPO, "v1")
    await _pull(world, "v1")
    assert wharf.rt.audit_buffer.pending == 1  # the log entry only
    r = await world.reg.http.get(
        f"/api/v1/repository/{REPO}/tag/v1/pull_statistics", headers=world.api["reader"]
    )
    assert r.status_code == 404 and "FEATURE_IMAGE_PULL_STATS" in r.text


async def test_concurrent_pulls_across_batches_are_each_counted_once(world: World, flushing: None) -> None:
    """Pulls arriving together, while the loop writes batches, all land in the counts."""
    digest, _ = await world.reg.push_image(REPO, "v1")
    h = await world.reg.headers(REPO, "pull", user="reader", password=PW)

    async def pulls(reference: str, n: int) -> None:
        for _ in range(n):
            r = await world.reg.http.get(f"/v2/{REPO}/manifests/{reference}", headers=h)
            assert r.status_code == 200

    await asyncio.gather(*(pulls("v1", 10) for _ in range(5)), *(pulls(digest, 10) for _ in range(3)))
    body = await _counted(world, "tag/v1", "manifest_pull_count", 80)
    assert body["tag_pull_count"] == 50

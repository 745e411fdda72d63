"""Auto-prune and immutability policies through /api/v1 (Quay's paths, fields and answers), the
job that applies them, and how an immutable tag answers every change on /api/v1 and /v2."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock
from tests.integration.world import World
from wharf.config import Settings, load_settings
from wharf.jobs import runner
from wharf.oci import mediatypes as mt
from wharf.services import retention

REPO = "acme/app"
ORG_PRUNE = "/api/v1/organization/acme/autoprunepolicy/"
REPO_PRUNE = f"/api/v1/repository/{REPO}/autoprunepolicy/"
ORG_FREEZE = "/api/v1/organization/acme/immutabilitypolicy/"
REPO_FREEZE = f"/api/v1/repository/{REPO}/immutabilitypolicy/"


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None) -> Settings:
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "FEATURE_AUTO_PRUNE": True,
        "FEATURE_IMMUTABLE_TAGS": True,
    }
    return load_settings(None, overrides, environ={})


async def _run_jobs(world: World) -> None:
    while await runner.run_once(world.reg.wharf.rt):
        pass


async def _alive(world: World) -> list[str]:
    r = await world.reg.http.get(
        f"/api/v1/repository/{REPO}/tag/",
        params={"onlyActiveTags": "true", "limit": 100},
        headers=world.api["owner"],
    )
    return sorted(t["name"] for t in r.json()["tags"])


async def _logs(world: World) -> list[dict[str, Any]]:
    # The clock may have been moved forward: ask for the days around it.
    today = datetime.now(UTC)
    days = {
        "starttime": f"{today - timedelta(days=1):%m/%d/%Y}",
        "endtime": f"{today + timedelta(days=2):%m/%d/%Y}",
    }
    r = await world.reg.http.get(f"/api/v1/repository/{REPO}/logs", params=days, headers=world.api["owner"])
    logs: list[dict[str, Any]] = r.json()["logs"]
    return logs


async def _tags(world: World) -> dict[str, dict[str, Any]]:
    r = await world.reg.http.get(
        f"/api/v1/repository/{REPO}/tag/", params={"onlyActiveTags": "true"}, headers=world.api["owner"]
    )
    return {t["name"]: t for t in r.json()["tags"]}


@pytest.mark.parametrize("base", [ORG_PRUNE, REPO_PRUNE, "/api/v1/user/autoprunepolicy/"])
async def test_auto_prune_policy_crud(world: World, base: str) -> None:
    http, h = world.reg.http, world.api["owner"]
    r = await http.post(
        base, json={"method": "creation_date", "value": "7d", "tagPattern": "^dev-"}, headers=h
    )
    assert r.status_code == 201, r.text
    uuid = r.json()["uuid"]
    r = await http.post(base, json={"method": "number_of_tags", "value": 10}, headers=h)
    assert r.status_code == 201, r.text
    policies = (await http.get(base, headers=h)).json()["policies"]
    assert policies[0]["uuid"] == uuid and len(policies) == 2
    assert (await http.get(base + uuid, headers=h)).json() == {
        "uuid": uuid,
        "method": "creation_date",
        "value": "7d",
        "tagPattern": "^dev-",
        "tagPatternMatches": True,
    }
    r = await http.put(
        base + uuid, json={"method": "number_of_tags", "value": 3, "tagPattern": "^dev-"}, headers=h
    )
    assert r.status_code == 204, r.text
    assert (await http.get(base + uuid, headers=h)).json()["value"] == 3
    r = await http.delete(base + uuid, headers=h)
    assert r.status_code == 200 and r.json() == {"uuid": uuid}
    r = await http.get(base + uuid, headers=h)
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"method": "number_of_tags", "value": 5, "tagPattern": "(unclosed"}, "missing )"),
        ({"method": "number_of_tags", "value": 5, "tagPattern": "x" * 300}, "longer than 256"),
        ({"method": "number_of_tags", "value": 5, "tagPattern": "(a)\\1"}, "not a valid regular expression"),
        ({"method": "by_size", "value": 5}, "method must be one of"),
        ({"method": "creation_date", "value": "forever"}, "not a duration"),
        ({"method": "number_of_tags", "value": -1}, "whole number"),
        ({"value": 5}, "method"),
    ],
)
async def test_an_invalid_policy_is_refused_with_the_reason(
    world: World, body: dict[str, Any], reason: str
) -> None:
    r = await world.reg.http.post(ORG_PRUNE, json=body, headers=world.api["owner"])
    assert r.status_code == 400, r.text
    assert r.json()["error_type"] == "invalid_request" and reason in r.json()["detail"]


async def test_an_invalid_immutability_pattern_is_refused(world: World) -> None:
    r = await world.reg.http.post(REPO_FREEZE, json={"tagPattern": "v[0-9"}, headers=world.api["owner"])
    assert r.status_code == 400 and "missing ]" in r.json()["detail"]
    r = await world.reg.http.post(REPO_FREEZE, json={"tagPattern": "^v"}, headers=world.api["owner"])
    assert r.status_code == 201
    r = await world.reg.http.post(REPO_FREEZE, json={"tagPattern": "^v"}, headers=world.api["owner"])
    assert r.status_code == 400 and "identical" in r.json()["detail"]


@pytest.mark.parametrize(
    ("who", "base", "status"),
    [
        ("reader", ORG_PRUNE, 403),
        ("outsider", ORG_FREEZE, 403),
        ("writer", REPO_PRUNE, 403),
        ("reader", REPO_FREEZE, 403),
        ("direct", REPO_PRUNE, 201),  # admin of the repository, not of the organization
        ("direct", ORG_PRUNE, 403),
    ],
)
async def test_only_administrators_manage_policies(world: World, who: str, base: str, status: int) -> None:
    body = {"tagPattern": "^v"} if "immutability" in base else {"method": "number_of_tags", "value": 5}
    r = await world.reg.http.post(base, json=body, headers=world.api[who])
    assert r.status_code == status, r.text


async def test_policies_are_absent_while_their_feature_is_off(world: World) -> None:
    rt = world.reg.wharf.rt
    off = rt.settings.model_copy(update={"FEATURE_AUTO_PRUNE": False, "FEATURE_IMMUTABLE_TAGS": False})
    object.__setattr__(rt, "settings", off)
    for base in (ORG_PRUNE, REPO_PRUNE, ORG_FREEZE, REPO_FREEZE):
        r = await world.reg.http.get(base, headers=world.api["owner"])
        assert r.status_code == 404 and "turned off" in r.json()["detail"], base


async def test_the_job_prunes_and_logs_and_the_time_machine_restores(world: World, clock: Clock) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    digests = {}
    for name in ("build-1", "build-2", "build-3", "v1"):
        digests[name], _ = await reg.push_image(REPO, name)
        clock.advance(60)
    r = await http.post(ORG_FREEZE, json={"tagPattern": "^v[0-9]+$"}, headers=h)
    assert r.status_code == 201
    r = await http.post(REPO_PRUNE, json={"method": "number_of_tags", "value": 1}, headers=h)
    assert r.status_code == 201
    await _run_jobs(world)  # creating the policies queued a run
    assert await _alive(world) == ["build-3", "v1"]  # v1 is immutable: kept, and not counted
    logs = await _logs(world)
    pruned = sorted(e["metadata"]["tag"] for e in logs if e["kind"] == "autoprune_tag_delete")
    assert pruned == ["build-1", "build-2"]
    r = await http.post(
        f"/api/v1/repository/{REPO}/tag/build-1/restore",
        json={"manifest_digest": digests["build-1"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert "build-1" in await _alive(world)


async def test_the_job_freezes_existing_tags(world: World) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    await reg.push_image(REPO, "v1")
    await reg.push_image(REPO, "latest")
    assert (await _tags(world))["v1"]["immutable"] is False
    assert (await http.post(REPO_FREEZE, json={"tagPattern": "^v"}, headers=h)).status_code == 201
    await _run_jobs(world)
    found = await _tags(world)
    assert (found["v1"]["immutable"], found["latest"]["immutable"]) == (True, False)
    logs = await _logs(world)
    assert any(e["kind"] == "tags_made_immutable_by_policy" for e in logs)
    await reg.push_image(REPO, "v2")  # frozen as it lands, and logged so
    assert (await _tags(world))["v2"]["immutable"] is True
    landed = [e["metadata"] for e in await _logs(world) if e["kind"] == "tag_made_immutable_by_policy"]
    assert [(m["tag"], m["repo"]) for m in landed] == [("v2", "app")]


# --- what an immutable tag answers: the table of every change --------------------------------------


async def _manifest_with_label(world: World, labels: dict[str, str]) -> bytes:
    reg = world.reg
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Labels": labels}, "n": time.time_ns()}
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": await reg.push_blob(REPO, config.encode()),
            "size": len(config),
        },
        "layers": [],
    }
    return json.dumps(manifest).encode()


async def _push_over(world: World, tag: str) -> tuple[int, str]:
    body = await _manifest_with_label(world, {})
    r = await world.reg.push_manifest(REPO, tag, body)
    return r.status_code, r.text


async def _move(world: World, tag: str) -> tuple[int, str]:
    other, _ = await world.reg.push_image(REPO, None)
    r = await world.reg.http.put(
        f"/api/v1/repository/{REPO}/tag/{tag}", json={"manifest_digest": other}, headers=world.api["owner"]
    )
    return r.status_code, r.text


async def _api_delete(world: World, tag: str) -> tuple[int, str]:
    r = await world.reg.http.delete(f"/api/v1/repository/{REPO}/tag/{tag}", headers=world.api["owner"])
    return r.status_code, r.text


async def _v2_delete(world: World, tag: str) -> tuple[int, str]:
    r = await world.reg.http.delete(f"/v2/{REPO}/manifests/{tag}", headers=await world.reg.headers(REPO))
    return r.status_code, r.text


async def _expire(world: World, tag: str) -> tuple[int, str]:
    r = await world.reg.http.put(
        f"/api/v1/repository/{REPO}/tag/{tag}",
        json={"expiration": int(time.time()) + 3600},
        headers=world.api["owner"],
    )
    return r.status_code, r.text


async def _v2_delete_manifest(world: World, tag: str) -> tuple[int, str]:
    headers = await world.reg.headers(REPO)
    got = await world.reg.http.get(f"/v2/{REPO}/manifests/{tag}", headers=headers)
    digest = got.headers["Docker-Content-Digest"]
    r = await world.reg.http.delete(f"/v2/{REPO}/manifests/{digest}", headers=headers)
    return r.status_code, r.text


async def _expire_by_label(world: World, tag: str) -> tuple[int, str]:
    """Push an image labelled quay.expires-after to the tag: a move, with an expiry."""
    body = await _manifest_with_label(world, {"quay.expires-after": "1h"})
    r = await world.reg.push_manifest(REPO, tag, body)
    return r.status_code, r.text


CHANGES = {
    "push over it (/v2)": _push_over,
    "push an expiring image over it (/v2)": _expire_by_label,
    "delete its manifest (/v2)": _v2_delete_manifest,
    "move it": _move,
    "delete it": _api_delete,
    "delete it (/v2)": _v2_delete,
    "expire it": _expire,
}


@pytest.mark.parametrize(
    ("tag", "change", "frozen_status", "free_status"),
    [
        ("v1.0", "push over it (/v2)", 403, 201),
        ("v1.0", "move it", 409, 201),
        ("v1.0", "delete it", 409, 204),
        ("v1.0", "delete it (/v2)", 403, 202),
        ("v1.0", "expire it", 409, 201),
        ("v1.0", "push an expiring image over it (/v2)", 403, 201),
        ("v1.0", "delete its manifest (/v2)", 403, 202),
    ],
)
async def test_an_immutable_tag_refuses_every_change(
    world: World, tag: str, change: str, frozen_status: int, free_status: int
) -> None:
    """Each change, on a tag a policy froze as it was pushed, and on one the policy does not match."""
    h = world.api["owner"]
    assert (
        await world.reg.http.post(REPO_FREEZE, json={"tagPattern": "^v[0-9]"}, headers=h)
    ).status_code == 201
    await world.reg.push_image(REPO, tag)
    await world.reg.push_image(REPO, "latest")
    status, text = await CHANGES[change](world, tag)
    assert status == frozen_status, text
    if status == 403:  # /v2: OCI's DENIED, with a message a client shows
        error = json.loads(text)["errors"][0]
        assert error["code"] == "DENIED" and "immutable" in error["message"] and tag in error["message"]
    else:
        assert json.loads(text)["error_type"] == "tag_immutable"
    status, text = await CHANGES[change](world, "latest")
    assert status == free_status, text


async def test_an_immutable_tag_neither_expires_nor_is_pruned(world: World, clock: Clock) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    # a label schedules expiry, but the policy freezes the tag as it lands: no expiry
    assert (await http.post(REPO_FREEZE, json={"tagPattern": "^release-"}, headers=h)).status_code == 201
    body = await _manifest_with_label(world, {"quay.expires-after": "1h"})
    assert (await reg.push_manifest(REPO, "release-1", body)).status_code == 201
    assert (await reg.push_manifest(REPO, "scratch", body)).status_code == 201
    found = await _tags(world)
    assert found["release-1"].get("expiration") is None and found["scratch"].get("expiration") is not None
    # a tag expiring before a policy matched it: freezing clears the expiry
    await reg.push_image(REPO, "old")
    r = await http.put(
        f"/api/v1/repository/{REPO}/tag/old", json={"expiration": int(time.time()) + 3600}, headers=h
    )
    assert r.status_code == 201
    assert (await http.post(REPO_FREEZE, json={"tagPattern": "^old$"}, headers=h)).status_code == 201
    await _run_jobs(world)
    clock.advance(2 * 3600)
    assert await _alive(world) == ["old", "release-1"]  # scratch expired; the frozen ones did not
    # and auto-prune passes them by
    assert (
        await http.post(REPO_PRUNE, json={"method": "creation_date", "value": "1m"}, headers=h)
    ).status_code == 201
    await _run_jobs(world)
    assert await _alive(world) == ["old", "release-1"]
    # thawed by hand, and with no policy matching it any more, it is a tag like another: pruned
    r = await http.put(f"/api/v1/repository/{REPO}/tag/old", json={"immutable": False}, headers=h)
    assert r.status_code == 201
    old_policy = (await http.get(REPO_FREEZE, headers=h)).json()["policies"][1]
    assert old_policy["tagPattern"] == "^old$"
    assert (await http.delete(REPO_FREEZE + old_policy["uuid"], headers=h)).status_code == 200
    await retention.apply(reg.wharf.rt)
    assert await _alive(world) == ["release-1"]

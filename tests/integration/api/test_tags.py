"""Tags through /api/v1: history, the time machine, expiration (API and label), immutability,
manifests and labels; and what /v2 sees of it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock
from tests.integration.registry_client import RegistryClient, sha256
from tests.integration.world import World
from wharf.config import Settings, load_settings
from wharf.oci import mediatypes as mt

REPO = "acme/app"


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None) -> Settings:
    overrides = {"DATA_DIR": data_dir, "DB_URI": db_uri, "FEATURE_IMMUTABLE_TAGS": True}
    return load_settings(None, overrides, environ={})


async def _image(reg: RegistryClient, tag: str | None, labels: dict[str, str] | None = None) -> str:
    """Push an image whose configuration carries `labels`; returns the manifest digest."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Labels": labels or {}}, "nonce": time.time_ns()}
    ).encode()
    layer = f"layer {time.time_ns()}".encode()
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": await reg.push_blob(REPO, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": await reg.push_blob(REPO, layer),
                "size": len(layer),
            }
        ],
    }
    body = json.dumps(manifest).encode()
    r = await reg.push_manifest(REPO, tag or sha256(body), body)
    assert r.status_code == 201, r.text
    return sha256(body)


async def _v2_digest(reg: RegistryClient, tag: str) -> str | None:
    r = await reg.http.get(f"/v2/{REPO}/manifests/{tag}", headers=await reg.headers(REPO))
    return r.headers["Docker-Content-Digest"] if r.status_code == 200 else None


async def test_history_move_delete_restore(world: World) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    v1 = await _image(reg, "latest")
    v2 = await _image(reg, "v2")
    base = f"/api/v1/repository/{REPO}/tag"
    # move latest to v2's manifest
    r = await http.put(f"{base}/latest", json={"manifest_digest": v2}, headers=h)
    assert r.status_code == 201, r.text
    assert await _v2_digest(reg, "latest") == v2
    # delete it; it is gone from /v2 and the active list, but in the history
    assert (await http.delete(f"{base}/latest", headers=h)).status_code == 204
    assert await _v2_digest(reg, "latest") is None
    active = (await http.get(f"{base}/", params={"onlyActiveTags": "true"}, headers=h)).json()
    assert [t["name"] for t in active["tags"]] == ["v2"]
    history = (await http.get(f"{base}/", params={"specificTag": "latest"}, headers=h)).json()["tags"]
    assert [t["manifest_digest"] for t in history] == [v2, v1]
    assert all("end_ts" in t for t in history)
    # restore latest onto v1: the time machine
    r = await http.post(f"{base}/latest/restore", json={"manifest_digest": v1}, headers=h)
    assert r.status_code == 200, r.text
    assert await _v2_digest(reg, "latest") == v1
    newest = (await http.get(f"{base}/", params={"specificTag": "latest"}, headers=h)).json()["tags"][0]
    assert newest["reversion"] is True and "end_ts" not in newest
    # a manifest the tag never pointed at cannot be restored
    other = await _image(reg, "other")
    r = await http.post(f"{base}/latest/restore", json={"manifest_digest": other}, headers=h)
    assert r.status_code == 404
    # filters and paging
    r = await http.get(f"{base}/", params={"filter_tag_name": "like:ate", "limit": 1}, headers=h)
    assert r.json()["has_additional"] is True and r.json()["tags"][0]["name"] == "latest"
    assert (await http.get(f"{base}/", params={"filter_tag_name": "regex:x"}, headers=h)).status_code == 400


async def test_restore_outside_the_window_is_refused(world: World) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    r = await http.put("/api/v1/organization/acme", json={"tag_expiration_s": 0}, headers=h)
    assert r.status_code == 200
    v1 = await _image(reg, "latest")
    assert (await http.delete(f"/api/v1/repository/{REPO}/tag/latest", headers=h)).status_code == 204
    r = await http.post(
        f"/api/v1/repository/{REPO}/tag/latest/restore", json={"manifest_digest": v1}, headers=h
    )
    assert r.status_code == 404 and "window" in r.json()["detail"]


async def test_expiration_by_api(world: World) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    await _image(reg, "temp")
    base = f"/api/v1/repository/{REPO}/tag/temp"
    r = await http.put(base, json={"expiration": int(time.time()) - 10}, headers=h)
    assert r.status_code == 400  # in the past
    soon = int(time.time()) + 30
    assert (await http.put(base, json={"expiration": soon}, headers=h)).status_code == 201
    listed = (await http.get(f"/api/v1/repository/{REPO}/tag/", headers=h)).json()["tags"][0]
    assert listed["end_ts"] == soon and "expiration" in listed
    assert (await http.put(base, json={"expiration": None}, headers=h)).status_code == 201
    assert "end_ts" not in (await http.get(f"/api/v1/repository/{REPO}/tag/", headers=h)).json()["tags"][0]


async def test_expires_after_label(world: World) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    digest = await _image(reg, "short", {"quay.expires-after": "1h", "maintainer": "ops"})
    tag = (await http.get(f"/api/v1/repository/{REPO}/tag/", headers=h)).json()["tags"][0]
    assert 3590 <= tag["end_ts"] - tag["start_ts"] <= 3600
    labels = (await http.get(f"/api/v1/repository/{REPO}/manifest/{digest}/labels", headers=h)).json()[
        "labels"
    ]
    assert {(label["key"], label["value"], label["source_type"]) for label in labels} == {
        ("quay.expires-after", "1h", "manifest"),
        ("maintainer", "ops", "manifest"),
    }
    # labels that came with the image cannot be deleted
    r = await http.delete(f"/api/v1/repository/{REPO}/manifest/{digest}/labels/{labels[0]['id']}", headers=h)
    assert r.status_code == 400


async def test_expired_tags_vanish_from_v2(world: World, clock: Clock) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    await _image(reg, "blink")
    # Expirations are whole seconds: a minute ahead stays in the future however slow the machine is.
    expires = clock.now_ms() // 1000 + 60
    r = await http.put(f"/api/v1/repository/{REPO}/tag/blink", json={"expiration": expires}, headers=h)
    assert r.status_code == 201, r.text
    assert await _v2_digest(reg, "blink") is not None
    clock.advance(61)  # the expiration passes, without the test waiting for it
    assert await _v2_digest(reg, "blink") is None
    r = await http.get(f"/v2/{REPO}/tags/list", headers=await reg.headers(REPO))
    assert "blink" not in r.json()["tags"]
    # pushing the tag again starts a new lifetime
    await _image(reg, "blink")
    assert await _v2_digest(reg, "blink") is not None


async def test_immutable_tags(world: World) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    v1 = await _image(reg, "stable")
    v2 = await _image(reg, None)
    base = f"/api/v1/repository/{REPO}/tag/stable"
    assert (await http.put(base, json={"immutable": True}, headers=h)).status_code == 201
    r = await http.put(base, json={"manifest_digest": v2}, headers=h)
    assert r.status_code == 409 and r.json()["error_type"] == "tag_immutable"
    assert (await http.delete(base, headers=h)).status_code == 409
    assert (await http.put(base, json={"expiration": int(time.time()) + 60}, headers=h)).status_code == 409
    # and on /v2: no push over it, no delete of it or of its manifest
    manifest = (await http.get(f"/v2/{REPO}/manifests/{v2}", headers=await reg.headers(REPO))).content
    r = await reg.push_manifest(REPO, "stable", manifest)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    for ref in ("stable", v1):
        r = await http.delete(f"/v2/{REPO}/manifests/{ref}", headers=await reg.headers(REPO))
        assert r.status_code == 403, ref
    assert await _v2_digest(reg, "stable") == v1
    assert (await http.put(base, json={"immutable": False}, headers=h)).status_code == 201
    assert (await http.delete(base, headers=h)).status_code == 204


async def test_permanently_delete_from_the_time_machine(world: World) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    v1 = await _image(reg, "gone")
    base = f"/api/v1/repository/{REPO}/tag/gone"
    r = await http.post(f"{base}/expire", json={"manifest_digest": v1, "is_alive": True}, headers=h)
    assert r.status_code == 200, r.text
    assert await _v2_digest(reg, "gone") is None
    assert (
        await http.get(f"/api/v1/repository/{REPO}/tag/", params={"specificTag": "gone"}, headers=h)
    ).json()["tags"] == []
    r = await http.post(f"{base}/restore", json={"manifest_digest": v1}, headers=h)
    assert r.status_code == 404


async def test_manifest_and_api_labels(world: World) -> None:
    reg, http, h = world.reg, world.reg.http, world.api["owner"]
    digest = await _image(reg, "lab")
    base = f"/api/v1/repository/{REPO}/manifest/{digest}"
    m = (await http.get(base, headers=h)).json()
    assert m["digest"] == digest and m["is_manifest_list"] is False and len(m["layers"]) == 1
    assert m["config_media_type"] == mt.OCI_CONFIG
    r = await http.post(f"{base}/labels", json={"key": "team", "value": "infra"}, headers=h)
    assert r.status_code == 201
    label = r.json()["label"]
    assert (await http.get(f"{base}/labels/{label['id']}", headers=h)).json()["value"] == "infra"
    r = await http.post(
        f"{base}/labels", json={"key": "j", "value": "{bad", "media_type": "application/json"}, headers=h
    )
    assert r.status_code == 400
    r = await http.post(
        f"{base}/labels", json={"key": "k", "value": "v", "media_type": "text/html"}, headers=h
    )
    assert r.status_code == 400
    r = await http.get(f"{base}/labels", params={"filter": "te"}, headers=h)
    assert [x["key"] for x in r.json()["labels"]] == ["team"]
    # quay.expires-after added by API schedules the expiry of the manifest's tags
    r = await http.post(f"{base}/labels", json={"key": "quay.expires-after", "value": "2d"}, headers=h)
    assert r.status_code == 201
    tag = (await http.get(f"/api/v1/repository/{REPO}/tag/", params={"specificTag": "lab"}, headers=h)).json()
    assert "end_ts" in tag["tags"][0]
    assert (await http.delete(f"{base}/labels/{label['id']}", headers=h)).status_code == 204
    assert (await http.get(f"{base}/labels/{label['id']}", headers=h)).status_code == 404


async def test_who_may_read_and_change_tags(world: World) -> None:
    reg, http = world.reg, world.reg.http
    digest = await _image(reg, "t1")
    base = f"/api/v1/repository/{REPO}/tag"
    assert (await http.get(f"{base}/", headers=world.api["reader"])).status_code == 200
    assert (await http.get(f"{base}/", headers=world.api["outsider"])).status_code == 404
    assert (await http.get(f"{base}/")).status_code == 401
    r = await http.put(f"{base}/t2", json={"manifest_digest": digest}, headers=world.api["reader"])
    assert r.status_code == 403
    r = await http.put(f"{base}/t2", json={"manifest_digest": digest}, headers=world.api["writer"])
    assert r.status_code == 201
    r = await http.put(f"{base}/bad tag", json={"manifest_digest": digest}, headers=world.api["writer"])
    assert r.status_code == 400
    r = await http.put(
        f"{base}/t3", json={"manifest_digest": "sha256:" + "0" * 64}, headers=world.api["writer"]
    )
    assert r.status_code == 404
    # a public repository's tags are readable anonymously
    r = await http.get("/api/v1/repository/acme/pub/tag/")
    assert r.status_code == 200

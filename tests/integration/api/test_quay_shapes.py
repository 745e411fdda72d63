"""Response shapes real Quay clients read: builds and security scans answered as Quay answers them
when there is nothing (yet) to show, the user fields Quay has, quota reports, index tags and
manifest layers filled from the image configuration's history."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.integration.registry_client import sha256
from tests.integration.world import PW, World
from wharf.oci import mediatypes as mt

REPO = "acme/app"


async def _image(world: World) -> str:
    digest, _ = await world.reg.push_image(REPO, "latest", user="owner", password=PW)
    return digest


async def test_repo_builds_are_an_empty_list(world: World) -> None:
    http = world.reg.http
    for who in ("reader", "owner", "admin"):
        r = await http.get(f"/api/v1/repository/{REPO}/build/", headers=world.api[who])
        assert r.status_code == 200, r.text
        assert r.json() == {"builds": []}
    r = await http.get(f"/api/v1/repository/{REPO}/build/?limit=10&since=0", headers=world.api["reader"])
    assert r.json() == {"builds": []}
    # read on the repository is needed, as in Quay
    assert (
        await http.get(f"/api/v1/repository/{REPO}/build/", headers=world.api["outsider"])
    ).status_code == 404
    assert (await http.get(f"/api/v1/repository/{REPO}/build/")).status_code == 401
    assert (await http.get("/api/v1/repository/acme/pub/build/")).json() == {"builds": []}
    assert (
        await http.get("/api/v1/repository/acme/nothing/build/", headers=world.api["owner"])
    ).status_code == 404


async def test_manifest_security_is_queued_until_indexed(world: World) -> None:
    # The full report, once indexed, is checked in tests/integration/jobs/test_secscan.py.
    http = world.reg.http
    digest = await _image(world)
    url = f"/api/v1/repository/{REPO}/manifest/{digest}/security"
    for who in ("reader", "owner"):
        r = await http.get(url, headers=world.api[who])
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "queued", "data": None}
    r = await http.get(url + "?vulnerabilities=true", headers=world.api["reader"])
    assert r.json() == {"status": "queued", "data": None}
    assert (await http.get(url, headers=world.api["outsider"])).status_code == 404
    assert (await http.get(url)).status_code == 401
    missing = f"/api/v1/repository/{REPO}/manifest/sha256:{'0' * 64}/security"
    assert (await http.get(missing, headers=world.api["reader"])).status_code == 404


@pytest.mark.parametrize("path", ["build/", "manifest/{digest}/security"])
async def test_placeholders_are_in_the_api_documents(world: World, path: str) -> None:
    doc = (await world.reg.http.get("/api/v1/openapi.json")).json()
    wanted = "/api/v1/repository/{repository}/" + path.replace("{digest}", "{manifestref}")
    assert wanted in doc["paths"]


async def test_logged_in_user_has_quays_fields(world: World) -> None:
    me = (await world.reg.http.get("/api/v1/user/", headers=world.api["owner"])).json()
    assert {k: me[k] for k in ("company", "family_name", "given_name", "location")} == dict.fromkeys(
        ("company", "family_name", "given_name", "location")
    )
    # Quay: `stripe_id is None`, true on every registry without billing
    assert me["is_free_account"] is True
    assert me["has_password_set"] is True
    http = world.reg.http
    org = (await http.get("/api/v1/organization/acme", headers=world.api["owner"])).json()
    assert org["is_free_account"] is True
    assert (
        "is_free_account"
        not in (await http.get("/api/v1/organization/acme", headers=world.api["reader"])).json()
    )
    repo = (await http.get(f"/api/v1/repository/{REPO}", headers=world.api["reader"])).json()
    assert repo["is_free_account"] is True


async def test_list_repos_reports_sizes_as_quota_reports(world: World) -> None:
    http = world.reg.http
    r = await http.get("/api/v1/repository", params={"namespace": "acme"}, headers=world.api["owner"])
    before = {x["name"]: x["quota_report"] for x in r.json()["repositories"]}
    assert before["app"] == {"quota_bytes": 0, "configured_quota": None}  # a blob, but no manifest yet
    _, manifest = await world.reg.push_image(REPO, "one", user="owner", password=PW)
    await world.reg.push_manifest(REPO, "two", manifest)  # the same blobs under another tag count once
    r = await http.get("/api/v1/repository", params={"namespace": "acme"}, headers=world.api["owner"])
    after = {x["name"]: x["quota_report"] for x in r.json()["repositories"]}
    blobs = [manifest["config"], *manifest["layers"]]
    assert after["app"] == {"quota_bytes": sum(b["size"] for b in blobs), "configured_quota": None}
    assert after["pub"] == before["pub"]


async def _push_history_image(world: World, tag: str) -> tuple[str, list[dict[str, Any]]]:
    reg = world.reg
    kw = {"user": "owner", "password": PW}
    layers = []
    for _ in range(2):
        data = os.urandom(512)
        layers.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": await reg.push_blob(REPO, data, **kw),
                "size": len(data),
            }
        )
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "author": "Image Author",
            "history": [
                {
                    "created": "2024-03-01T10:00:00.123456789Z",
                    "created_by": "/bin/sh -c #(nop) ADD file:abc in /",
                },
                {
                    "created": "2024-03-01T10:00:01Z",
                    "created_by": "/bin/sh -c #(nop)  ENV A=b",
                    "empty_layer": True,
                },
                {
                    "created": "2024-03-01T10:00:02Z",
                    "created_by": "RUN make",
                    "author": "Builder",
                    "comment": "buildkit",
                },
            ],
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": await reg.push_blob(REPO, config, **kw),
            "size": len(config),
        },
        "layers": layers,
    }
    body = json.dumps(manifest).encode()
    r = await reg.push_manifest(REPO, tag, body)
    assert r.status_code == 201, r.text
    return sha256(body), layers


async def test_manifest_layers_carry_the_configs_history(world: World) -> None:
    digest, layers = await _push_history_image(world, "hist")
    r = await world.reg.http.get(f"/api/v1/repository/{REPO}/manifest/{digest}", headers=world.api["reader"])
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["layers_compressed_size"] == sum(x["size"] for x in layers)
    got = m["layers"]
    assert [x["index"] for x in got] == [0, 1, 2]
    assert [x["blob_digest"] for x in got] == [
        layers[0]["digest"],
        "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
        layers[1]["digest"],
    ]
    assert got[0]["command"] == ["/bin/sh -c #(nop) ADD file:abc in /"]
    assert got[0]["created_datetime"] == "Fri, 01 Mar 2024 10:00:00 +0000"
    assert got[1]["command"] == ["/bin/sh -c #(nop)  ENV A=b"] and got[1]["compressed_size"] == 32
    assert got[2]["author"] == "Builder" and got[2]["comment"] == "buildkit"
    assert got[2]["compressed_size"] == layers[1]["size"]


async def test_index_tags_say_how_many_children_they_have(world: World) -> None:
    reg = world.reg
    children = []
    for arch in ("amd64", "arm64"):
        digest, manifest = await reg.push_image(REPO, None, user="owner", password=PW)
        size = len(json.dumps(manifest).encode())
        children.append(
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": digest,
                "size": size,
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": children}
    r = await reg.push_manifest(REPO, "multi", index, mt.OCI_INDEX)
    assert r.status_code == 201, r.text
    await reg.push_image(REPO, "single", user="owner", password=PW)
    r = await reg.http.get(f"/api/v1/repository/{REPO}/tag/", headers=world.api["reader"])
    tags = {t["name"]: t for t in r.json()["tags"]}
    multi = tags["multi"]
    assert multi["is_manifest_list"] is True
    assert multi["is_sparse"] is False
    assert multi["child_manifest_count"] == 2 and multi["present_child_count"] == 2
    assert multi["child_manifests_presence"] == {c["digest"]: True for c in children}
    single = tags["single"]
    assert single["is_manifest_list"] is False and "child_manifest_count" not in single

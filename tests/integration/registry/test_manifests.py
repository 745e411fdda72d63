"""Manifests of every supported type, by tag and digest, with validation and referrers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from tests.conftest import DB_BACKEND
from tests.integration.registry_client import RegistryClient, sha256
from wharf.app import WharfApp
from wharf.core import manifests, repositories
from wharf.db.engine import Db
from wharf.oci import mediatypes as mt

REPO = "admin/manifests"


async def test_push_and_pull_oci_manifest_by_tag_and_digest(reg: RegistryClient) -> None:
    digest, manifest = await reg.push_image(REPO, "v1")
    h = await reg.headers(REPO)
    for ref in ("v1", digest):
        r = await reg.http.get(f"/v2/{REPO}/manifests/{ref}", headers={**h, "Accept": mt.OCI_MANIFEST})
        assert r.status_code == 200
        assert r.headers["Content-Type"] == mt.OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == digest
        assert sha256(r.content) == digest
        assert json.loads(r.content) == manifest
        head = await reg.http.head(f"/v2/{REPO}/manifests/{ref}", headers=h)
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(r.content))
        assert head.content == b""


async def test_push_response_headers(reg: RegistryClient) -> None:
    config = await reg.push_blob(REPO, b"{}")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [],
        }
    ).encode()
    r = await reg.push_manifest(REPO, "latest", body)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/{REPO}/manifests/{sha256(body)}"
    assert r.headers["Docker-Content-Digest"] == sha256(body)
    assert "OCI-Subject" not in r.headers


async def test_docker_schema2_manifest(reg: RegistryClient) -> None:
    digest, _ = await reg.push_image(REPO, "docker", media_type=mt.DOCKER_MANIFEST)
    r = await reg.http.get(f"/v2/{REPO}/manifests/docker", headers=await reg.headers(REPO))
    assert r.headers["Content-Type"] == mt.DOCKER_MANIFEST
    assert r.headers["Docker-Content-Digest"] == digest


async def _index(reg: RegistryClient, children: list[str], media_type: str = mt.OCI_INDEX) -> bytes:
    child_type = mt.OCI_MANIFEST if media_type == mt.OCI_INDEX else mt.DOCKER_MANIFEST
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                {
                    "mediaType": child_type,
                    "digest": d,
                    "size": 100,
                    "platform": {"architecture": a, "os": "linux"},
                }
                for d, a in zip(children, ["amd64", "arm64", "s390x"], strict=False)
            ],
        }
    ).encode()


async def test_index_with_children(reg: RegistryClient) -> None:
    a, _ = await reg.push_image(REPO)
    b, _ = await reg.push_image(REPO)
    body = await _index(reg, [a, b])
    r = await reg.push_manifest(REPO, "multi", body, mt.OCI_INDEX)
    assert r.status_code == 201, r.text
    got = await reg.http.get(f"/v2/{REPO}/manifests/multi", headers=await reg.headers(REPO))
    assert got.content == body
    assert got.headers["Content-Type"] == mt.OCI_INDEX


async def test_docker_manifest_list(reg: RegistryClient) -> None:
    a, _ = await reg.push_image(REPO, media_type=mt.DOCKER_MANIFEST)
    body = await _index(reg, [a], mt.DOCKER_MANIFEST_LIST)
    r = await reg.push_manifest(REPO, "list", body, mt.DOCKER_MANIFEST_LIST)
    assert r.status_code == 201, r.text


async def test_index_with_missing_child(reg: RegistryClient) -> None:
    a, _ = await reg.push_image(REPO)
    body = await _index(reg, [a, sha256(b"absent")])
    r = await reg.push_manifest(REPO, "broken", body, mt.OCI_INDEX)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


async def test_missing_blob_is_manifest_blob_unknown(reg: RegistryClient) -> None:
    await reg.push_blob(REPO, b"exists")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(b"nope"),
                "size": 4,
            },
            "layers": [],
        }
    ).encode()
    r = await reg.push_manifest(REPO, "x", body)
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert err["detail"] == {"digest": sha256(b"nope")}
    assert (await reg.http.get(f"/v2/{REPO}/manifests/x", headers=await reg.headers(REPO))).status_code == 404


async def test_blob_from_another_repository_does_not_count(reg: RegistryClient) -> None:
    digest = await reg.push_blob("admin/elsewhere", b"{}")
    await reg.push_blob(REPO, b"repo exists")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": 2},
            "layers": [],
        }
    ).encode()
    r = await reg.push_manifest(REPO, "x", body)
    assert r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


async def test_invalid_manifests(reg: RegistryClient) -> None:
    config = await reg.push_blob(REPO, b"{}")
    good: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [],
    }
    cases: list[tuple[bytes, str]] = [
        (b"{not json", mt.OCI_MANIFEST),
        (b"[]", mt.OCI_MANIFEST),
        (b"\xff\xfe", mt.OCI_MANIFEST),
        (json.dumps({**good, "schemaVersion": 3}).encode(), mt.OCI_MANIFEST),
        (json.dumps({**good, "config": {"digest": config}}).encode(), mt.OCI_MANIFEST),
        (json.dumps({**good, "config": {**good["config"], "size": -1}}).encode(), mt.OCI_MANIFEST),
        (json.dumps({**good, "config": {**good["config"], "digest": "sha256:zz"}}).encode(), mt.OCI_MANIFEST),
        (json.dumps({**good, "layers": "nope"}).encode(), mt.OCI_MANIFEST),
        (json.dumps(good).encode(), mt.DOCKER_MANIFEST),  # declared type differs from the body's
        (json.dumps(good).encode(), "application/x-unknown"),
        (json.dumps({**good, "annotations": {"a": 1}}).encode(), mt.OCI_MANIFEST),
    ]
    for body, content_type in cases:
        r = await reg.push_manifest(REPO, "bad", body, content_type)
        assert r.status_code == 400, body
        assert r.json()["errors"][0]["code"] == "MANIFEST_INVALID", body


async def test_manifest_size_limit(reg: RegistryClient) -> None:
    await reg.push_blob(REPO, b"x")
    huge = b'{"schemaVersion": 2, "pad": "' + b"a" * (4 * 1024 * 1024) + b'"}'
    r = await reg.push_manifest(REPO, "huge", huge)
    assert r.status_code == 413
    assert r.json()["errors"][0]["code"] == "SIZE_INVALID"


async def test_put_by_digest_must_match(reg: RegistryClient) -> None:
    digest, manifest = await reg.push_image(REPO)
    r = await reg.push_manifest(REPO, sha256(b"other"), manifest)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    r = await reg.push_manifest(REPO, digest, manifest)
    assert r.status_code == 201


async def test_invalid_tag(reg: RegistryClient) -> None:
    _, manifest = await reg.push_image(REPO)
    for tag in ("-dash", ".dot", "a" * 129):
        r = await reg.push_manifest(REPO, tag, manifest)
        assert r.status_code == 400, tag
        assert r.json()["errors"][0]["code"] == "TAG_INVALID"


async def test_unknown_manifest(reg: RegistryClient) -> None:
    await reg.push_image(REPO, "v1")
    h = await reg.headers(REPO)
    for ref in ("v2", sha256(b"nope")):
        r = await reg.http.get(f"/v2/{REPO}/manifests/{ref}", headers=h)
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


async def test_retag_moves_tag(reg: RegistryClient) -> None:
    first, _ = await reg.push_image(REPO, "moving")
    second, _ = await reg.push_image(REPO, "moving")
    r = await reg.http.get(f"/v2/{REPO}/manifests/moving", headers=await reg.headers(REPO))
    assert r.headers["Docker-Content-Digest"] == second
    # the old manifest is still there by digest
    r = await reg.http.get(f"/v2/{REPO}/manifests/{first}", headers=await reg.headers(REPO))
    assert r.status_code == 200


async def test_delete_by_tag_keeps_manifest(reg: RegistryClient) -> None:
    digest, _ = await reg.push_image(REPO, "gone")
    h = await reg.headers(REPO)
    r = await reg.http.delete(f"/v2/{REPO}/manifests/gone", headers=h)
    assert r.status_code == 202
    assert (await reg.http.get(f"/v2/{REPO}/manifests/gone", headers=h)).status_code == 404
    assert (await reg.http.get(f"/v2/{REPO}/manifests/{digest}", headers=h)).status_code == 200
    assert (await reg.http.delete(f"/v2/{REPO}/manifests/gone", headers=h)).status_code == 404


async def test_delete_by_digest_removes_manifest_and_its_tags(reg: RegistryClient) -> None:
    digest, manifest = await reg.push_image(REPO, "a")
    await reg.push_manifest(REPO, "b", manifest)
    h = await reg.headers(REPO)
    r = await reg.http.delete(f"/v2/{REPO}/manifests/{digest}", headers=h)
    assert r.status_code == 202
    for ref in ("a", "b", digest):
        r = await reg.http.get(f"/v2/{REPO}/manifests/{ref}", headers=h)
        assert r.status_code == 404
    r = await reg.http.delete(f"/v2/{REPO}/manifests/{digest}", headers=h)
    assert r.status_code == 404
    # pushing it again brings it back
    assert (await reg.push_manifest(REPO, "a", manifest)).status_code == 201
    assert (await reg.http.get(f"/v2/{REPO}/manifests/{digest}", headers=h)).status_code == 200


async def test_schema1_is_stored_as_sent(reg: RegistryClient) -> None:
    layer = await reg.push_blob(REPO, b"layer")
    body = json.dumps(
        {
            "schemaVersion": 1,
            "name": REPO,
            "tag": "old",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": layer}],
            "history": [{"v1Compatibility": "{}"}],
            "signatures": [{"header": {}, "signature": "x", "protected": "y"}],
        },
        indent=3,
    ).encode()
    r = await reg.push_manifest(REPO, "old", body, mt.DOCKER_SCHEMA1_SIGNED)
    assert r.status_code == 201, r.text
    got = await reg.http.get(f"/v2/{REPO}/manifests/old", headers=await reg.headers(REPO))
    assert got.content == body
    assert got.headers["Content-Type"] == mt.DOCKER_SCHEMA1_SIGNED


async def _artifact(reg: RegistryClient, subject: str, artifact_type: str, tag: str | None = None) -> str:
    empty = await reg.push_blob(REPO, b"{}")
    payload = await reg.push_blob(REPO, artifact_type.encode())
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": mt.OCI_EMPTY, "digest": empty, "size": 2},
            "layers": [
                {"mediaType": "application/octet-stream", "digest": payload, "size": len(artifact_type)}
            ],
            "subject": {"mediaType": mt.OCI_MANIFEST, "digest": subject, "size": 123},
            "annotations": {"org.example.kind": artifact_type},
        }
    ).encode()
    r = await reg.push_manifest(REPO, tag or sha256(body), body)
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Subject"] == subject
    return sha256(body)


async def test_referrers(reg: RegistryClient) -> None:
    subject, _ = await reg.push_image(REPO, "app")
    sig = await _artifact(reg, subject, "application/vnd.example.signature")
    sbom = await _artifact(reg, subject, "application/vnd.example.sbom")
    h = await reg.headers(REPO)
    r = await reg.http.get(f"/v2/{REPO}/referrers/{subject}", headers=h)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == mt.OCI_INDEX
    assert "OCI-Filters-Applied" not in r.headers
    index = r.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == mt.OCI_INDEX
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert set(by_digest) == {sig, sbom}
    assert by_digest[sig]["artifactType"] == "application/vnd.example.signature"
    assert by_digest[sig]["annotations"] == {"org.example.kind": "application/vnd.example.signature"}
    assert by_digest[sig]["mediaType"] == mt.OCI_MANIFEST
    r = await reg.http.get(
        f"/v2/{REPO}/referrers/{subject}", params={"artifactType": "application/vnd.example.sbom"}, headers=h
    )
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in r.json()["manifests"]] == [sbom]


async def test_referrers_of_subject_not_pushed_yet(reg: RegistryClient) -> None:
    missing = sha256(b"subject pushed later")
    ref = await _artifact(reg, missing, "application/vnd.example.early")
    r = await reg.http.get(f"/v2/{REPO}/referrers/{missing}", headers=await reg.headers(REPO))
    assert [d["digest"] for d in r.json()["manifests"]] == [ref]
    r = await reg.http.get(f"/v2/{REPO}/referrers/{sha256(b'none')}", headers=await reg.headers(REPO))
    assert r.status_code == 200 and r.json()["manifests"] == []
    r = await reg.http.get(f"/v2/{REPO}/referrers/sha256:bad", headers=await reg.headers(REPO))
    assert r.status_code == 400


async def test_deleted_referrer_disappears(reg: RegistryClient) -> None:
    subject, _ = await reg.push_image(REPO)
    ref = await _artifact(reg, subject, "application/vnd.example.x")
    h = await reg.headers(REPO)
    assert (await reg.http.delete(f"/v2/{REPO}/manifests/{ref}", headers=h)).status_code == 202
    r = await reg.http.get(f"/v2/{REPO}/referrers/{subject}", headers=h)
    assert r.json()["manifests"] == []


async def test_nested_repository_names(reg: RegistryClient) -> None:
    repo = "admin/team/app/component"
    digest, _ = await reg.push_image(repo, "v1")
    r = await reg.http.get(f"/v2/{repo}/manifests/v1", headers=await reg.headers(repo))
    assert r.headers["Docker-Content-Digest"] == digest


async def test_concurrent_pushes_of_the_same_tag(reg: RegistryClient) -> None:
    import asyncio

    images = [await reg.push_image(REPO) for _ in range(6)]
    results = await asyncio.gather(*(reg.push_manifest(REPO, "race", m) for _, m in images))
    assert [r.status_code for r in results] == [201] * 6
    r = await reg.http.get(f"/v2/{REPO}/manifests/race", headers=await reg.headers(REPO))
    assert r.headers["Docker-Content-Digest"] in {d for d, _ in images}
    tags = await reg.http.get(f"/v2/{REPO}/tags/list", headers=await reg.headers(REPO))
    assert tags.json()["tags"] == ["race"]


async def test_concurrent_first_pushes_create_one_repository(reg: RegistryClient) -> None:
    import asyncio

    results = await asyncio.gather(*(reg.push_blob("admin/fresh", bytes([i])) for i in range(6)))
    assert len(results) == 6


async def test_referrers_include_an_index_with_a_subject(reg: RegistryClient) -> None:
    subject, _ = await reg.push_image(REPO, "base")
    child, _ = await reg.push_image(REPO)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "artifactType": "application/vnd.example.bundle",
            "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": child, "size": 100}],
            "subject": {"mediaType": mt.OCI_MANIFEST, "digest": subject, "size": 100},
            "annotations": {"k": "v"},
        }
    ).encode()
    r = await reg.push_manifest(REPO, sha256(body), body, mt.OCI_INDEX)
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Subject"] == subject
    refs = (await reg.http.get(f"/v2/{REPO}/referrers/{subject}", headers=await reg.headers(REPO))).json()
    assert refs["manifests"] == [
        {
            "mediaType": mt.OCI_INDEX,
            "digest": sha256(body),
            "size": len(body),
            "artifactType": "application/vnd.example.bundle",
            "annotations": {"k": "v"},
        }
    ]


async def test_accept_negotiation_by_tag(reg: RegistryClient) -> None:
    amd, _ = await reg.push_image(REPO)
    arm, _ = await reg.push_image(REPO)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": arm,
                    "size": 1,
                    "platform": {"os": "linux", "architecture": "arm64"},
                },
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": amd,
                    "size": 1,
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
            ],
        }
    ).encode()
    assert (await reg.push_manifest(REPO, "multi", body, mt.OCI_INDEX)).status_code == 201
    h = await reg.headers(REPO)
    # a client that reads indexes gets the index
    r = await reg.http.get(
        f"/v2/{REPO}/manifests/multi", headers={**h, "Accept": f"{mt.OCI_INDEX}, {mt.OCI_MANIFEST}"}
    )
    assert r.headers["Docker-Content-Digest"] == sha256(body)
    # one that reads only image manifests gets the linux/amd64 image, as from Docker Hub
    r = await reg.http.get(f"/v2/{REPO}/manifests/multi", headers={**h, "Accept": mt.OCI_MANIFEST})
    assert r.headers["Docker-Content-Digest"] == amd
    assert r.headers["Content-Type"] == mt.OCI_MANIFEST
    # no Accept, or a wildcard: what is stored
    for accept in (None, "*/*"):
        r = await reg.http.get(
            f"/v2/{REPO}/manifests/multi", headers={**h, **({"Accept": accept} if accept else {})}
        )
        assert r.headers["Docker-Content-Digest"] == sha256(body)
    # a client that reads neither still gets the linux/amd64 image, as on Quay (which would convert
    # it to schema 1; Wharf serves it as stored)
    r = await reg.http.get(f"/v2/{REPO}/manifests/multi", headers={**h, "Accept": mt.DOCKER_SCHEMA1_SIGNED})
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == amd
    # by digest the stored bytes are served whatever the Accept header says
    r = await reg.http.get(f"/v2/{REPO}/manifests/{sha256(body)}", headers={**h, "Accept": mt.OCI_MANIFEST})
    assert r.headers["Docker-Content-Digest"] == sha256(body)


async def test_get_of_an_impossible_tag_is_not_found(reg: RegistryClient) -> None:
    await reg.push_image(REPO, "v1")
    h = await reg.headers(REPO)
    r = await reg.http.get(f"/v2/{REPO}/manifests/.INVALID_MANIFEST_NAME", headers=h)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert (await reg.http.head(f"/v2/{REPO}/manifests/.INVALID_MANIFEST_NAME", headers=h)).status_code == 404


async def test_single_component_names_live_in_library(reg: RegistryClient) -> None:
    digest, _ = await reg.push_image("busybox", "latest")
    r = await reg.http.get("/v2/busybox/manifests/latest", headers=await reg.headers("busybox"))
    assert r.headers["Docker-Content-Digest"] == digest
    same = await reg.http.get(
        "/v2/library/busybox/manifests/latest", headers=await reg.headers("library/busybox")
    )
    assert same.headers["Docker-Content-Digest"] == digest


async def test_accept_rules_follow_quay(reg: RegistryClient) -> None:
    """What pubtools-quay relies on: asking for one type by tag never gives 404 when Quay would
    answer something; the client reads Content-Type to see what it got."""
    amd, _ = await reg.push_image(REPO, "single", media_type=mt.DOCKER_MANIFEST)
    arm, _ = await reg.push_image(REPO, media_type=mt.DOCKER_MANIFEST)
    h = await reg.headers(REPO)

    def entry(digest: str, arch: str) -> dict[str, object]:
        return {
            "mediaType": mt.DOCKER_MANIFEST,
            "digest": digest,
            "size": 1,
            "platform": {"os": "linux", "architecture": arch},
        }

    listed = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.DOCKER_MANIFEST_LIST,
            "manifests": [entry(arm, "arm64"), entry(amd, "amd64")],
        }
    ).encode()
    assert (await reg.push_manifest(REPO, "list", listed, mt.DOCKER_MANIFEST_LIST)).status_code == 201
    arm_only = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": [entry(arm, "arm64")]}
    ).encode()
    assert (await reg.push_manifest(REPO, "arm", arm_only, mt.DOCKER_MANIFEST_LIST)).status_code == 201

    # a manifest list asked for as a schema 2 image: its linux/amd64 child
    r = await reg.http.get(f"/v2/{REPO}/manifests/list", headers={**h, "Accept": mt.DOCKER_MANIFEST})
    assert r.status_code == 200, r.text
    assert (r.headers["Docker-Content-Digest"], r.headers["Content-Type"]) == (amd, mt.DOCKER_MANIFEST)
    r = await reg.http.head(f"/v2/{REPO}/manifests/list", headers={**h, "Accept": mt.DOCKER_MANIFEST})
    assert (r.status_code, r.headers["Docker-Content-Digest"]) == (200, amd)
    # an image asked for as a manifest list: the image as stored, its type in Content-Type
    r = await reg.http.get(f"/v2/{REPO}/manifests/single", headers={**h, "Accept": mt.DOCKER_MANIFEST_LIST})
    assert r.status_code == 200, r.text
    assert (r.headers["Docker-Content-Digest"], r.headers["Content-Type"]) == (amd, mt.DOCKER_MANIFEST)
    # a list without a linux/amd64 image has nothing to give such a client: 404, as on Quay
    r = await reg.http.get(f"/v2/{REPO}/manifests/arm", headers={**h, "Accept": mt.DOCKER_MANIFEST})
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert "linux/amd64" in r.json()["errors"][0]["message"]


@pytest.mark.skipif(DB_BACKEND != "sqlite", reason="SQLite's planner; PostgreSQL plans by table sizes")
async def test_get_by_tag_searches_only_the_repositorys_tag(reg: RegistryClient, wharf: WharfApp) -> None:
    """A GET by tag looks the tag up by its index, whatever the registry holds: SQLite once built
    the join of every alive tag with its manifest first, so its cost grew with the tag count."""
    await reg.push_image(REPO, "v1")
    statement = manifests._IN_REPOSITORY_BY_TAG.compile(dialect=sqlite.dialect())
    params = {"full_name": REPO, "account_id": None, "ref": "v1", "now": 0}

    def plan(db: Db) -> list[str]:
        rows = db.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", tuple(params[p] for p in statement.positiontup or ())
        )
        return [row[-1] for row in rows]

    steps = await wharf.rt.db.read(plan)
    # The one-row source every /v2 lookup starts from (`repositories.lookup_statement`) is the only scan.
    one_row = ("SCAN CONSTANT ROW", "SCAN one_row")
    scans = [s for s in steps if s.startswith(("SCAN", "MATERIALIZE", "MULTI-INDEX")) and s not in one_row]
    assert not scans, steps
    assert any(s.startswith("SEARCH tags USING INDEX") for s in steps), steps


async def test_a_refused_first_manifest_push_creates_no_repository(reg: RegistryClient) -> None:
    """The repository a manifest PUT names is created in the transaction that stores the manifest:
    a body that is not a manifest leaves no empty repository behind."""
    name = "admin/not-yet"
    r = await reg.push_manifest(name, "v1", b"{not json")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    assert await reg.wharf.rt.db.read(repositories.get, "admin", "not-yet") is None
    await reg.push_image(name, "v1")
    assert (
        await reg.http.head(f"/v2/{name}/manifests/v1", headers=await reg.headers(name))
    ).status_code == 200

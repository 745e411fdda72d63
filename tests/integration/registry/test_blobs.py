"""Blob pull, monolithic push, mount and delete, including their error paths."""

from __future__ import annotations

import asyncio
import hashlib
import os

from sqlalchemy import func, select

from tests.integration.registry_client import RegistryClient, sha256
from wharf.db.models import Blob

REPO = "admin/blobs"


async def test_monolithic_push_then_head_and_get(reg: RegistryClient) -> None:
    data = os.urandom(300_000)
    digest = await reg.push_blob(REPO, data)
    h = await reg.headers(REPO)
    head = await reg.http.head(f"/v2/{REPO}/blobs/{digest}", headers=h)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.content == b""
    got = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers=h)
    assert got.status_code == 200
    assert got.content == data


async def test_blob_is_stored_content_addressed(reg: RegistryClient) -> None:
    data = b"layout check"
    digest = await reg.push_blob(REPO, data)
    hexpart = digest.split(":")[1]
    assert await reg.wharf.rt.store.get_bytes(f"sha256/{hexpart[:2]}/{hexpart}") == data


async def test_range_requests(reg: RegistryClient) -> None:
    data = bytes(range(256)) * 40
    digest = await reg.push_blob(REPO, data)
    h = await reg.headers(REPO)
    r = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers={**h, "Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == data[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    r = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers={**h, "Range": "bytes=10000-"})
    assert r.status_code == 206 and r.content == data[10000:]
    r = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers={**h, "Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers={**h, "Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(data)}"
    r = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers={**h, "Range": "lines=1-2"})
    assert r.status_code == 416


async def test_unknown_blob_is_blob_unknown(reg: RegistryClient) -> None:
    await reg.push_blob(REPO, b"make the repo exist")
    r = await reg.http.get(f"/v2/{REPO}/blobs/{sha256(b'nope')}", headers=await reg.headers(REPO))
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    head = await reg.http.head(f"/v2/{REPO}/blobs/{sha256(b'nope')}", headers=await reg.headers(REPO))
    assert head.status_code == 404 and head.content == b""


async def test_unknown_repository_is_name_unknown(reg: RegistryClient) -> None:
    r = await reg.http.get(
        f"/v2/admin/missing/blobs/{sha256(b'x')}", headers=await reg.headers("admin/missing")
    )
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "NAME_UNKNOWN"


async def test_malformed_digest_is_digest_invalid(reg: RegistryClient) -> None:
    await reg.push_blob(REPO, b"exists")
    h = await reg.headers(REPO)
    for bad in ("sha256:abc", "md5:" + "0" * 32, "sha256:" + "G" * 64):
        r = await reg.http.get(f"/v2/{REPO}/blobs/{bad}", headers=h)
        assert r.status_code == 400, bad
        assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"


async def test_wrong_digest_stores_nothing(reg: RegistryClient) -> None:
    data = b"actual content"
    claimed = sha256(b"other content")
    h = await reg.headers(REPO)
    r = await reg.http.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": claimed}, content=data, headers=h)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    store = reg.wharf.rt.store
    for digest in (claimed, sha256(data)):
        hexpart = digest.split(":")[1]
        assert await store.stat(f"sha256/{hexpart[:2]}/{hexpart}") is None
        head = await reg.http.head(f"/v2/{REPO}/blobs/{digest}", headers=h)
        assert head.status_code == 404
    assert [p async for p in store.list("uploads")] == []


async def test_sha512_digest(reg: RegistryClient) -> None:
    data = os.urandom(5000)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    h = await reg.headers(REPO)
    r = await reg.http.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, content=data, headers=h)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    got = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers=h)
    assert got.content == data


async def test_blob_is_served_only_from_repositories_that_link_it(reg: RegistryClient) -> None:
    digest = await reg.push_blob("admin/one", b"private bits")
    await reg.push_blob("admin/two", b"something else")
    r = await reg.http.get(f"/v2/admin/two/blobs/{digest}", headers=await reg.headers("admin/two"))
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


async def test_cross_repository_mount(reg: RegistryClient) -> None:
    digest = await reg.push_blob("admin/source", b"shared layer")
    token = await reg.token("repository:admin/target:pull,push", "repository:admin/source:pull")
    h = {"Authorization": f"Bearer {token}"}
    r = await reg.http.post(
        "/v2/admin/target/blobs/uploads/", params={"mount": digest, "from": "admin/source"}, headers=h
    )
    assert r.status_code == 201
    assert r.headers["Location"] == f"/v2/admin/target/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    got = await reg.http.get(f"/v2/admin/target/blobs/{digest}", headers=h)
    assert got.content == b"shared layer"


async def test_mount_falls_back_to_upload(reg: RegistryClient) -> None:
    await reg.create_user("bob", "bob-password")
    digest = await reg.push_blob("bob/secret", b"bob's", user="bob", password="bob-password")
    # admin is a superuser and may read bob's repo, but the token was not asked for it: no mount.
    h = await reg.headers("admin/target")
    r = await reg.http.post(
        "/v2/admin/target/blobs/uploads/", params={"mount": digest, "from": "bob/secret"}, headers=h
    )
    assert r.status_code == 202
    assert r.headers["Location"].startswith("/v2/admin/target/blobs/uploads/")
    # an unknown digest in a readable source also means a plain upload
    token = await reg.token("repository:admin/target:pull,push", "repository:admin/source:pull")
    r = await reg.http.post(
        "/v2/admin/target/blobs/uploads/",
        params={"mount": sha256(b"never pushed"), "from": "admin/source"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 202


async def test_delete_blob_unlinks_it(reg: RegistryClient) -> None:
    digest = await reg.push_blob(REPO, b"to delete")
    h = await reg.headers(REPO, "pull,push")
    r = await reg.http.delete(f"/v2/{REPO}/blobs/{digest}", headers=h)
    assert r.status_code == 202
    r = await reg.http.head(f"/v2/{REPO}/blobs/{digest}", headers=h)
    assert r.status_code == 404
    r = await reg.http.delete(f"/v2/{REPO}/blobs/{digest}", headers=h)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


async def test_concurrent_pushes_of_the_same_blob(reg: RegistryClient) -> None:
    data = os.urandom(200_000)
    digest = sha256(data)
    h = await reg.headers(REPO)
    await reg.push_blob(REPO, b"create repo first")

    async def push() -> int:
        r = await reg.http.post(
            f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, content=data, headers=h
        )
        return r.status_code

    assert await asyncio.gather(*(push() for _ in range(6))) == [201] * 6
    count = await reg.wharf.rt.db.read(
        lambda db: db.execute(
            select(func.count()).select_from(Blob).where(Blob.digest == digest)
        ).scalar_one()
    )
    assert count == 1
    got = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers=h)
    assert got.content == data


async def test_push_creates_repository_only_in_own_namespace(reg: RegistryClient) -> None:
    await reg.create_user("carol", "carol-password")
    h = await reg.headers("admin/carols", user="carol", password="carol-password")
    r = await reg.http.post("/v2/admin/carols/blobs/uploads/", headers=h)
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"

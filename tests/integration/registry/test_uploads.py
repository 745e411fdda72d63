"""Chunked, streamed and resumable uploads, and every way a client can get them wrong."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from sqlalchemy import event

from tests.conftest import TEST_HOSTNAME
from tests.integration.registry_client import RegistryClient, sha256
from tests.integration.world import accept_invitations, api_token
from wharf.app import WharfApp, build_app
from wharf.core import accounts, repositories, scopes, tokens, uploads
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidRange
from wharf.db.engine import Db
from wharf.jobs import runner
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest
from wharf.storage.base import blob_path, upload_path

REPO = "admin/uploads"


async def _start(reg: RegistryClient) -> str:
    r = await reg.http.post(f"/v2/{REPO}/blobs/uploads/", headers=await reg.headers(REPO))
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == "0-0"
    assert r.headers["Docker-Upload-UUID"]
    assert r.headers["Content-Length"] == "0"
    return str(r.headers["Location"])


async def _patch(reg: RegistryClient, location: str, data: bytes, start: int | None) -> int:
    headers = {**await reg.headers(REPO), "Content-Type": "application/octet-stream"}
    if start is not None:
        headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
    r = await reg.http.patch(location, content=data, headers=headers)
    return r.status_code


async def test_chunked_upload(reg: RegistryClient) -> None:
    data = os.urandom(3 * 65536 + 17)
    location = await _start(reg)
    h = await reg.headers(REPO)
    pos = 0
    for size in (65536, 65536, 65536, 17):
        chunk = data[pos : pos + size]
        r = await reg.http.patch(
            location, content=chunk, headers={**h, "Content-Range": f"{pos}-{pos + size - 1}"}
        )
        assert r.status_code == 202, r.text
        pos += size
        assert r.headers["Range"] == f"0-{pos - 1}"
        location = r.headers["Location"]
    status = await reg.http.get(location, headers=h)
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{len(data) - 1}"
    r = await reg.http.put(location, params={"digest": sha256(data)}, headers=h)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/v2/{REPO}/blobs/{sha256(data)}"
    got = await reg.http.get(f"/v2/{REPO}/blobs/{sha256(data)}", headers=h)
    assert got.content == data


async def test_streamed_patch_without_range_then_put_with_last_chunk(reg: RegistryClient) -> None:
    data = os.urandom(500_000)
    location = await _start(reg)
    h = await reg.headers(REPO)

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, 400_000, 10_000):
            yield data[i : i + 10_000]

    r = await reg.http.patch(location, content=stream(), headers=h)
    assert r.status_code == 202
    assert r.headers["Range"] == "0-399999"
    r = await reg.http.put(
        r.headers["Location"],
        params={"digest": sha256(data)},
        content=data[400_000:],
        headers={**h, "Content-Range": f"400000-{len(data) - 1}"},
    )
    assert r.status_code == 201, r.text
    got = await reg.http.get(f"/v2/{REPO}/blobs/{sha256(data)}", headers=h)
    assert got.content == data


async def test_out_of_order_and_overlapping_chunks_are_416(reg: RegistryClient) -> None:
    location = await _start(reg)
    assert await _patch(reg, location, b"a" * 100, 0) == 202
    assert await _patch(reg, location, b"b" * 100, 200) == 416  # gap
    assert await _patch(reg, location, b"c" * 100, 50) == 416  # overlap
    assert await _patch(reg, location, b"d" * 100, 0) == 416  # replay
    status = await reg.http.get(location, headers=await reg.headers(REPO))
    assert status.headers["Range"] == "0-99"
    # the upload is still usable from where it really is
    assert await _patch(reg, location, b"e" * 10, 100) == 202
    data = b"a" * 100 + b"e" * 10
    r = await reg.http.put(location, params={"digest": sha256(data)}, headers=await reg.headers(REPO))
    assert r.status_code == 201


async def test_416_response_is_oci_json_with_range(reg: RegistryClient) -> None:
    location = await _start(reg)
    await _patch(reg, location, b"x" * 10, 0)
    r = await reg.http.patch(
        location, content=b"y", headers={**await reg.headers(REPO), "Content-Range": "5-5"}
    )
    assert r.status_code == 416
    assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    assert r.headers["Range"] == "0-9"


async def test_content_length_must_match_range(reg: RegistryClient) -> None:
    location = await _start(reg)
    r = await reg.http.patch(
        location, content=b"x" * 10, headers={**await reg.headers(REPO), "Content-Range": "0-19"}
    )
    assert r.status_code == 416
    r = await reg.http.patch(
        location, content=b"x" * 10, headers={**await reg.headers(REPO), "Content-Range": "junk"}
    )
    assert r.status_code == 416
    status = await reg.http.get(location, headers=await reg.headers(REPO))
    assert status.headers["Range"] == "0-0"


async def test_truncated_chunk_is_not_committed(reg: RegistryClient) -> None:
    location = await _start(reg)
    # Content-Range promises 20 bytes; only 10 arrive in a chunked body.

    async def short() -> AsyncIterator[bytes]:
        yield b"0123456789"

    r = await reg.http.patch(
        location, content=short(), headers={**await reg.headers(REPO), "Content-Range": "0-19"}
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "SIZE_INVALID"
    status = await reg.http.get(location, headers=await reg.headers(REPO))
    assert status.headers["Range"] == "0-0"
    assert await _patch(reg, location, b"abc", 0) == 202
    r = await reg.http.put(location, params={"digest": sha256(b"abc")}, headers=await reg.headers(REPO))
    assert r.status_code == 201
    got = await reg.http.get(f"/v2/{REPO}/blobs/{sha256(b'abc')}", headers=await reg.headers(REPO))
    assert got.content == b"abc"


async def test_put_with_wrong_digest_removes_upload(reg: RegistryClient) -> None:
    location = await _start(reg)
    await _patch(reg, location, b"content", 0)
    h = await reg.headers(REPO)
    r = await reg.http.put(location, params={"digest": sha256(b"different")}, headers=h)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert (await reg.http.get(location, headers=h)).status_code == 404
    assert (await reg.http.head(f"/v2/{REPO}/blobs/{sha256(b'content')}", headers=h)).status_code == 404


async def test_put_without_digest(reg: RegistryClient) -> None:
    location = await _start(reg)
    r = await reg.http.put(location, headers=await reg.headers(REPO))
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"


async def _put_and_leave(wharf: WharfApp, location: str, digest: str, headers: dict[str, str]) -> None:
    """A finishing PUT whose client goes away after the first byte of a longer body."""
    messages: list[dict[str, object]] = [{"type": "http.request", "body": b"d", "more_body": True}]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    raw = {**headers, "Host": TEST_HOSTNAME, "Content-Range": "3-5", "Content-Length": "3"}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": location,
        "raw_path": location.encode(),
        "query_string": f"digest={digest}".encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in raw.items()],
        "client": ("10.1.2.3", 5555),
        "server": (TEST_HOSTNAME, 80),
    }
    await wharf(scope, receive, send)  # type: ignore[arg-type]


async def test_a_refused_finish_gives_its_upload_back(reg: RegistryClient) -> None:
    """A PUT finds and claims its upload in one transaction: whatever refuses it from then on (a
    chunk that starts elsewhere, a body shorter than its range, a client gone half-way, a bad
    digest) leaves the upload free for the next request, not held until the claim runs out."""
    location = await _start(reg)
    h = await reg.headers(REPO)
    assert await _patch(reg, location, b"abc", 0) == 202
    digest = sha256(b"abcdef")

    elsewhere = {**h, "Content-Range": "5-7"}
    r = await reg.http.put(location, params={"digest": digest}, content=b"def", headers=elsewhere)
    assert r.status_code == 416, r.text
    assert (r.headers["Range"], r.headers["Docker-Upload-UUID"]) == ("0-2", location.rsplit("/", 1)[1])

    async def short() -> AsyncIterator[bytes]:
        yield b"d"

    r = await reg.http.put(
        location, params={"digest": digest}, content=short(), headers={**h, "Content-Range": "3-5"}
    )
    assert r.json()["errors"][0]["code"] == "SIZE_INVALID", r.text

    await _put_and_leave(reg.wharf, location, digest, h)
    assert (await reg.http.get(location, headers=h)).headers["Range"] == "0-2"

    r = await reg.http.put(
        location, params={"digest": digest}, content=b"def", headers={**h, "Content-Range": "3-5"}
    )
    assert r.status_code == 201, r.text
    assert (await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers=h)).content == b"abcdef"


async def test_a_refused_request_is_told_about_its_upload_first(reg: RegistryClient) -> None:
    """What is wrong with a PATCH or PUT itself (digest, length, range) is found before the upload
    is claimed, but said only after what is wrong with the upload, as when the upload was read
    first; and a bad range still tells the upload's offset."""
    location = await _start(reg)
    h = await reg.headers(REPO)
    assert await _patch(reg, location, b"abc", 0) == 202
    gone = f"/v2/{REPO}/blobs/uploads/0b6c1f4e-0000-4000-8000-000000000000"
    for url in (location, gone):
        r = await reg.http.put(url, params={"digest": "sha256:nope"}, headers=h)
        assert r.json()["errors"][0]["code"] == (
            "DIGEST_INVALID" if url == location else "BLOB_UPLOAD_UNKNOWN"
        )
    r = await reg.http.patch(location, content=b"x", headers={**h, "Content-Range": "junk"})
    assert (r.status_code, r.headers["Range"]) == (416, "0-2")
    r = await reg.http.patch(gone, content=b"x", headers={**h, "Content-Range": "junk"})
    assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert await _patch(reg, location, b"def", 3) == 202  # nothing was left claimed


async def test_cancel_upload(reg: RegistryClient) -> None:
    location = await _start(reg)
    h = await reg.headers(REPO)
    await _patch(reg, location, b"partial", 0)
    r = await reg.http.delete(location, headers=h)
    assert r.status_code == 204
    r = await reg.http.get(location, headers=h)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert [p async for p in reg.wharf.rt.store.list("uploads")] == []


async def test_unknown_and_malformed_upload_ids(reg: RegistryClient) -> None:
    await _start(reg)
    h = await reg.headers(REPO)
    for upload_id in ("0b6c1f4e-0000-4000-8000-000000000000", "not-a-uuid", "..%2F..%2Fetc"):
        r = await reg.http.patch(f"/v2/{REPO}/blobs/uploads/{upload_id}", content=b"x", headers=h)
        assert r.status_code == 404, upload_id
        # a decoded path trick no longer matches the upload route at all
        expected = "UNSUPPORTED" if "%2F" in upload_id else "BLOB_UPLOAD_UNKNOWN"
        assert r.json()["errors"][0]["code"] == expected


async def test_an_upload_in_a_repository_that_does_not_exist_is_unknown(reg: RegistryClient) -> None:
    """PATCH, PUT, GET and DELETE of an upload name a repository that must exist: the upload is
    unknown there, and the request does not create the repository."""
    await _start(reg)
    upload_id = "0b6c1f4e-0000-4000-8000-000000000000"
    name = "admin/never-pushed"
    h = await reg.headers(name)
    url = f"/v2/{name}/blobs/uploads/{upload_id}"
    for method, params in (("PATCH", {}), ("PUT", {"digest": sha256(b"x")}), ("GET", {}), ("DELETE", {})):
        r = await reg.http.request(
            method, url, params=params, content=b"x" if method != "GET" else None, headers=h
        )
        assert r.status_code == 404, (method, r.text)
        assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert await reg.wharf.rt.db.read(repositories.get, "admin", "never-pushed") is None


async def test_upload_belongs_to_its_repository(reg: RegistryClient) -> None:
    location = await _start(reg)
    upload_id = location.rsplit("/", 1)[1]
    await reg.push_blob("admin/other", b"x")
    r = await reg.http.get(
        f"/v2/admin/other/blobs/uploads/{upload_id}", headers=await reg.headers("admin/other")
    )
    assert r.status_code == 404


async def test_resume_in_a_process_that_never_saw_the_upload(reg: RegistryClient) -> None:
    """Another server process (or this one after a restart) has no running hash: it re-reads."""
    data = os.urandom(100_000)
    location = await _start(reg)
    assert await _patch(reg, location, data[:60_000], 0) == 202
    uploads._hashers._items.clear()  # what a restart or another process starts with
    assert await _patch(reg, location, data[60_000:], 60_000) == 202
    r = await reg.http.put(location, params={"digest": sha256(data)}, headers=await reg.headers(REPO))
    assert r.status_code == 201, r.text
    got = await reg.http.get(f"/v2/{REPO}/blobs/{sha256(data)}", headers=await reg.headers(REPO))
    assert got.content == data


async def test_unacknowledged_bytes_are_discarded(reg: RegistryClient) -> None:
    """A crash after bytes hit the disk but before the offset was committed must not corrupt the blob."""
    location = await _start(reg)
    upload_id = location.rsplit("/", 1)[1]
    assert await _patch(reg, location, b"good", 0) == 202
    # A request that died after writing, before committing its new offset:
    dead = await reg.wharf.rt.store.writer(upload_path(upload_id), append=True)
    await dead.write(b"GARBAGE FROM A DEAD REQUEST")
    await dead.close()
    assert await _patch(reg, location, b"more", 4) == 202
    r = await reg.http.put(location, params={"digest": sha256(b"goodmore")}, headers=await reg.headers(REPO))
    assert r.status_code == 201, r.text


async def test_abandoned_uploads_are_cleaned_up_by_the_job(reg: RegistryClient) -> None:
    stale = await _start(reg)
    h = await reg.headers(REPO)
    rt = reg.wharf.rt
    # Nothing is old enough yet.
    assert await uploads.expire_abandoned(rt.db, rt.store, now_ms() - 3_600_000) == 0
    await runner.cleanup_uploads(
        dataclasses.replace(rt, settings=rt.settings.model_copy(update={"BLOB_UPLOAD_EXPIRATION_S": -1})),
        {},
    )
    assert (await reg.http.get(stale, headers=h)).status_code == 404
    assert [p async for p in rt.store.list("uploads")] == []


async def test_periodic_cleanup_job_is_queued_once(reg: RegistryClient) -> None:
    rt = reg.wharf.rt
    await runner.schedule_periodic(rt)
    await runner.schedule_periodic(rt)
    from sqlalchemy import func, select

    from wharf.db.models import Job

    n = await rt.db.read(
        lambda db: db.execute(
            select(func.count()).select_from(Job).where(Job.queue == "upload_cleanup")
        ).scalar_one()
    )
    assert n == 1


async def test_one_writer_at_a_time(reg: RegistryClient) -> None:
    """Two requests writing to one upload at once would interleave bytes under one running hash
    (and a digest could then name other bytes): the second is refused while the first runs."""
    location = await _start(reg)
    h = {**await reg.headers(REPO), "Content-Type": "application/octet-stream"}
    first_half_sent, finish_first = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"A" * 1000
        first_half_sent.set()
        await finish_first.wait()
        yield b"A" * 1000

    first = asyncio.create_task(reg.http.patch(location, content=slow_body(), headers=h))
    await first_half_sent.wait()
    second = await reg.http.patch(location, content=b"B" * 2000, headers=h)
    assert second.status_code == 429, second.text
    assert second.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert "another request is writing" in second.json()["errors"][0]["message"]
    # finishing meanwhile is refused too
    done = await reg.http.put(location, params={"digest": sha256(b"A" * 2000)}, headers=h)
    assert done.status_code == 429
    finish_first.set()
    assert (await first).status_code == 202
    done = await reg.http.put(location, params={"digest": sha256(b"A" * 2000)}, headers=h)
    assert done.status_code == 201, done.text
    blob = await reg.http.get(f"/v2/{REPO}/blobs/{sha256(b'A' * 2000)}", headers=h)
    assert blob.content == b"A" * 2000


async def test_finishing_ignores_bytes_a_dead_request_left(reg: RegistryClient) -> None:
    location = await _start(reg)
    upload_id = location.rsplit("/", 1)[1]
    assert await _patch(reg, location, b"committed", 0) == 202
    dead = await reg.wharf.rt.store.writer(upload_path(upload_id), append=True)
    await dead.write(b" and garbage")
    await dead.close()
    h = await reg.headers(REPO)
    r = await reg.http.put(location, params={"digest": sha256(b"committed")}, headers=h)
    assert r.status_code == 201, r.text
    assert (await reg.http.get(f"/v2/{REPO}/blobs/{sha256(b'committed')}", headers=h)).content == b"committed"
    assert await reg.wharf.rt.store.get_bytes(blob_path(Digest.parse(sha256(b"committed")))) == b"committed"


async def test_a_stalled_writer_does_not_cut_off_what_its_successor_committed(reg: RegistryClient) -> None:
    """A request that stalled past its writer lease, while another took the upload over and
    committed more, must not drop the successor's bytes by truncating to its own older offset."""
    location = await _start(reg)
    upload_id = location.rsplit("/", 1)[1]
    rt = reg.wharf.rt
    stale = uploads.UploadState(upload_id, 0, 0)
    expired = now_ms() - 2 * uploads.WRITER_LEASE_MS
    assert await rt.db.write(uploads._claim_writer, stale, "stalled", expired)
    # its lease ran out: the next request takes the upload over and commits a chunk
    assert await _patch(reg, location, b"committed", 0) == 202
    # the stalled request wakes up and would position its writer at offset 0
    with pytest.raises(InvalidRange):
        await uploads._writer_at(rt.db, rt.store, stale, uploads._Lease("stalled"))
    assert await rt.store.get_bytes(upload_path(upload_id)) == b"committed"
    h = await reg.headers(REPO)
    r = await reg.http.put(location, params={"digest": sha256(b"committed")}, headers=h)
    assert r.status_code == 201, r.text


# ------------------------------------------------------------------------ a first push creates the repository


async def _repository_log(reg: RegistryClient, full_name: str) -> list[tuple[str, dict[str, object]]]:
    from sqlalchemy import select

    from wharf.db.models import LogEntry, Repository

    def read(db: Db) -> list[tuple[str, dict[str, object]]]:
        repo_id = db.execute(select(Repository.id).where(Repository.full_name == full_name)).scalar()
        if repo_id is None:
            return []
        rows = db.execute(
            select(LogEntry.kind, LogEntry.metadata_json)
            .where(LogEntry.repository_id == repo_id)
            .order_by(LogEntry.id)
        )
        return [(kind, json.loads(meta)) for kind, meta in rows]

    return await reg.wharf.rt.db.read(read)


def logs_of_kind(db: Db, kind: str) -> list[dict[str, object]]:
    from sqlalchemy import select

    from wharf.db.models import LogEntry

    rows = db.execute(select(LogEntry.metadata_json).where(LogEntry.kind == kind).order_by(LogEntry.id))
    return [json.loads(meta) for (meta,) in rows]


async def test_first_push_creates_the_repository_in_the_upload_transaction(reg: RegistryClient) -> None:
    """One token, asked for before the repository exists, carries push (no second token round trip);
    the POST that opens the first upload creates the repository and its audit entry in the one
    transaction that opens the upload."""
    token = await reg.token("repository:admin/fresh:pull,push")
    access = jwt.decode(token, options={"verify_signature": False})["access"]
    assert access == [{"type": "repository", "name": "admin/fresh", "actions": ["pull", "push"]}]
    h = {"Authorization": f"Bearer {token}"}
    transactions = 0

    def count(_conn: object) -> None:
        nonlocal transactions
        transactions += 1

    engine = reg.wharf.rt.db.engine
    event.listen(engine, "commit", count)
    event.listen(engine, "rollback", count)
    try:
        r = await reg.http.post("/v2/admin/fresh/blobs/uploads/", headers=h)
    finally:
        event.remove(engine, "commit", count)
        event.remove(engine, "rollback", count)
    assert r.status_code == 202, r.text
    assert transactions == 1
    repo = await reg.wharf.rt.db.read(repositories.get, "admin", "fresh")
    assert repo is not None and repo.visibility == "private"
    assert await _repository_log(reg, "admin/fresh") == [
        ("create_repo", {"repo": "fresh", "namespace": "admin"})
    ]
    # the rest of the push goes through with the same token
    data = b"first layer"
    r = await reg.http.put(r.headers["Location"], params={"digest": sha256(data)}, content=data, headers=h)
    assert r.status_code == 201, r.text
    config = b'{"architecture":"amd64","os":"linux"}'
    r = await reg.http.post(
        "/v2/admin/fresh/blobs/uploads/", params={"digest": sha256(config)}, content=config, headers=h
    )
    assert r.status_code == 201, r.text
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha256(data),
                "size": len(data),
            }
        ],
    }
    r = await reg.http.put(
        "/v2/admin/fresh/manifests/v1", json=manifest, headers={**h, "Content-Type": mt.OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    kinds = [kind for kind, _ in await _repository_log(reg, "admin/fresh")]
    assert kinds == ["create_repo", "push_repo"]


async def test_first_push_by_an_org_creator_gets_default_permissions_and_entries(
    reg: RegistryClient,
) -> None:
    """In an organization the creator's admin grant and the default permissions are written with the
    repository, in the same transaction, with the entries they always had."""
    pw = "creator-password"
    for user in ("boss", "dev", "auditor"):
        await reg.create_user(user, pw)
    boss_account = await reg.wharf.rt.db.read(accounts.get_by_name, "boss")
    assert boss_account is not None
    boss = {"Authorization": f"Bearer {await reg.wharf.rt.db.write(tokens.mint, boss_account, scopes.ALL)}"}
    http = reg.http
    assert (await http.post("/api/v1/organization/", json={"name": "shop"}, headers=boss)).status_code == 201
    await http.put("/api/v1/organization/shop/team/devs", json={"role": "creator"}, headers=boss)
    invited = await http.put("/api/v1/organization/shop/team/devs/members/dev", headers=boss)
    assert invited.json()["invited"]  # dev is in no team of shop yet: dev accepts
    await accept_invitations(reg, "dev", await api_token(reg, "dev"))
    r = await http.post(
        "/api/v1/organization/shop/prototypes",
        json={"role": "read", "delegate": {"kind": "user", "name": "auditor"}},
        headers=boss,
    )
    assert r.status_code == 200, r.text
    r = await http.post(
        "/v2/shop/app/blobs/uploads/",
        params={"digest": sha256(b"x")},
        content=b"x",
        headers=await reg.headers("shop/app", user="dev", password=pw),
    )
    assert r.status_code == 201, r.text
    assert await _repository_log(reg, "shop/app") == [
        ("create_repo", {"repo": "app", "namespace": "shop"}),
        ("create_repo_permission", {"namespace": "shop", "repo": "app", "username": "dev", "role": "admin"}),
        (
            "create_repo_permission",
            {"namespace": "shop", "repo": "app", "username": "auditor", "role": "read"},
        ),
    ]


async def test_a_refused_first_upload_creates_no_repository(wharf: WharfApp) -> None:
    """The repository is created in the upload's transaction: when the upload is refused (too many
    open in the namespace), no empty repository is left behind."""
    app = build_app(wharf.rt.settings.model_copy(update={"UPLOADS_MAX_PER_ACCOUNT": 1}), run_workers=False)
    try:
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
            reg = RegistryClient(c, app)
            r = await c.post("/v2/admin/one/blobs/uploads/", headers=await reg.headers("admin/one"))
            assert r.status_code == 202, r.text
            r = await c.post("/v2/admin/two/blobs/uploads/", headers=await reg.headers("admin/two"))
            assert r.status_code == 429, r.text
            assert await app.rt.db.read(repositories.get, "admin", "two") is None
            entries = await app.rt.db.read(logs_of_kind, "create_repo")
            assert [e["repo"] for e in entries] == ["one"]
    finally:
        await app.rt.close()


async def test_a_small_blob_put_whole_is_published_without_a_claim(reg: RegistryClient) -> None:
    """POST, then PUT with the whole body (at most uploads.WHOLE_MAX bytes): the upload is read,
    not claimed, and one write publishes the blob and removes the upload. A digest that does not
    match removes the upload, as on the claim's path; with Content-Range from 0 too."""
    h = await reg.headers(REPO)
    data = os.urandom(uploads.WHOLE_MAX)
    location = await _start(reg)
    r = await reg.http.put(location, params={"digest": sha256(data)}, content=data, headers=h)
    assert r.status_code == 201, r.text
    assert (await reg.http.get(f"/v2/{REPO}/blobs/{sha256(data)}", headers=h)).content == data
    assert (await reg.http.get(location, headers=h)).status_code == 404
    assert await reg.wharf.rt.store.stat(upload_path(location.rsplit("/", 1)[1])) is None

    location = await _start(reg)
    ranged = {**h, "Content-Range": "0-4"}
    r = await reg.http.put(location, params={"digest": sha256(b"12345")}, content=b"12345", headers=ranged)
    assert r.status_code == 201, r.text

    location = await _start(reg)
    r = await reg.http.put(location, params={"digest": sha256(b"other")}, content=b"bytes", headers=h)
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID", r.text
    assert (await reg.http.get(location, headers=h)).status_code == 404
    assert (await reg.http.head(f"/v2/{REPO}/blobs/{sha256(b'bytes')}", headers=h)).status_code == 404


async def test_a_whole_blob_put_loses_to_a_request_that_holds_the_upload(reg: RegistryClient) -> None:
    """Without a claim of its own, the PUT publishes only an upload that is still empty and held
    by nobody: while a PATCH writes to it, the PUT is refused as the claim refuses it, and what
    it sent is not published; the upload then goes on as if the PUT had never come."""
    location = await _start(reg)
    h = {**await reg.headers(REPO), "Content-Type": "application/octet-stream"}
    half_sent, finish = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"A" * 1000
        half_sent.set()
        await finish.wait()
        yield b"A" * 1000

    patch = asyncio.create_task(reg.http.patch(location, content=slow_body(), headers=h))
    await half_sent.wait()
    whole = await reg.http.put(location, params={"digest": sha256(b"B" * 10)}, content=b"B" * 10, headers=h)
    assert whole.status_code == 429, whole.text
    assert "another request is writing" in whole.json()["errors"][0]["message"]
    # A wrong digest is said, but the upload another request holds is not removed for it.
    wrong = await reg.http.put(location, params={"digest": sha256(b"other")}, content=b"B" * 10, headers=h)
    assert wrong.json()["errors"][0]["code"] == "DIGEST_INVALID", wrong.text
    finish.set()
    assert (await patch).status_code == 202
    assert (await reg.http.head(f"/v2/{REPO}/blobs/{sha256(b'B' * 10)}", headers=h)).status_code == 404
    # The upload has bytes now: a PUT with a last chunk goes the claim's way.
    r = await reg.http.put(location, params={"digest": sha256(b"A" * 2000 + b"C")}, content=b"C", headers=h)
    assert r.status_code == 201, r.text
    blob = await reg.http.get(f"/v2/{REPO}/blobs/{sha256(b'A' * 2000 + b'C')}", headers=h)
    assert blob.content == b"A" * 2000 + b"C"


async def test_a_blob_larger_than_whole_max_is_streamed_under_a_claim(reg: RegistryClient) -> None:
    h = await reg.headers(REPO)
    data = os.urandom(uploads.WHOLE_MAX + 1)
    location = await _start(reg)
    writes: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        writes.append(statement)

    event.listen(reg.wharf.rt.db.engine, "before_cursor_execute", seen)
    try:
        r = await reg.http.put(location, params={"digest": sha256(data)}, content=data, headers=h)
    finally:
        event.remove(reg.wharf.rt.db.engine, "before_cursor_execute", seen)
    assert r.status_code == 201, r.text
    assert any(s.startswith("UPDATE uploads SET writer_token") for s in writes)  # the claim
    assert (await reg.http.get(f"/v2/{REPO}/blobs/{sha256(data)}", headers=h)).content == data

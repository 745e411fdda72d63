"""The registry on S3 storage configured the Quay way: chunked pushes assembled in the bucket,
pulls redirected to presigned URLs that a plain HTTP client fetches from SeaweedFS."""

from __future__ import annotations

import os

import httpx
import obstore
import pytest

from tests.integration.registry_client import RegistryClient, sha256
from tests.seaweed import SeaweedS3, unique_prefix
from wharf.app import WharfApp
from wharf.oci.digest import Digest
from wharf.storage.base import blob_path
from wharf.storage.s3 import S3BlobStore

REPO = "admin/s3"
MiB = 1024 * 1024


@pytest.fixture
def storage_config(seaweed: SeaweedS3) -> dict[str, object]:
    return {"DISTRIBUTED_STORAGE_CONFIG": seaweed.quay_config(unique_prefix())}


@pytest.fixture
def reg(client: httpx.AsyncClient, wharf: WharfApp) -> RegistryClient:
    return RegistryClient(client, wharf)


async def test_chunked_push_is_assembled_in_the_bucket_and_pulled_by_redirect(reg: RegistryClient) -> None:
    store = reg.wharf.rt.store
    assert isinstance(store, S3BlobStore)
    chunks = [os.urandom(6 * MiB), os.urandom(5 * MiB), os.urandom(1000)]
    data = b"".join(chunks)
    digest = sha256(data)
    h = await reg.headers(REPO)
    r = await reg.http.post(f"/v2/{REPO}/blobs/uploads/", headers=h)
    assert r.status_code == 202
    at = 0
    for chunk in chunks:
        r = await reg.http.patch(
            r.headers["Location"],
            content=chunk,
            headers={
                **h,
                "Content-Range": f"{at}-{at + len(chunk) - 1}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert r.status_code == 202, r.text
        at += len(chunk)
    r = await reg.http.put(r.headers["Location"], params={"digest": digest}, headers=h)
    assert r.status_code == 201, r.text

    key = store.key(blob_path(Digest.parse(digest)))
    meta = await obstore.head_async(store.obstore, key)
    assert meta["size"] == len(data)
    assert (meta["e_tag"] or "").endswith('-3"')  # three parts, copied in the bucket
    assert [p async for p in store.list("uploads")] == []

    r = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers=h)
    assert r.status_code == 307
    assert r.headers["Docker-Content-Digest"] == digest
    async with httpx.AsyncClient() as plain:  # no registry token: the URL itself is the permission
        pulled = await plain.get(r.headers["Location"])
    assert pulled.status_code == 200
    assert pulled.content == data

    # ranges and HEAD are answered by Wharf itself
    r = await reg.http.get(f"/v2/{REPO}/blobs/{digest}", headers={**h, "Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == data[10:20]
    r = await reg.http.head(f"/v2/{REPO}/blobs/{digest}", headers=h)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(data))

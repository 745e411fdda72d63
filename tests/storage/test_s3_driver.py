"""What the S3 driver promises beyond the shared suite, against a real SeaweedFS S3 server.

Uploads are staged as part objects in the bucket and assembled server-side; several nodes share
an upload through the bucket alone; blob downloads are presigned URLs any HTTP client can fetch.
"""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from typing import TYPE_CHECKING

import httpx
import obstore
import pytest

from tests.seaweed import SeaweedS3, unique_prefix
from wharf.storage._s3api import MultipartApi
from wharf.storage.base import BlobStore, PathNotFound, StorageError
from wharf.storage.s3 import S3BlobStore

if TYPE_CHECKING:
    from obstore import ObjectMeta

MiB = 1024 * 1024


async def _read(store: BlobStore, path: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([c async for c in store.read(path, offset, length)])


async def _append(store: BlobStore, path: str, data: bytes, offset: int | None = None) -> None:
    """One writer session, as one PATCH request makes it."""
    w = await store.writer(path, append=True, offset=offset)
    for i in range(0, len(data), MiB):
        await w.write(data[i : i + MiB])
    await w.close()


async def _part_sizes(store: S3BlobStore, path: str) -> list[int]:
    parts_dir = f"{store.key_prefix}.parts/{path}"
    listing = await obstore.list_with_delimiter_async(store.obstore, parts_dir)
    parts = [m for m in listing["objects"] if m["path"].startswith(f"{parts_dir}/")]
    return [m["size"] for m in sorted(parts, key=lambda m: m["path"])]


def _parts_of(meta: ObjectMeta) -> int:
    """How many parts S3 assembled the object from (its ETag ends in -<parts>), 1 if not multipart."""
    etag = (meta["e_tag"] or "").strip('"')
    return int(etag.rpartition("-")[2]) if "-" in etag else 1


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


async def test_each_session_is_a_part_object_named_by_its_offset(s3_store: S3BlobStore) -> None:
    w = await s3_store.writer("uploads/a")
    await w.close()
    assert await _part_sizes(s3_store, "uploads/a") == [0]  # the empty upload exists
    await _append(s3_store, "uploads/a", b"x" * 10)
    await _append(s3_store, "uploads/a", b"y" * 5)
    assert await _part_sizes(s3_store, "uploads/a") == [10, 5]
    assert await s3_store.stat("uploads/a") == 15
    assert await _read(s3_store, "uploads/a", 8, 4) == b"xxyy"
    assert sorted([p async for p in s3_store.list("uploads")]) == ["uploads/a"]


async def test_assembly_copies_parts_server_side(s3_store: S3BlobStore) -> None:
    """Parts of 5 MiB and more become parts of the blob by UploadPartCopy: no byte passes
    through Wharf. The blob has one S3 part per upload part (streamed, it would have been sent
    in 5 MiB parts), and moving 26 MiB allocates next to nothing here."""
    data = os.urandom(26 * MiB)
    sizes = [12 * MiB, 6 * MiB, 8 * MiB]
    at = 0
    for size in sizes:
        await _append(s3_store, "uploads/big", data[at : at + size])
        at += size
    tracemalloc.start()
    try:
        await s3_store.move("uploads/big", "sha256/ab/big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MiB, f"assembly allocated {peak} bytes"
    meta = await obstore.head_async(s3_store.obstore, s3_store.key("sha256/ab/big"))
    assert _parts_of(meta) == 3  # one S3 part per upload part; streaming would send 5 MiB parts
    assert await s3_store.get_bytes("sha256/ab/big") == data
    assert await s3_store.stat("uploads/big") is None
    assert await _part_sizes(s3_store, "uploads/big") == []


async def test_small_parts_are_topped_up_and_the_rest_copied(s3_store: S3BlobStore) -> None:
    """A 1 MiB chunk cannot be an S3 part; it is sent with just enough of the next part to reach
    5 MiB, and the rest of that part is still copied."""
    chunks = [os.urandom(n) for n in (1 * MiB, 12 * MiB, 2 * MiB, 6 * MiB)]
    for chunk in chunks:
        await _append(s3_store, "uploads/mixed", chunk)
    await s3_store.copy("uploads/mixed", "blob")
    data = b"".join(chunks)
    assert await s3_store.get_bytes("blob") == data
    meta = await obstore.head_async(s3_store.obstore, s3_store.key("blob"))
    assert _parts_of(meta) == 3  # 1 + 4 MiB sent, 8 MiB copied, 2 + 6 MiB sent
    assert await s3_store.get_bytes("uploads/mixed") == data  # copy keeps the source


async def test_one_part_is_one_server_side_copy(s3_store: S3BlobStore) -> None:
    data = os.urandom(3 * MiB)
    await _append(s3_store, "uploads/one", data)
    await s3_store.move("uploads/one", "blob")
    meta = await obstore.head_async(s3_store.obstore, s3_store.key("blob"))
    assert _parts_of(meta) == 1
    assert await s3_store.get_bytes("blob") == data


async def test_streamed_assembly_without_server_side_copy(seaweed: SeaweedS3, prefix: str) -> None:
    """server_side_assembly off (stores without UploadPartCopy): same bytes, streamed."""
    store = S3BlobStore(seaweed.options(prefix=prefix, server_side_assembly=False))
    assert store.multipart_endpoint is None
    chunks = [os.urandom(n) for n in (6 * MiB, 1 * MiB, 7 * MiB)]
    for chunk in chunks:
        await _append(store, "uploads/s", chunk)
    await store.move("uploads/s", "blob")
    assert await store.get_bytes("blob") == b"".join(chunks)


async def test_a_long_session_rolls_over_to_new_part_objects(seaweed: SeaweedS3, prefix: str) -> None:
    store = S3BlobStore(seaweed.options(prefix=prefix, part_object_max=6 * MiB))
    data = os.urandom(20 * MiB + 5)
    await _append(store, "uploads/long", data)
    assert await _part_sizes(store, "uploads/long") == [6 * MiB, 6 * MiB, 6 * MiB, 2 * MiB + 5]
    await store.move("uploads/long", "blob")
    assert await store.get_bytes("blob") == data


async def test_two_nodes_share_an_upload_through_the_bucket(seaweed: SeaweedS3, prefix: str) -> None:
    """Every PATCH may land on another node, or on a node restarted since the last one."""
    node_a = S3BlobStore(seaweed.options(prefix=prefix))
    node_b = S3BlobStore(seaweed.options(prefix=prefix))
    first, second, third = os.urandom(6 * MiB), os.urandom(100), os.urandom(7 * MiB)
    w = await node_a.writer("uploads/shared")
    await w.close()
    await _append(node_a, "uploads/shared", first)
    w = await node_b.writer("uploads/shared", append=True)
    assert w.size == len(first)
    await w.write(second)
    await w.close()
    # node A's next request failed half-way: its bytes lie past what the database committed
    await _append(node_a, "uploads/shared", b"garbage past the committed offset")
    await _append(node_b, "uploads/shared", third, offset=len(first) + len(second))
    await node_b.move("uploads/shared", "sha256/cd/shared")
    assert await node_a.get_bytes("sha256/cd/shared") == first + second + third
    assert await node_a.stat("uploads/shared") is None


async def test_resume_inside_a_large_part(s3_store: S3BlobStore) -> None:
    """An offset inside a part shortens that part server-side (a ranged copy), then appends."""
    data = os.urandom(12 * MiB)
    await _append(s3_store, "uploads/r", data)
    await _append(s3_store, "uploads/r", b"tail", offset=7 * MiB + 3)
    assert await _part_sizes(s3_store, "uploads/r") == [7 * MiB + 3, 4]
    assert await s3_store.get_bytes("uploads/r") == data[: 7 * MiB + 3] + b"tail"
    with pytest.raises(StorageError):
        await s3_store.writer("uploads/r", append=True, offset=100 * MiB)


async def test_resume_at_zero_keeps_an_empty_upload(s3_store: S3BlobStore) -> None:
    await _append(s3_store, "uploads/z", b"abc")
    w = await s3_store.writer("uploads/z", append=True, offset=0)
    await w.close()
    assert await s3_store.stat("uploads/z") == 0
    assert await s3_store.get_bytes("uploads/z") == b""


async def test_appending_to_a_plain_object_adopts_it(s3_store: S3BlobStore) -> None:
    await s3_store.put_bytes("plain", b"head-")
    await _append(s3_store, "plain", b"tail")
    assert await s3_store.get_bytes("plain") == b"head-tail"


async def test_cancel_mid_stream_aborts_the_multipart_upload(s3_store: S3BlobStore) -> None:
    w = await s3_store.writer("uploads/c")
    for _ in range(12):  # past one S3 part: a multipart upload is under way
        await w.write(os.urandom(MiB))
    await w.cancel()
    assert await s3_store.stat("uploads/c") is None
    endpoint = s3_store.multipart_endpoint
    assert endpoint is not None
    async with MultipartApi.session(endpoint) as api:
        assert await api.pending(s3_store.key_prefix) == []


async def test_scan_shows_a_staged_object_as_one_with_all_its_pieces(s3_store: S3BlobStore) -> None:
    """An upload's part objects (and a temporary a truncation left among them) are one object,
    as big as all of them and as new as the newest; S3 times are whole seconds."""
    before = time.time() - 1
    await _append(s3_store, "uploads/p", b"x" * 10)
    await _append(s3_store, "uploads/p", b"y" * 5)
    await obstore.put_async(s3_store.obstore, f"{s3_store.key_prefix}.parts/uploads/p/{0:020d}.cut", b"cut")
    await s3_store.put_bytes("uploads/plain", b"plain")
    found = {o.path: o async for o in s3_store.scan("uploads")}
    assert {p: o.size for p, o in found.items()} == {"uploads/p": 18, "uploads/plain": 5}
    assert all(before <= o.modified <= time.time() for o in found.values())
    await s3_store.delete("uploads/p")
    assert await _part_sizes(s3_store, "uploads/p") == []


async def test_only_old_incomplete_multipart_uploads_are_aborted(s3_store: S3BlobStore) -> None:
    endpoint = s3_store.multipart_endpoint
    assert endpoint is not None
    async with MultipartApi.session(endpoint) as api:
        key = s3_store.key("sha256/ab/left-by-a-crash")
        upload_id = await api.create(key)
        assert await s3_store.remove_interrupted_writes(time.time() - 3600) == 0
        assert await api.pending(s3_store.key_prefix) == [(key, upload_id)]
        assert await s3_store.remove_interrupted_writes(time.time() + 3600) == 1
        assert await api.pending(s3_store.key_prefix) == []


async def test_without_static_keys_incomplete_uploads_are_left_to_a_lifecycle_rule(
    seaweed: SeaweedS3, prefix: str
) -> None:
    store = S3BlobStore(seaweed.options(prefix=prefix, access_key=None, secret_key=None))
    assert await store.remove_interrupted_writes(time.time() + 3600) == 0


async def test_without_server_side_assembly_incomplete_uploads_are_still_aborted(
    seaweed: SeaweedS3, prefix: str
) -> None:
    store = S3BlobStore(seaweed.options(prefix=prefix, server_side_assembly=False))
    assert store.multipart_endpoint is None
    key = store.key("sha256/cd/left-by-a-crash")
    keyed = S3BlobStore(seaweed.options(prefix=prefix))
    assert keyed.multipart_endpoint is not None
    async with MultipartApi.session(keyed.multipart_endpoint) as api:
        await api.create(key)
        assert await store.remove_interrupted_writes(time.time() + 3600) == 1
        assert await api.pending(store.key_prefix) == []


async def test_a_large_session_is_never_held_in_memory(s3_store: S3BlobStore) -> None:
    """64 MiB in 1 MiB writes: Python lets go of each write once it is on its way to S3, holding
    about one S3 part (5 MiB) at a time."""
    tracemalloc.start()
    try:
        w = await s3_store.writer("uploads/m")
        for _ in range(64):
            await w.write(os.urandom(MiB))  # a new buffer each time, as request bodies arrive
        await w.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * MiB, f"peak {peak >> 20} MiB"
    assert await s3_store.stat("uploads/m") == 64 * MiB


async def test_presigned_url_serves_the_blob_and_expires(seaweed: SeaweedS3, prefix: str) -> None:
    store = S3BlobStore(seaweed.options(prefix=prefix, redirect_lifetime_s=60))
    # A second store signs short-lived URLs: on a loaded machine a 1-second URL may already have
    # expired by the time the first request reaches the server, so only the expiry is checked on it.
    short = S3BlobStore(seaweed.options(prefix=prefix, redirect_lifetime_s=1))
    await store.put_bytes("sha256/ef/blob", b"layer bytes")
    url = await store.redirect_url("sha256/ef/blob")
    expiring = await short.redirect_url("sha256/ef/blob")
    assert url is not None and expiring is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        assert response.status_code == 200
        assert response.content == b"layer bytes"
        assert (await client.get(url.replace("sha256/ef/blob", "sha256/ef/other"))).status_code == 403
        await asyncio.sleep(2.2)  # the lifetime is whole seconds, checked by the S3 server
        assert (await client.get(expiring)).status_code == 403
        assert (await client.get(url)).status_code == 200


async def test_redirects_can_be_turned_off(seaweed: SeaweedS3, prefix: str) -> None:
    store = S3BlobStore(seaweed.options(prefix=prefix, redirect=False))
    await store.put_bytes("b", b"x")
    assert await store.redirect_url("b") is None


async def test_the_key_prefix_confines_the_store(seaweed: SeaweedS3, prefix: str) -> None:
    inner = S3BlobStore(seaweed.options(prefix=f"{prefix}/registry"))
    sibling = S3BlobStore(seaweed.options(prefix=f"{prefix}/other"))
    await inner.put_bytes("sha256/aa/x", b"1")
    await _append(inner, "uploads/u", b"2")
    await sibling.put_bytes("sha256/aa/x", b"3")
    everything = [m["path"] async for batch in obstore.list(inner.obstore, prefix) for m in batch]
    assert sorted(everything) == sorted(
        [
            f"{prefix}/registry/sha256/aa/x",
            f"{prefix}/registry/.parts/uploads/u/00000000000000000000",
            f"{prefix}/other/sha256/aa/x",
        ]
    )
    await inner.delete("uploads")
    await inner.delete("sha256")
    assert await sibling.get_bytes("sha256/aa/x") == b"3"


async def test_wrong_credentials_are_unhealthy(seaweed: SeaweedS3, prefix: str) -> None:
    store = S3BlobStore(seaweed.options(prefix=prefix, secret_key="not-the-secret"))
    assert not await store.healthy()
    with pytest.raises(Exception, match=r"(?i)forbidden|denied|signature"):
        await store.put_bytes("x", b"x")


async def test_missing_bucket_is_unhealthy(seaweed: SeaweedS3) -> None:
    store = S3BlobStore(seaweed.options(bucket="no-such-bucket"))
    assert not await store.healthy()
    with pytest.raises(Exception) as caught:  # a broken setup, not a missing blob
        await store.get_bytes("x")
    assert not isinstance(caught.value, PathNotFound)

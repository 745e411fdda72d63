"""The conformance suite every BlobStore driver must pass.

A driver's test module is three lines: import `DriverSuite`, subclass it, give a `store` fixture.
The suite also checks that the driver leaves nothing behind once objects are deleted.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from wharf.oci.digest import Digest
from wharf.storage.base import BlobStore, PathNotFound, StorageError, StoragePathError, blob_path

# S3 keeps modification times in whole seconds; the store's clock is this machine's.
CLOCK_SLACK_S = 2.0
MiB = 1024 * 1024


async def _read_all(store: BlobStore, path: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([c async for c in store.read(path, offset, length)])


class DriverSuite:
    """Subclasses provide a `store` fixture yielding an empty store."""

    async def test_fulfils_protocol(self, store: BlobStore) -> None:
        assert isinstance(store, BlobStore)
        assert await store.healthy()

    async def test_put_get_stat(self, store: BlobStore) -> None:
        await store.put_bytes("a/b/c", b"hello")
        assert await store.get_bytes("a/b/c") == b"hello"
        assert await store.stat("a/b/c") == 5
        assert await store.stat("a/b/missing") is None
        await store.put_bytes("a/b/c", b"replaced")
        assert await store.get_bytes("a/b/c") == b"replaced"

    async def test_empty_object(self, store: BlobStore) -> None:
        await store.put_bytes("empty", b"")
        assert await store.stat("empty") == 0
        assert await _read_all(store, "empty") == b""

    async def test_missing_object(self, store: BlobStore) -> None:
        with pytest.raises(PathNotFound):
            await store.get_bytes("nope")
        with pytest.raises(PathNotFound):
            await _read_all(store, "nope")

    async def test_read_ranges(self, store: BlobStore) -> None:
        data = os.urandom(3 * 1024 * 1024 + 7)
        await store.put_bytes("big", data)
        assert await _read_all(store, "big") == data
        assert await _read_all(store, "big", 1000) == data[1000:]
        assert await _read_all(store, "big", 1000, 5) == data[1000:1005]
        assert await _read_all(store, "big", len(data) - 3, 100) == data[-3:]
        assert (
            await _read_all(store, "big", 2 * 1024 * 1024 - 1, 1024 * 1024 + 2)
            == data[2 * 1024 * 1024 - 1 : 3 * 1024 * 1024 + 1]
        )

    async def test_streaming_writer_append_and_move(self, store: BlobStore) -> None:
        w = await store.writer("uploads/u1")
        await w.write(b"abc")
        await w.write(b"def")
        assert w.size == 6
        await w.close()
        w = await store.writer("uploads/u1", append=True)
        assert w.size == 6
        await w.write(b"ghi")
        await w.close()
        assert await store.get_bytes("uploads/u1") == b"abcdefghi"
        await store.move("uploads/u1", "sha256/ab/final")
        assert await store.get_bytes("sha256/ab/final") == b"abcdefghi"
        assert await store.stat("uploads/u1") is None

    async def test_writer_offset_discards_unacknowledged_tail(self, store: BlobStore) -> None:
        w = await store.writer("uploads/u2")
        await w.write(b"0123456789")
        await w.close()
        w = await store.writer("uploads/u2", append=True, offset=4)
        assert w.size == 4
        await w.write(b"XY")
        await w.close()
        assert await store.get_bytes("uploads/u2") == b"0123XY"

    async def test_cancel_removes_staging(self, store: BlobStore) -> None:
        w = await store.writer("uploads/u3")
        await w.write(b"junk")
        await w.cancel()
        assert await store.stat("uploads/u3") is None

    async def test_move_missing_source(self, store: BlobStore) -> None:
        with pytest.raises(PathNotFound):
            await store.move("uploads/none", "x/y")

    async def test_copy_keeps_the_source_and_replaces_the_destination(self, store: BlobStore) -> None:
        await store.put_bytes("dst", b"old")
        await store.put_bytes("src", b"new")
        await store.copy("src", "dst")
        assert await store.get_bytes("dst") == b"new"
        assert await store.get_bytes("src") == b"new"
        await store.delete("src")
        assert await store.get_bytes("dst") == b"new"
        with pytest.raises(PathNotFound):
            await store.copy("uploads/none", "x/y")

    async def test_a_copy_is_not_changed_by_later_writes_to_its_source(self, store: BlobStore) -> None:
        """An upload published by copy may still be written to by a request that took it over (the
        finishing one stalled past its claim): the blob at its content address must not change,
        whether that writer opened the upload before the copy or after it."""
        w = await store.writer("uploads/c")
        await w.write(b"verified bytes")
        await w.close()
        stale = await store.writer("uploads/c", append=True)  # opened before the copy
        await store.copy("uploads/c", "sha256/ab/c")
        await stale.write(b", written late")
        await stale.close()
        assert await store.get_bytes("sha256/ab/c") == b"verified bytes"

        await store.copy("uploads/c", "sha256/ab/d", length=len(b"verified bytes"))  # no writer open
        w = await store.writer("uploads/c", append=True, offset=len(b"verified bytes"))
        await w.write(b", appended")
        await w.close()
        w = await store.writer("uploads/c", append=True, offset=3)
        await w.close()
        w = await store.writer("uploads/c")  # begun again
        await w.write(b"other")
        await w.close()
        assert await store.get_bytes("sha256/ab/c") == b"verified bytes"
        assert await store.get_bytes("sha256/ab/d") == b"verified bytes"
        assert await store.get_bytes("uploads/c") == b"other"

    async def test_copy_of_the_first_bytes(self, store: BlobStore) -> None:
        await store.put_bytes("src", b"0123456789")
        await store.copy("src", "dst", length=4)
        assert await store.get_bytes("dst") == b"0123"
        await store.copy("src", "dst", length=10)
        assert await store.get_bytes("dst") == b"0123456789"
        await store.copy("src", "empty", length=0)
        assert await store.get_bytes("empty") == b""
        with pytest.raises(StorageError):
            await store.copy("src", "dst", length=11)
        assert await store.get_bytes("dst") == b"0123456789"  # a failed copy leaves dst as it was
        with pytest.raises(PathNotFound):
            await store.copy("missing", "dst", length=1)

    async def test_move_replaces_destination(self, store: BlobStore) -> None:
        await store.put_bytes("dst", b"old")
        await store.put_bytes("src", b"new")
        await store.move("src", "dst")
        assert await store.get_bytes("dst") == b"new"

    async def test_list_and_delete_prefix(self, store: BlobStore) -> None:
        for p in ("p/a", "p/b/c", "p/b/d", "q/e"):
            await store.put_bytes(p, p.encode())
        assert sorted([p async for p in store.list("p")]) == ["p/a", "p/b/c", "p/b/d"]
        await store.delete("p/b")
        assert sorted([p async for p in store.list("p")]) == ["p/a"]
        await store.delete("p/a")
        await store.delete("p/a")  # deleting what is gone is fine
        await store.delete("q")
        assert [p async for p in store.list("p")] == []
        assert [p async for p in store.list("q")] == []

    async def test_scan_gives_sizes_and_modification_times(self, store: BlobStore) -> None:
        before = time.time()
        await store.put_bytes("s/a", b"abc")
        w = await store.writer("s/b/c")
        await w.write(b"12345")
        await w.close()
        w = await store.writer("s/b/c", append=True)
        await w.write(b"678")
        await w.close()
        await store.copy("s/a", "s/copied")
        await store.put_bytes("t/d", b"elsewhere")
        found = {o.path: o async for o in store.scan("s")}
        assert sorted(found) == ["s/a", "s/b/c", "s/copied"]
        assert {p: o.size for p, o in found.items()} == {"s/a": 3, "s/b/c": 8, "s/copied": 3}
        for o in found.values():
            assert before - CLOCK_SLACK_S <= o.modified <= time.time() + CLOCK_SLACK_S, o
        assert sorted([p async for p in store.list("s")]) == sorted(found)
        assert [o.path async for o in store.scan("s/b/c")] == ["s/b/c"]
        await store.delete("s/b/c")
        assert sorted([o.path async for o in store.scan("s")]) == ["s/a", "s/copied"]
        assert [o async for o in store.scan("nothing")] == []

    async def test_finished_writes_leave_nothing_interrupted(self, store: BlobStore) -> None:
        """Whatever completes or is cancelled cleans up after itself: only a crash leaves the
        driver's own leftovers, and then only older ones are removed."""
        await store.put_bytes("i/put", b"x")
        w = await store.writer("uploads/i")
        await w.write(os.urandom(6 * MiB))  # past one S3 part: a streamed multipart upload
        await w.close()
        await store.copy("uploads/i", "i/copy")
        await store.move("uploads/i", "i/moved")
        w = await store.writer("uploads/cancelled")
        await w.write(os.urandom(6 * MiB))
        await w.cancel()
        assert await store.remove_interrupted_writes(time.time() + 3600) == 0
        assert await store.get_bytes("i/moved") == await store.get_bytes("i/copy")

    @pytest.mark.parametrize(
        "path", ["", "/abs", "a/../b", "..", "a//b", "a/./b", ".hidden", "a/b/", "a\\b", "a/\x00", "x" * 2000]
    )
    async def test_path_tricks_are_refused(self, store: BlobStore, path: str) -> None:
        with pytest.raises(StoragePathError):
            await store.put_bytes(path, b"x")
        with pytest.raises(StoragePathError):
            await store.stat(path)

    async def test_concurrent_moves_to_same_address(self, store: BlobStore) -> None:
        data = os.urandom(100_000)
        target = blob_path(Digest.of(data))

        async def upload(i: int) -> None:
            w = await store.writer(f"uploads/c{i}")
            await w.write(data)
            await w.close()
            await store.move(f"uploads/c{i}", target)

        await asyncio.gather(*(upload(i) for i in range(8)))
        assert await store.get_bytes(target) == data

    async def test_open_file_is_the_object_or_none(self, store: BlobStore) -> None:
        data = os.urandom(MiB + 3)
        await store.put_bytes("f/obj", data)
        fd = await store.open_file("f/obj")
        if fd is not None:  # a local file: what a server sends with sendfile(2)
            try:
                assert os.pread(fd, len(data) + 1, 0) == data
            finally:
                os.close(fd)
            with pytest.raises(PathNotFound):
                await store.open_file("f/missing")
            with pytest.raises(PathNotFound):
                await store.open_file("f")  # a prefix, not an object

    async def test_redirect_url_is_optional(self, store: BlobStore) -> None:
        await store.put_bytes("r", b"x")
        url = await store.redirect_url("r")
        assert url is None or url.startswith(("http://", "https://"))

"""What the filesystem driver promises beyond the shared suite: modification times that garbage
collection can trust, and staging files a crash left behind removed once old, never one in flight."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from wharf.storage.filesystem import FilesystemStore

DAY = 24 * 3600


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "store")


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def _modified(store: FilesystemStore, path: str) -> float:
    (found,) = [o async for o in store.scan(path)]
    return found.modified


async def test_a_copied_or_moved_object_is_new_at_its_path(store: FilesystemStore) -> None:
    """A rename and a hard link keep a file's time: an upload last written two days ago and
    published now must not look like a two-day-old orphan blob."""
    for operation in (store.copy, store.move):
        await store.put_bytes("uploads/u", b"last written long ago")
        _age(store.root / "uploads/u", 2 * DAY)
        await operation("uploads/u", "sha256/ab/blob")
        assert await _modified(store, "sha256/ab/blob") > time.time() - 60


async def test_a_copy_of_a_file_no_writer_holds_copies_no_bytes(store: FilesystemStore) -> None:
    """Publishing a large upload is instant: the blob is a second name of the upload's file, and a
    writer that opens the upload afterwards moves to a file of its own."""
    w = await store.writer("uploads/u")
    await w.write(b"a large upload")
    await w.close()
    await store.copy("uploads/u", "sha256/ab/blob")
    blob = (store.root / "sha256/ab/blob").stat()
    assert blob.st_ino == (store.root / "uploads/u").stat().st_ino and blob.st_nlink == 2
    w = await store.writer("uploads/u", append=True)
    await w.write(b", grown")
    await w.close()
    assert (store.root / "uploads/u").stat().st_ino != blob.st_ino
    assert (store.root / "sha256/ab/blob").stat().st_nlink == 1
    assert await store.get_bytes("sha256/ab/blob") == b"a large upload"
    assert await store.get_bytes("uploads/u") == b"a large upload, grown"


async def test_old_staging_files_are_removed_and_young_ones_kept(store: FilesystemStore) -> None:
    staging = store.root / ".staging"
    crashed, in_flight = staging / "crashed-put", staging / "put-in-progress"
    crashed.write_bytes(b"a put_bytes that died before its rename")
    in_flight.write_bytes(b"being written right now")
    _age(crashed, 2 * DAY)
    assert await store.remove_interrupted_writes(time.time() - DAY) == 1
    assert not crashed.exists() and in_flight.exists()


def test_a_staging_file_in_flight_is_kept_whatever_its_age(store: FilesystemStore) -> None:
    """A write in flight holds a lock on its staging file: a sweep leaves it, however old it looks."""
    with store._staged(0o640) as (_fd, tmp):
        _age(tmp, 2 * DAY)
        assert store._remove_staging_older_than(time.time()) == 0
        assert tmp.exists()
    assert not tmp.exists()  # the block ended without renaming it: the file went with it


async def test_a_copy_survives_a_sweep_that_takes_its_staging_name(store: FilesystemStore) -> None:
    """A sweep told that everything is old (as GC tests do, or after a clock jump) never takes a
    staging file from a copy in flight: the copy holds a lock on it from before it has a name."""
    await store.put_bytes("uploads/u", b"blob bytes")
    stop = threading.Event()

    def sweep() -> None:
        while not stop.is_set():
            store._remove_staging_older_than(time.time() + DAY)

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    try:
        for i in range(300):
            await store.copy("uploads/u", f"copies/{i}")
    finally:
        stop.set()
        sweeper.join()
    for i in range(300):
        assert await store.get_bytes(f"copies/{i}") == b"blob bytes"

"""Local filesystem driver: objects are files under a root, made visible by atomic rename."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from wharf.storage.base import PathNotFound, StoredObject, check_path

READ_CHUNK = 1024 * 1024
THREAD_WRITE_MIN = 256 * 1024
_STAGING = ".staging"


class _FsWriter:
    def __init__(self, fd: int, path: Path, size: int) -> None:
        self._fd = fd
        self._path = path
        self._size = size
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        # A small write to the page cache costs less than a thread hop; a large one may wait on
        # writeback, so it leaves the event loop.
        if len(data) >= THREAD_WRITE_MIN:
            await asyncio.to_thread(self._write_all, data)
        else:
            self._write_all(data)
        self._size += len(data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)

    async def cancel(self) -> None:
        await self.close()
        self._path.unlink(missing_ok=True)


class FilesystemStore:
    name = "filesystem"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / _STAGING).mkdir(exist_ok=True)

    def _full(self, path: str) -> Path:
        return self.root / check_path(path)

    async def stat(self, path: str) -> int | None:
        try:
            st = self._full(path).stat()
        except FileNotFoundError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        full = self._full(path)
        try:
            f = open(full, "rb", buffering=0)  # noqa: SIM115 - closed in finally, across yields
        except (FileNotFoundError, IsADirectoryError):
            raise PathNotFound(path) from None
        try:
            if offset:
                f.seek(offset)
            remaining = length
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(f.read, want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            f.close()

    async def get_bytes(self, path: str) -> bytes:
        try:
            return self._full(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise PathNotFound(path) from None

    async def put_bytes(self, path: str, data: bytes) -> None:
        full = self._full(path)
        tmp = self.root / _STAGING / uuid.uuid4().hex
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        full.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, full)

    async def writer(self, path: str, append: bool = False, offset: int | None = None) -> _FsWriter:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        fd = os.open(full, flags, 0o640)
        if append and offset is not None:
            os.ftruncate(fd, offset)
        size = os.fstat(fd).st_size
        return _FsWriter(fd, full, size)

    async def _synced_source(self, src: str) -> Path:
        """The source's path, its bytes on disk: they must be before the name that publishes them is."""
        s = self._full(src)
        try:
            fd = os.open(s, os.O_RDONLY)
        except FileNotFoundError:
            raise PathNotFound(src) from None
        try:
            await asyncio.to_thread(os.fsync, fd)
        finally:
            os.close(fd)
        return s

    async def move(self, src: str, dst: str) -> None:
        s, d = await self._synced_source(src), self._full(dst)
        d.parent.mkdir(parents=True, exist_ok=True)
        # A rename keeps the modification time, but the object is new at `dst`: garbage collection
        # must not take a blob published a moment ago for an old orphan.
        os.utime(s)
        os.replace(s, d)

    async def copy(self, src: str, dst: str) -> None:
        s, d = await self._synced_source(src), self._full(dst)
        d.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            tmp = self.root / _STAGING / uuid.uuid4().hex
            # A hard link shares the source's modification time: made new first (see move), so
            # that neither the staging name nor `dst` ever looks old.
            os.utime(s)
            try:
                os.link(s, tmp)  # a second name for the same bytes: no copying on one filesystem
            except OSError:
                await asyncio.to_thread(shutil.copyfile, s, tmp)
            try:
                os.replace(tmp, d)
                return
            except FileNotFoundError:
                # The sweep of interrupted writes took the staging name (a clock jump, or a sweep
                # told to treat everything as old): the source is still here, so stage it again.
                if attempt == 2 or not s.exists():
                    raise

    async def delete(self, path: str) -> None:
        full = self._full(path)
        if full.is_dir():
            await asyncio.to_thread(shutil.rmtree, full, True)
        else:
            full.unlink(missing_ok=True)

    async def list(self, prefix: str) -> AsyncIterator[str]:
        async for found in self.scan(prefix):
            yield found.path

    async def scan(self, prefix: str) -> AsyncIterator[StoredObject]:
        base = self._full(prefix)
        try:
            st = base.stat()
        except FileNotFoundError:
            return
        if stat.S_ISREG(st.st_mode):
            yield StoredObject(prefix, st.st_size, st.st_mtime)
            return
        # One directory per thread hop: a large store is walked without blocking the event loop.
        pending = [base]
        while pending:
            found, subdirs = await asyncio.to_thread(_read_dir, self.root, pending.pop())
            for item in found:
                yield item
            pending.extend(subdirs)

    async def remove_interrupted_writes(self, before: float) -> int:
        return await asyncio.to_thread(self._remove_staging_older_than, before)

    def _remove_staging_older_than(self, before: float) -> int:
        """Staging files a crash left between writing and renaming (put_bytes, copy)."""
        removed = 0
        with os.scandir(self.root / _STAGING) as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode) and st.st_mtime < before:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    async def redirect_url(self, path: str) -> str | None:
        return None

    async def healthy(self) -> bool:
        return os.access(self.root, os.W_OK)


def _read_dir(root: Path, directory: Path) -> tuple[list[StoredObject], list[Path]]:
    """The files in one directory, and its subdirectories."""
    found: list[StoredObject] = []
    subdirs: list[Path] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(Path(entry.path))
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we looked
                if stat.S_ISREG(st.st_mode):
                    path = str(Path(entry.path).relative_to(root))
                    found.append(StoredObject(path, st.st_size, st.st_mtime))
    except (FileNotFoundError, NotADirectoryError):
        pass
    return found, subdirs

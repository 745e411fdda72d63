"""Local filesystem driver: objects are files under a root, made visible by atomic rename."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
import stat
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from wharf.storage.base import PathNotFound, StorageError, StoredObject, check_path

# Reads of at most this many bytes run on the event loop (see `read`).
INLINE_READ_MAX = 64 * 1024
READ_CHUNK = 1024 * 1024
THREAD_WRITE_MIN = 256 * 1024
SYNC_AHEAD = 4 * 1024 * 1024
"""A writer puts its bytes on disk in the background every this many bytes (see _FsWriter)."""
_STAGING = ".staging"
# ioctl(2) FICLONE: make the destination share the source's blocks, copy-on-write.
_FICLONE = 0x40049409


class _FsWriter:
    def __init__(self, fd: int, path: Path, size: int) -> None:
        self._fd = fd
        self._path = path
        self._size = size
        self._closed = False
        self._unsynced = 0
        self._syncing: asyncio.Future[None] | None = None

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
        self._unsynced += len(data)
        if self._unsynced >= SYNC_AHEAD and (self._syncing is None or self._syncing.done()):
            self._sync_ahead()

    def _sync_ahead(self) -> None:
        """Put what was written so far on disk in a worker thread while the writes go on: the
        fsync that publishes the object (`move`, `commit`) then waits for the last few MiB only,
        not for the whole object (a client waits for that fsync, a pull-through's client for its
        blob's last chunk)."""
        if self._syncing is not None:
            self._syncing.result()  # done: its error, if any, is the writer's
        self._unsynced = 0
        self._syncing = asyncio.get_running_loop().run_in_executor(None, os.fdatasync, self._fd)

    async def _synced_ahead(self) -> None:
        """The sync under way has ended (the descriptor is not closed under it)."""
        if self._syncing is not None:
            syncing, self._syncing = self._syncing, None
            await syncing

    def _write_all(self, data: bytes) -> None:
        _write_all(self._fd, data)

    async def close(self) -> None:
        if not self._closed:
            try:
                await self._synced_ahead()
            finally:
                self._closed = True
                os.close(self._fd)

    async def cancel(self) -> None:
        with contextlib.suppress(OSError):
            await self._synced_ahead()
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
                # A small read asked for by length (an image configuration a manifest PUT reads for
                # its labels) costs less on the event loop than the hop to a thread and back.
                chunk = f.read(want) if want <= INLINE_READ_MAX else await asyncio.to_thread(f.read, want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            f.close()

    async def open_file(self, path: str) -> int | None:
        try:
            fd = os.open(self._full(path), os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise PathNotFound(path) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise PathNotFound(path)
            # A blob is read from start to end: a larger readahead window.
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except BaseException:
            os.close(fd)
            raise
        return fd

    async def get_bytes(self, path: str) -> bytes:
        try:
            return self._full(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise PathNotFound(path) from None

    async def put_bytes(self, path: str, data: bytes) -> None:
        full = self._full(path)
        await asyncio.to_thread(self._put, full, data)

    def _put(self, full: Path, data: bytes) -> None:
        with self._staged(0o666) as (fd, tmp):
            _write_all(fd, data)
            os.fsync(fd)
            full.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, full)

    @contextlib.contextmanager
    def _staged(self, mode: int) -> Iterator[tuple[int, Path]]:
        """A new file in the staging directory, locked for as long as the block runs.

        The sweep of interrupted writes skips a locked file whatever its age, so an object being
        staged is never taken from under its writer (by a sweep told that everything is old, or
        after the clock jumped). Where it can, the file is made nameless (O_TMPFILE) and locked
        before its name appears, so no sweep ever sees it unlocked.
        """
        tmp = self.root / _STAGING / uuid.uuid4().hex
        fd = _new_locked_file(tmp, mode)
        try:
            yield fd, tmp
        finally:
            # Gone already when the block renamed it; the lock goes with the descriptor, after the name.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.close(fd)

    async def writer(self, path: str, append: bool = False, offset: int | None = None) -> _FsWriter:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        if not append:
            # A new file rather than the old one truncated: that one may also be a blob (see copy).
            full.unlink(missing_ok=True)
        fd = self._open_own(full)
        try:
            if append and offset is not None:
                os.ftruncate(fd, offset)
            size = os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise
        return _FsWriter(fd, full, size)

    def _open_own(self, full: Path) -> int:
        """Open `full` for writing, in a file no blob shares, and hold it until the writer closes.

        A writer holds a shared lock; copy() makes a blob a second name of a file only under an
        exclusive lock, so never of a file a writer holds, and a writer that comes later finds
        the file has two names and goes on in a copy of its own.
        """
        for _ in range(3):
            fd = os.open(full, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)  # read too, to copy it
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while a copy() links this file
                st = os.fstat(fd)
                try:
                    named = os.stat(full)
                except FileNotFoundError:
                    named = None
                if named is None or (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino):
                    # Published and removed, or replaced, between the open and the lock: open again.
                    os.close(fd)
                    continue
                return fd if st.st_nlink <= 1 else self._detach(fd, full, st.st_size)
            except BaseException:
                os.close(fd)
                raise
        raise StorageError(f"{full.relative_to(self.root)} keeps changing under its writer")

    def _detach(self, fd: int, full: Path, size: int) -> int:
        """The file is also a blob (its finishing request lost the upload to this writer): the blob
        keeps it, and the upload continues in a copy under its name. Returns that copy, held."""
        with self._staged(0o640) as (new, tmp):
            _clone_or_copy(fd, new, size)
            fcntl.fcntl(new, fcntl.F_SETFL, fcntl.fcntl(new, fcntl.F_GETFL) | os.O_APPEND)
            kept = os.dup(new)  # the same open file, and its lock, outlive the staging block
            try:
                os.replace(tmp, full)
            except BaseException:
                os.close(kept)
                raise
        fcntl.flock(kept, fcntl.LOCK_SH)  # from exclusive, once its staging name is gone
        os.close(fd)
        return kept

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

    async def copy(self, src: str, dst: str, length: int | None = None) -> None:
        s, d = self._full(src), self._full(dst)
        try:
            fd = os.open(s, os.O_RDONLY)
        except FileNotFoundError:
            raise PathNotFound(src) from None
        try:
            await asyncio.to_thread(self._copy, fd, src, d, length)
        finally:
            os.close(fd)

    def _copy(self, src_fd: int, src: str, d: Path, length: int | None) -> None:
        """A second name for the source's file when no writer has it open (no bytes are copied, so
        publishing a large upload is instant), else a file of its own.

        The blob at a content address must never change: a request that took an upload over (the
        finishing one stalled past its claim) may append to or truncate the upload's file. So the
        link is made only under an exclusive lock that no writer holds, and a writer that opens
        the file afterwards moves to a copy of its own (_open_own). Otherwise the bytes are copied:
        a reflink where the filesystem shares blocks (btrfs, XFS, ZFS, ...), a kernel copy
        (copy_file_range) elsewhere.
        """
        size = os.fstat(src_fd).st_size if length is None else length
        if self._link_unwritten(src_fd, self._full(src), d, size):
            return
        with self._staged(0o640) as (fd, tmp):
            _clone_or_copy(src_fd, fd, size)
            copied = os.fstat(fd).st_size
            if copied > size:
                os.ftruncate(fd, size)  # the source grew between the look at its size and the clone
            elif copied < size:
                raise StorageError(f"cannot copy {size} bytes of {src}: it holds {copied}")
            os.fsync(fd)
            d.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, d)

    def _link_unwritten(self, src_fd: int, s: Path, d: Path, size: int) -> bool:
        """Make `d` a second name of the source's file, if no writer holds it and it is `size` long."""
        # Its bytes on disk before the name that publishes them is; outside the lock, which
        # writers wait for.
        os.fsync(src_fd)
        try:
            fcntl.flock(src_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a writer has it open (one that lost its claim, perhaps)
        try:
            st = os.fstat(src_fd)
            if st.st_size != size:
                return False
            tmp = self.root / _STAGING / uuid.uuid4().hex
            try:
                os.link(s, tmp)
            except OSError:
                return False  # gone from its name meanwhile, or a filesystem without hard links
            try:
                linked = os.stat(tmp)
                if (linked.st_dev, linked.st_ino) != (st.st_dev, st.st_ino):
                    return False  # the name holds another file now (a writer's own copy)
                # A link shares the file's modification time: made new, so that neither the
                # staging name nor `d` ever looks old.
                os.utime(tmp)
                d.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, d)
                return True
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        finally:
            fcntl.flock(src_fd, fcntl.LOCK_UN)

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
        """Staging files a crash left between writing and renaming (put_bytes, copy): older than
        `before` and not locked by a write in flight."""
        removed = 0
        with os.scandir(self.root / _STAGING) as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                    if (
                        stat.S_ISREG(st.st_mode)
                        and st.st_mtime < before
                        and _unlink_unless_locked(entry.path)
                    ):
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _new_locked_file(path: Path, mode: int) -> int:
    """Create `path` and hold an exclusive lock on it: nameless until locked where the system
    allows (O_TMPFILE, linked through /proc), else created and locked at once."""
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if tmpfile:
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = os.open(".", tmpfile | os.O_WRONLY, mode, dir_fd=directory)
        except OSError:
            fd = -1  # a filesystem without O_TMPFILE
        try:
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # linkat(AT_SYMLINK_FOLLOW) of /proc's link to the descriptor (a dir_fd makes
                # Python call linkat; plain link() would link the symbolic link itself).
                os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=directory, follow_symlinks=True)
                return fd
        except OSError:
            os.close(fd)  # no /proc: the nameless file goes with its descriptor
        finally:
            os.close(directory)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _unlink_unless_locked(path: str) -> bool:
    """Unlink a staging file no write in flight holds; False if one does, or it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        # Its writer may have renamed it to its final name and let go meanwhile: then the
        # staging name is gone, and the unlink finds nothing.
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(fd)


def _clone_or_copy(src: int, dst: int, size: int) -> None:
    """The first `size` bytes of `src` into the empty `dst`: a reflink where the filesystem shares
    blocks (it may take the whole source; the caller cuts it to `size`), else a kernel copy."""
    try:
        fcntl.ioctl(dst, _FICLONE, src)
        return
    except OSError:
        pass  # no reflinks here (ext4, tmpfs, another filesystem than the source's)
    offset = 0
    while offset < size:
        try:
            n = os.copy_file_range(src, dst, size - offset, offset, offset)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = _copy_by_reading(src, dst, offset, size - offset)
        if n == 0:
            break  # the source is shorter than `size`: the caller finds out
        offset += n


def _copy_by_reading(src: int, dst: int, offset: int, count: int) -> int:
    done = 0
    while done < count:
        chunk = os.pread(src, min(READ_CHUNK, count - done), offset + done)
        if not chunk:
            break
        os.pwrite(dst, chunk, offset + done)
        done += len(chunk)
    return done

"""The storage driver contract every backend fulfils, and the path rules they share.

Paths are relative, slash-separated and made of `[A-Za-z0-9._-]` components; no component may be
`.` or `..`. Drivers call `check_path` on every path they receive, so a path trick can never reach
outside the store whatever the caller did wrong.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from wharf.oci.digest import Digest

_COMPONENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


class StorageError(Exception):
    """A storage backend failed."""


class StoragePathError(StorageError, ValueError):
    """A path that is not allowed in a store."""


class PathNotFound(StorageError, FileNotFoundError):
    """No object at this path."""


def check_path(path: str) -> str:
    if not path or len(path) > 1024 or path.startswith("/"):
        raise StoragePathError(f"invalid storage path {path[:100]!r}")
    for part in path.split("/"):
        if not _COMPONENT.match(part) or part in (".", ".."):
            raise StoragePathError(f"invalid storage path {path[:100]!r}")
    return path


def blob_path(digest: Digest) -> str:
    """Content-addressed layout shared with Quay: `sha256/<first 2 hex>/<hex>`."""
    return f"{digest.algorithm}/{digest.encoded[:2]}/{digest.encoded}"


def upload_path(upload_id: str) -> str:
    return f"uploads/{upload_id}"


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object as a listing of the store finds it."""

    path: str
    size: int
    """Bytes it takes up in the store (a staged object's pieces together)."""
    modified: float
    """When the object was last written, copied or moved to `path`, in seconds since the epoch by
    the store's clock. Garbage collection judges age by it, so a copy or move counts as new."""


class FileWriter(Protocol):
    """Appends to an object that becomes readable at its final path only on `commit`."""

    @property
    def size(self) -> int: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None:
        """Flush and release; the data written so far stays for a later `writer(append=True)`."""

    async def cancel(self) -> None:
        """Discard everything written."""


@runtime_checkable
class BlobStore(Protocol):
    name: str

    async def stat(self, path: str) -> int | None:
        """Size of the object, or None when there is none."""

    def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream the object's bytes [offset, offset+length). Raises PathNotFound."""

    async def open_file(self, path: str) -> int | None:
        """A read-only descriptor of the file that holds the object, for a server to send with
        sendfile(2) (the caller closes it); None when objects are not local files. Raises
        PathNotFound."""

    async def get_bytes(self, path: str) -> bytes: ...

    async def put_bytes(self, path: str, data: bytes) -> None:
        """Write a small object atomically."""

    async def writer(self, path: str, append: bool = False, offset: int | None = None) -> FileWriter:
        """Open a staging object for streaming writes.

        With `append`, writing continues after what earlier writers left; with `offset` too,
        anything past `offset` bytes is discarded first.
        """

    async def move(self, src: str, dst: str) -> None:
        """Atomically make `src` visible at `dst` (replacing it) and remove `src`."""

    async def copy(self, src: str, dst: str, length: int | None = None) -> None:
        """Atomically make a copy of `src` visible at `dst` (replacing it); `src` stays.

        With `length`, only the first `length` bytes are copied (StorageError if `src` holds
        fewer). The copy is an object of its own: writing to `src` afterwards never changes it.
        """

    async def delete(self, path: str) -> None:
        """Remove an object, or everything under a prefix. Missing paths are not an error."""

    def list(self, prefix: str) -> AsyncIterator[str]:
        """Paths of the objects under `prefix`, in no particular order."""

    def scan(self, prefix: str) -> AsyncIterator[StoredObject]:
        """The objects under `prefix` with their sizes and modification times, in no particular order."""

    async def remove_interrupted_writes(self, before: float) -> int:
        """Remove what writes begun before `before` (seconds since the epoch) and never finished left
        in the driver's own bookkeeping, where no path reaches it: a filesystem's staging files, S3's
        incomplete multipart uploads. Returns how many were removed. Objects at paths are not
        touched: whether those are garbage is for the caller to judge."""

    async def redirect_url(self, path: str) -> str | None:
        """A URL clients may fetch the object from directly, or None to stream it ourselves."""

    async def healthy(self) -> bool: ...

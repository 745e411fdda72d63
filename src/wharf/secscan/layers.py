"""Reading one layer as a stream of tar entries, in bounded memory, refusing archive tricks.

A layer blob is gzip, zstd or plain tar; which one is told by its first bytes, not by the media
type a client claimed. The tar headers are walked here rather than by `tarfile`'s stream mode,
because `tarfile` reads a pax or GNU long-name header whole into memory whatever its declared
size: we cap it first. `tarfile.TarInfo.frombuf` still decodes each 512-byte header block.
Nothing is ever written to disk; the caller reads the first bytes of the entries it wants and
the rest is read through and dropped.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Final, Protocol, cast

import zstandard

from wharf.secscan.errors import IndexingError

BLOCK: Final = 512
_CHUNK: Final = 64 * 1024
GZIP_MAGIC: Final = b"\x1f\x8b"
ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
# zstd's own default ceiling for a frame's window (2**27 bytes): a frame asking for more (as
# `zstd --long=31` output does) is refused rather than allowed to claim 2 GiB of memory.
_ZSTD_WINDOW: Final = 1 << 27

# Entry types whose data blocks follow their header. Every other known type has none, whatever
# its size field says (tarfile reads it the same way).
_DATA_TYPES: Final = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_PAX_TYPES: Final = frozenset({tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE})
_LONG_TYPES: Final = frozenset({tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK})
_KNOWN_TYPES: Final = frozenset(tarfile.SUPPORTED_TYPES) | _PAX_TYPES | _LONG_TYPES


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one layer may make the indexer read or hold."""

    layer_bytes: int = 8 << 30
    """Uncompressed bytes read per layer; past it the layer is refused (decompression bombs)."""
    header_bytes: int = 1 << 20
    """A pax or GNU long-name header's size; real ones are a few hundred bytes."""
    database_bytes: int = 64 << 20
    """A package database (dpkg status, apk installed); a bigger one is refused, not skipped, so
    that padding a database cannot hide the packages in it."""
    metadata_bytes: int = 1 << 20
    """A language package's metadata file (package.json, METADATA); a bigger one is skipped
    with a warning."""
    memory_bytes: int = 32 << 20
    """A file read whole for random access (an rpm database, a Java archive) up to this size is
    held in memory; a bigger one is copied to a temporary file, deleted as soon as it is read,
    so that concurrent jobs indexing big images do not each hold hundreds of MiB."""
    spool_bytes: int = 1 << 30
    """The most such a file may be: an rpm database over it is refused (as the dpkg status over
    `database_bytes` is), a Java archive over it skipped with a warning."""
    executable_bytes: int = 1 << 30
    """An executable searched for Go build information (streamed, never held); a bigger one is
    skipped with a warning."""


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    """Relative to the image root, without "./", "." or empty components."""
    type: bytes
    size: int
    """Bytes of data that follow the header (0 for anything but a regular file)."""
    linkname: str
    mode: int = 0
    """Permission bits, as the header gives them (executables are told by them)."""

    @property
    def is_file(self) -> bool:
        return self.type in _DATA_TYPES

    @property
    def is_dir(self) -> bool:
        return self.type == tarfile.DIRTYPE


class Readable(Protocol):
    """What the indexer needs of a layer: `read(n)` up to n bytes, b"" at the end."""

    def read(self, n: int, /) -> bytes: ...


class _Prefixed:
    """A stream with bytes already taken from its front put back (the magic-number peek)."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int, /) -> bytes:
        if self._head:
            head, self._head = (
                (self._head, b"")
                if n < 0 or n >= len(self._head)
                else (
                    self._head[:n],
                    self._head[n:],
                )
            )
            return head
        return self._rest.read(n)

    def seek(self, offset: int, /) -> int:
        # gzip's reader only seeks to rewind, which the indexer never asks for.
        raise io.UnsupportedOperation("a layer stream reads forward only")


class _Capped:
    """Counts uncompressed bytes and refuses the layer once they pass the limit."""

    def __init__(self, inner: Readable, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self.count = 0

    def read(self, n: int, /) -> bytes:
        try:
            data = self._inner.read(n)
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as e:
            raise IndexingError(f"the layer's compressed stream is corrupt ({e})") from e
        self.count += len(data)
        if self.count > self._limit:
            raise IndexingError(
                f"the layer is larger than {self._limit} bytes uncompressed (a decompression bomb?)"
            )
        return data


def _read_head(stream: Readable, n: int) -> bytes:
    """Up to `n` bytes: fewer only at the end of the stream (a read may return less)."""
    first = stream.read(n)
    if len(first) == n or not first:
        return first
    parts, got = [first], len(first)
    while got < n:
        more = stream.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def decompressed(stream: Readable) -> Readable:
    """`stream` uncompressed, told by its first bytes: gzip, zstd, or plain tar."""
    head = _read_head(stream, 4)
    whole = _Prefixed(head, stream)
    if head.startswith(GZIP_MAGIC):
        # A layer of several concatenated gzip members (pigz, some registries) reads as one.
        return gzip.GzipFile(fileobj=whole, mode="rb")
    if head.startswith(ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor(max_window_size=_ZSTD_WINDOW)
        # stream_reader only ever calls read() on its source; its stubs ask for a whole IO.
        return reader.stream_reader(cast(IO[bytes], whole), read_across_frames=True)
    return whole


def clean_path(name: str) -> str:
    """An entry name made relative to the image root; absolute names and `..` are refused.

    Docker, buildah and BuildKit write relative names; an absolute one or a `..` can only come
    from an archive built to escape wherever it is unpacked, and the index says so.
    """
    if name.startswith("/"):
        raise IndexingError(f"the layer has an absolute path: {name[:200]!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise IndexingError(f"the layer has a path with '..': {name[:200]!r}")
    return "/".join(parts)


class TarWalker:
    """The entries of one uncompressed tar stream, with a way to read the current one's data."""

    def __init__(self, stream: Readable, limits: Limits) -> None:
        self._stream = _Capped(stream, limits.layer_bytes)
        self._limits = limits
        self._left = 0  # data bytes of the current entry not yet read
        self._pad = 0  # padding after them, up to the next 512-byte boundary

    @property
    def bytes_read(self) -> int:
        return self._stream.count

    def _exact(self, n: int) -> bytes:
        data = _read_head(self._stream, n)
        if len(data) < n:
            raise IndexingError("the layer's tar stream is truncated")
        return data

    def _skip(self, n: int) -> None:
        while n > 0:
            n -= len(self._exact(min(n, _CHUNK)))

    def read(self, n: int) -> bytes:
        """Up to `n` bytes of the current entry's data (fewer when it is shorter)."""
        data = self._exact(min(n, self._left))
        self._left -= len(data)
        return data

    def _finish_entry(self) -> None:
        self._skip(self._left + self._pad)
        self._left = self._pad = 0

    def _header_data(self, info: tarfile.TarInfo) -> bytes:
        if info.size > self._limits.header_bytes:
            raise IndexingError(
                f"the layer has a {info.size}-byte tar header (limit {self._limits.header_bytes})"
            )
        data = self._exact(info.size)
        self._skip(-info.size % BLOCK)
        return data

    def _next_header(self) -> tarfile.TarInfo | None:
        block = _read_head(self._stream, BLOCK)
        if not block or block == bytes(BLOCK):
            return None  # end of archive (two zero blocks, one, or none at all)
        if len(block) < BLOCK:
            raise IndexingError("the layer's tar stream is truncated")
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as e:
            raise IndexingError(f"the layer has an invalid tar header ({e})") from e
        if info.size < 0:
            # Base-256 size fields can be negative; tarfile lets them through.
            raise IndexingError(f"the layer has a tar header with a negative size: {info.name[:200]!r}")
        return info

    def __iter__(self) -> Iterator[Entry]:
        path: str | None = None
        link: str | None = None
        size: int | None = None
        while True:
            self._finish_entry()
            info = self._next_header()
            if info is None:
                return
            if info.type in _PAX_TYPES:
                fields = _pax_fields(self._header_data(info))
                if info.type != tarfile.XGLTYPE:  # global headers: read (bounded) and ignored
                    path = fields.get("path", path)
                    link = fields.get("linkpath", link)
                    size = int(fields["size"]) if fields.get("size", "").isdigit() else size
                continue
            if info.type in _LONG_TYPES:
                value = self._header_data(info).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                path, link = (value, link) if info.type == tarfile.GNUTYPE_LONGNAME else (path, value)
                continue
            if info.type == tarfile.GNUTYPE_SPARSE:
                raise IndexingError("the layer has a GNU sparse file, which image layers never hold")
            entry = self._entry(info, path, link, size)
            path = link = size = None
            if entry is not None:
                yield entry

    def _entry(
        self, info: tarfile.TarInfo, path: str | None, link: str | None, size: int | None
    ) -> Entry | None:
        length = info.size if size is None else size
        data = length if (info.type in _DATA_TYPES or info.type not in _KNOWN_TYPES) else 0
        self._left, self._pad = data, -data % BLOCK
        linkname = info.linkname if link is None else link
        if info.type == tarfile.LNKTYPE:
            linkname = clean_path(linkname)  # a hard link names an entry of the archive
        name = clean_path(info.name if path is None else path)
        if not name:
            return None  # the root directory itself
        return Entry(name, info.type, data, linkname, info.mode)


def _pax_fields(data: bytes) -> dict[str, str]:
    """The records of a pax header: "<length> <key>=<value>\\n" each."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0 or not data[pos:space].isdigit():
            if data[pos:].strip(b"\0") == b"":
                break
            raise IndexingError("the layer has a malformed pax header")
        length = int(data[pos:space])
        record = data[space + 1 : pos + length]
        if length <= space - pos or not record.endswith(b"\n") or b"=" not in record:
            raise IndexingError("the layer has a malformed pax header")
        key, _, value = record[:-1].partition(b"=")
        fields[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return fields

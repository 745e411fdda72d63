"""An image's installed packages, found by streaming its layers once, bottom layer first.

Each layer is read as a tar stream (`layers.py`): the few files that list packages are read
(capped), everything else is read through and dropped, nothing is written to disk. Whiteouts
(`.wh.<name>`, and `.wh..wh..opq` for an opaque directory) and entries that replace a directory
or a file hide what the layers below left, as an overlay mount would; they never hide what the
same layer adds. A package keeps the layer that first added it for as long as the layers above
leave it unchanged (Quay's "Introduced in layer"), even when they rewrite the database around it.
"""

from __future__ import annotations

import dataclasses
import enum
import posixpath
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Final

from wharf.secscan.errors import IndexingError
from wharf.secscan.formats import apk, dpkg, gobinary, java, npm, osrelease, python, rpm
from wharf.secscan.layers import Entry, Limits, Readable, TarWalker, clean_path, decompressed
from wharf.secscan.packages import Distribution, Package
from wharf.secscan.spool import spooled

INDEXER_VERSION: Final = 2
"""Raised whenever what an index finds changes, so that stored indexes are redone."""

WHITEOUT: Final = ".wh."
OPAQUE: Final = ".wh..wh..opq"
_OS_RELEASE_BYTES: Final = 64 * 1024


class _Cap(enum.Enum):
    DATABASE = enum.auto()  # refused when over the limit: padding must not hide packages
    METADATA = enum.auto()  # skipped with a warning when over the limit
    HEADERS = enum.auto()  # only the beginning is needed: read up to the limit


@dataclass(frozen=True, slots=True)
class _Format:
    wants: Callable[[str], bool]
    parse: Callable[[bytes, str], list[Package]]
    cap: _Cap


_FORMATS: Final = (
    _Format(dpkg.wants, dpkg.parse, _Cap.DATABASE),
    _Format(apk.wants, apk.parse, _Cap.DATABASE),
    _Format(python.wants, python.parse, _Cap.HEADERS),
    _Format(npm.wants, npm.parse, _Cap.METADATA),
)


@dataclass(frozen=True, slots=True)
class _Spooled:
    """A format read whole for random access (`spool.py`)."""

    wants: Callable[[str], bool]
    parse: Callable[[IO[bytes], int, str], list[Package]]
    database: bool
    """A database is refused when too big or corrupt (a padded or broken one must not pass for
    an image without packages); an archive is skipped with a warning."""


_SPOOLED: Final = (
    _Spooled(rpm.wants, rpm.parse, database=True),
    _Spooled(java.wants, java.parse, database=False),
)


@dataclass(frozen=True, slots=True)
class Found:
    package: Package
    layer: str
    """The digest of the layer that added it."""


@dataclass(frozen=True, slots=True)
class ImageIndex:
    distribution: Distribution | None
    packages: tuple[Found, ...]
    """Sorted by the file that lists them, then in that file's order."""
    warnings: tuple[str, ...] = ()
    """What was skipped (an oversized package.json, say); the index is still usable."""
    indexer_version: int = INDEXER_VERSION


@dataclass(slots=True)
class _File:
    """An interesting file as the layers read so far leave it."""

    packages: dict[tuple[str, str, str, str], Found] = field(default_factory=dict)
    distribution: Distribution | None = None
    link: str | None = None
    """A symbolic link's target: kept for os-release only, which is often a link."""


@dataclass(slots=True)
class _Layer:
    """What one layer does to the state below it, gathered while it streams."""

    digest: str
    written: dict[str, _File] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)


def _ancestors(path: str) -> Iterable[str]:
    parts = path.split("/")
    return ("/".join(parts[:i]) for i in range(1, len(parts)))


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top + "/")


class Indexer:
    """Feed it an image's layers bottom first with `add_layer`, then ask for the `result`."""

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits or Limits()
        self._files: dict[str, _File] = {}
        self._warnings: list[str] = []

    def add_layer(self, digest: str, stream: Readable) -> None:
        """Read one layer to its end. Raises IndexingError, naming the layer, if it is corrupt,
        hostile or over a limit; the index is then unusable."""
        # Directories that hold something found below: an entry that is not a directory at one
        # of these paths replaces the directory and everything found under it.
        holders = {d for path in self._files for d in _ancestors(path)}
        layer = _Layer(digest)
        try:
            walker = TarWalker(decompressed(stream), self._limits)
            for entry in walker:
                self._entry(layer, holders, entry, walker)
        except IndexingError as e:
            raise IndexingError(f"layer {digest}: {e.reason}") from e
        self._apply(layer)

    def _entry(self, layer: _Layer, holders: set[str], entry: Entry, walker: TarWalker) -> None:
        parent, _, base = entry.path.rpartition("/")
        if base.startswith(WHITEOUT):
            self._whiteout(layer, holders, parent, base)
            return
        if not entry.is_dir and entry.path in holders:
            layer.hidden.append(entry.path)
        if entry.type == tarfile.SYMTYPE and osrelease.wants(entry.path):
            layer.written[entry.path] = _File(link=entry.linkname)
        elif entry.type == tarfile.LNKTYPE and entry.linkname in layer.written:
            layer.written[entry.path] = _relisted(layer.written[entry.linkname], entry.path)
        elif entry.is_file:
            self._read(layer, entry, walker)
        # A file found below, replaced by something that is not read again here (a symbolic
        # link, a file over its limit): gone. One rewritten in place keeps its packages' layers.
        if entry.path in self._files and entry.path not in layer.written:
            layer.hidden.append(entry.path)

    def _whiteout(self, layer: _Layer, holders: set[str], parent: str, base: str) -> None:
        if base == OPAQUE:
            if parent in holders or not parent:
                layer.opaque.append(parent)
            return
        hidden = clean_path(posixpath.join(parent, base[len(WHITEOUT) :]))
        # Only whiteouts of something held below matter; a layer may have many others.
        if hidden in holders or hidden in self._files:
            layer.hidden.append(hidden)

    def _read(self, layer: _Layer, entry: Entry, walker: TarWalker) -> None:
        if osrelease.wants(entry.path):
            distribution = osrelease.parse(walker.read(_OS_RELEASE_BYTES))
            layer.written[entry.path] = _File(distribution=distribution)
            return
        for fmt in _FORMATS:
            if fmt.wants(entry.path):
                data = self._capped(fmt.cap, entry, walker)
                if data is not None:
                    packages = fmt.parse(data, entry.path)
                    layer.written[entry.path] = _File({p.key: Found(p, layer.digest) for p in packages})
                return
        for spooled_format in _SPOOLED:
            if spooled_format.wants(entry.path):
                self._written(layer, entry.path, self._spooled(spooled_format, entry, walker))
                return
        if entry.mode & 0o111:
            self._written(layer, entry.path, self._executable(entry, walker))

    def _written(self, layer: _Layer, path: str, packages: list[Package] | None) -> None:
        if packages is not None:
            layer.written[path] = _File({p.key: Found(p, layer.digest) for p in packages})

    def _spooled(self, fmt: _Spooled, entry: Entry, walker: TarWalker) -> list[Package] | None:
        if entry.size > self._limits.spool_bytes:
            if fmt.database:
                raise IndexingError(
                    f"{entry.path} is {entry.size} bytes, over the {self._limits.spool_bytes}-byte limit"
                )
            self._warnings.append(f"{entry.path} skipped: {entry.size} bytes, over the limit")
            return None
        with spooled(walker.read, entry.size, self._limits.memory_bytes) as file:
            try:
                return fmt.parse(file, entry.size, entry.path)
            except IndexingError as e:
                if fmt.database:
                    raise
                self._warnings.append(f"{entry.path} skipped: {e.reason}")
                return None

    def _executable(self, entry: Entry, walker: TarWalker) -> list[Package] | None:
        """A Go program's modules, from its build information; None for anything else."""
        if entry.size > self._limits.executable_bytes:
            if walker.read(len(gobinary.ELF_MAGIC)) == gobinary.ELF_MAGIC:
                self._warnings.append(f"{entry.path} not searched: {entry.size} bytes, over the limit")
            return None
        try:
            return gobinary.scan(walker.read, entry.path) or None
        except IndexingError as e:
            self._warnings.append(f"{entry.path} skipped: {e.reason}")
            return None

    def _capped(self, cap: _Cap, entry: Entry, walker: TarWalker) -> bytes | None:
        if cap is _Cap.DATABASE:
            if entry.size > self._limits.database_bytes:
                raise IndexingError(
                    f"{entry.path} is {entry.size} bytes, over the {self._limits.database_bytes}-byte limit"
                )
            return walker.read(entry.size)
        if cap is _Cap.METADATA and entry.size > self._limits.metadata_bytes:
            self._warnings.append(f"{entry.path} skipped: {entry.size} bytes, over the limit")
            return None
        return walker.read(self._limits.metadata_bytes)

    def _apply(self, layer: _Layer) -> None:
        gone = [
            path
            for path in self._files
            if any(_under(path, h) for h in layer.hidden)
            or any(not top or path.startswith(top + "/") for top in layer.opaque)
        ]
        for path in gone:
            del self._files[path]
        for path, new in layer.written.items():
            before = self._files.get(path)
            if before is not None:
                new.packages = {k: before.packages.get(k, found) for k, found in new.packages.items()}
            self._files[path] = new

    def _distribution(self) -> Distribution | None:
        etc = self._files.get(osrelease.ETC)
        if etc is not None and etc.link is not None:
            # Resolved inside the image, never on this machine: "../usr/lib/os-release" from
            # etc/, or an absolute target taken from the image root.
            target = posixpath.normpath(posixpath.join("/etc", etc.link)).lstrip("/")
            etc = self._files.get(target)
        if etc is not None and etc.distribution is not None:
            return etc.distribution
        usr = self._files.get(osrelease.USR_LIB)
        return usr.distribution if usr is not None else None

    def result(self) -> ImageIndex:
        found = tuple(f for path in sorted(self._files) for f in self._files[path].packages.values())
        return ImageIndex(self._distribution(), found, tuple(self._warnings))


def _relisted(original: _File, path: str) -> _File:
    """A hard link to a file read earlier in the same layer: the same packages, at its path."""
    return _File(
        {
            k: dataclasses.replace(f, package=dataclasses.replace(f.package, path=path))
            for k, f in original.packages.items()
        },
        original.distribution,
        original.link,
    )


def index_image(layers: Iterable[tuple[str, Readable]], limits: Limits | None = None) -> ImageIndex:
    """Index an image from its layers, bottom first, each a (digest, stream) pair."""
    indexer = Indexer(limits)
    for digest, stream in layers:
        indexer.add_layer(digest, stream)
    return indexer.result()

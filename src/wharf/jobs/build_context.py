"""Unpacking a build's input into its context directory, refusing what could leave it.

The input is a Dockerfile, or a tar (plain or gzip) or zip archive. An archive entry may not be
absolute, hold `..`, be a device or a pipe, or be a link whose target leaves the context (checked
by name, then again on the real paths once everything is written, since a link can point through
another link). The whole may not unpack to more than `max_bytes` nor hold more than `max_entries`
entries: an archive bomb stops at the limit, not when the disk is full.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import IO

_CHUNK = 1024 * 1024


class UnpackRefused(Exception):
    """The input may not be unpacked; the message says which entry and why (for the build log)."""


def kind_of(path: Path) -> str:
    """zip | tar.gz | tar | dockerfile, by the file's first bytes."""
    with path.open("rb") as f:
        head = f.read(512)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "dockerfile"


def _entry_name(name: str) -> str:
    """The entry's path inside the context; refuses absolute paths and `..`."""
    if "\x00" in name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnpackRefused(f"archive entry {name[:200]!r} has an absolute path")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnpackRefused(f"archive entry {name[:200]!r} leaves the build context (..)")
    return "/".join(parts)


class _Budget:
    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.bytes_left = max_bytes
        self.entries_left = max_entries
        self.max_bytes = max_bytes
        self.max_entries = max_entries

    def entry(self) -> None:
        self.entries_left -= 1
        if self.entries_left < 0:
            raise UnpackRefused(f"the archive holds more than {self.max_entries} entries")

    def spend(self, n: int) -> None:
        self.bytes_left -= n
        if self.bytes_left < 0:
            raise UnpackRefused(f"the archive unpacks to more than {self.max_bytes} bytes")


def _inside(root: Path, path: str) -> bool:
    real = os.path.realpath(path)
    return real == str(root) or real.startswith(str(root) + os.sep)


def _target(root: Path, name: str) -> Path:
    """Where an entry goes, its parent directories made; refuses a parent that is (or passes
    through) a link leading out of the context."""
    dest = root / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not _inside(root, str(dest.parent)):
        raise UnpackRefused(f"archive entry {name[:200]!r} is written through a link that leaves the context")
    if dest.is_symlink():
        raise UnpackRefused(f"archive entry {name[:200]!r} would be written through a link")
    return dest


def _write(src: IO[bytes], dest: Path, budget: _Budget, mode: int = 0o644) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode & 0o777 | 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(_CHUNK):
            budget.spend(len(chunk))
            out.write(chunk)


def _link_target_ok(name: str, target: str) -> bool:
    if target.startswith("/"):
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    return resolved != ".." and not resolved.startswith("../")


def _unpack_tar(archive: Path, root: Path, budget: _Budget) -> None:
    try:
        tar = tarfile.open(archive, mode="r:*")  # noqa: SIM115 (closed below)
    except tarfile.TarError as e:
        raise UnpackRefused(f"the archive cannot be read: {e}") from None
    with tar:
        try:
            for member in tar:
                budget.entry()
                name = _entry_name(member.name)
                if not name:
                    continue
                if member.isdir():
                    _target(root, name).mkdir(exist_ok=True)
                elif member.isreg():
                    budget.spend(0)
                    src = tar.extractfile(member)
                    assert src is not None
                    _write(src, _target(root, name), budget, member.mode)
                elif member.issym():
                    if not _link_target_ok(name, member.linkname):
                        raise UnpackRefused(f"archive link {name[:200]!r} points out of the build context")
                    os.symlink(member.linkname, _target(root, name))
                elif member.islnk():
                    linked = _entry_name(member.linkname)
                    source = root / linked
                    if not linked or not _inside(root, str(source)) or not source.is_file():
                        raise UnpackRefused(
                            f"archive hard link {name[:200]!r} points out of the build context"
                        )
                    shutil.copyfile(source, _target(root, name), follow_symlinks=False)
                    budget.spend(source.stat().st_size)
                else:
                    raise UnpackRefused(
                        f"archive entry {name[:200]!r} is a device, pipe or other special file"
                    )
        except (tarfile.TarError, EOFError, OSError) as e:
            raise UnpackRefused(f"the archive cannot be read: {e}") from None


def _unpack_zip(archive: Path, root: Path, budget: _Budget) -> None:
    try:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                budget.entry()
                name = _entry_name(info.filename)
                if not name:
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise UnpackRefused(
                        f"archive entry {name[:200]!r} is a link; zip archives may not hold links"
                    )
                if info.is_dir():
                    _target(root, name).mkdir(exist_ok=True)
                    continue
                with z.open(info) as src:
                    _write(src, _target(root, name), budget)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise UnpackRefused(f"the archive cannot be read: {e}") from None


def _check_links(root: Path) -> None:
    """Once all is written: every link, followed as the build would follow it, stays inside."""
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in dirnames + filenames:
            path = os.path.join(dirpath, entry)
            if os.path.islink(path) and not _inside(root, path):
                raise UnpackRefused(
                    f"archive link {os.path.relpath(path, root)!r} points out of the build context"
                )


def unpack(source: Path, root: Path, dockerfile_path: str, *, max_bytes: int, max_entries: int) -> str:
    """Unpack `source` into the (empty) directory `root`; returns the kind of input it was. A
    lone Dockerfile is written to `dockerfile_path`."""
    root = Path(os.path.realpath(root))
    budget = _Budget(max_bytes, max_entries)
    kind = kind_of(source)
    if kind == "dockerfile":
        with source.open("rb") as src:
            _write(src, _target(root, _entry_name(dockerfile_path) or "Dockerfile"), budget)
    elif kind == "zip":
        _unpack_zip(source, root, budget)
    else:
        _unpack_tar(source, root, budget)
    _check_links(root)
    return kind


def dockerfile_in(root: Path, dockerfile_path: str, context: str) -> tuple[Path, Path]:
    """(the Dockerfile, the context directory), both checked to be real paths inside `root`."""
    root = Path(os.path.realpath(root))
    dockerfile = root / (_entry_name(dockerfile_path) or "Dockerfile")
    context_dir = root / _entry_name(context) if _entry_name(context) else root
    if not _inside(root, str(context_dir)) or not context_dir.is_dir():
        raise UnpackRefused(f"the build context {context or '/'!r} is not a directory of the input")
    if not _inside(root, str(dockerfile)) or not dockerfile.is_file():
        raise UnpackRefused(f"no Dockerfile at {dockerfile_path!r} in the input")
    return dockerfile, context_dir

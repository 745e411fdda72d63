"""Tiny image layers built in memory for the indexer's tests."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

import zstandard


@dataclass(frozen=True)
class F:
    """A regular file."""

    path: str
    data: bytes | str
    mode: int = 0o644


@dataclass(frozen=True)
class D:
    path: str


@dataclass(frozen=True)
class L:
    """A symbolic link (hard=False) or a hard link."""

    path: str
    target: str
    hard: bool = False


def tar(entries: Iterable[F | D | L], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for e in entries:
            info = tarfile.TarInfo(e.path)
            if isinstance(e, F):
                data = e.data.encode() if isinstance(e.data, str) else e.data
                info.size, info.mode = len(data), e.mode
                t.addfile(info, io.BytesIO(data))
            elif isinstance(e, D):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            else:
                info.type = tarfile.LNKTYPE if e.hard else tarfile.SYMTYPE
                info.linkname = e.target
                t.addfile(info)
    return out.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def layer(entries: Iterable[F | D | L], how: str = "gzip") -> io.BytesIO:
    return io.BytesIO(compress(tar(entries), how))

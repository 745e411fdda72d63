"""An rpm header as the rpm database stores it, read into the package it describes.

Both rpmdb backends (SQLite and BerkeleyDB) keep one header blob per installed package, in the
format rpm writes after the lead of a package file, without its 8-byte magic: a big-endian count
of index entries (`il`) and of data bytes (`dl`), `il` entries of 16 bytes (tag, type, offset,
count) and then the data store. Only the few tags matching needs are decoded; every offset is
checked against the store, since the blob comes from an image anyone may push.
"""

from __future__ import annotations

import struct
from typing import Final

from wharf.secscan.errors import IndexingError
from wharf.secscan.packages import Kind, Package

# Tags (rpmtag.h) and types (RPM_*_TYPE) read here.
NAME: Final = 1000
VERSION: Final = 1001
RELEASE: Final = 1002
EPOCH: Final = 1003
ARCH: Final = 1022
SOURCERPM: Final = 1044
_INT32: Final = 4
_STRING_TYPES: Final = frozenset({6, 8, 9})  # STRING, STRING_ARRAY, I18NSTRING: the first string

_ENTRY = struct.Struct(">iIiI")
# rpm's own ceilings for a header read from a database (header.c: hdrchkTags, hdrchkData).
MAX_TAGS: Final = 0x10000
MAX_DATA: Final = 0x10000000
# Public keys imported with `rpm --import` are stored as packages named gpg-pubkey: not software.
_PSEUDO: Final = frozenset({"gpg-pubkey", "gpg-pubkey-release"})


def _tags(blob: bytes) -> dict[int, tuple[int, int]]:
    """tag -> (type, offset into the data store), for the tags wanted; raises on a bad blob."""
    if len(blob) < 8:
        raise IndexingError("an rpm header is shorter than its own preamble")
    il, dl = struct.unpack_from(">II", blob)
    if il > MAX_TAGS or dl > MAX_DATA or 8 + il * 16 + dl > len(blob):
        raise IndexingError(f"an rpm header declares {il} tags and {dl} data bytes, more than it holds")
    wanted = {}
    for i in range(il):
        tag, type_, offset, _count = _ENTRY.unpack_from(blob, 8 + i * 16)
        if tag in (NAME, VERSION, RELEASE, EPOCH, ARCH, SOURCERPM):
            if offset < 0 or offset >= dl:
                raise IndexingError(f"an rpm header's tag {tag} points outside its data")
            wanted[tag] = (type_, offset)
    return wanted


def _string(blob: bytes, store: int, end: int, entry: tuple[int, int] | None) -> str:
    if entry is None or entry[0] not in _STRING_TYPES:
        return ""
    start = store + entry[1]
    stop = blob.find(b"\0", start, end)
    if stop < 0:
        raise IndexingError("an rpm header's string runs past its data")
    return blob[start:stop].decode("utf-8", "replace")


def _int32(blob: bytes, store: int, end: int, entry: tuple[int, int] | None) -> int | None:
    if entry is None or entry[0] != _INT32:
        return None
    start = store + entry[1]
    if start + 4 > end:
        raise IndexingError("an rpm header's number runs past its data")
    value: int = struct.unpack_from(">i", blob, start)[0]
    return value


def source_name(source_rpm: str) -> str:
    """The source package's name from its file name: "openssl-3.0.7-27.el9.src.rpm" is openssl
    (name-version-release, and neither version nor release has a "-")."""
    stem = source_rpm.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
    parts = stem.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else ""


def evr(epoch: int | None, version: str, release: str) -> str:
    """rpm's EVR as advisories write it: "1:3.0.7-27.el9", without the epoch when there is none."""
    vr = f"{version}-{release}" if release else version
    return f"{epoch}:{vr}" if epoch else vr


def package(blob: bytes, path: str) -> Package | None:
    """The package a header describes; None for a public key's pseudo-package or a header
    without a name and version. Raises IndexingError for a malformed header."""
    tags = _tags(blob)
    il, dl = struct.unpack_from(">II", blob)
    store = 8 + il * 16
    end = store + dl
    name = _string(blob, store, end, tags.get(NAME))
    version = _string(blob, store, end, tags.get(VERSION))
    if not name or not version or name in _PSEUDO:
        return None
    release = _string(blob, store, end, tags.get(RELEASE))
    source = source_name(_string(blob, store, end, tags.get(SOURCERPM)))
    return Package(
        Kind.RPM,
        name,
        evr(_int32(blob, store, end, tags.get(EPOCH)), version, release),
        source_name=source if source != name else "",
        arch=_string(blob, store, end, tags.get(ARCH)),
        path=path,
    )

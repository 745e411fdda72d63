"""The values of a Berkeley DB hash database (rpm's `Packages` on RHEL/UBI 8 and older), read
page by page from a seekable file, without the Berkeley DB library.

The layout, as Berkeley DB's documentation and headers describe it: page 0 is the metadata page
(magic 0x061561 at offset 12, which also tells the byte order, the page size at 20, the last
page number at 32, an encryption flag at 24, flags at 26). Every other page starts with a 26-byte
header (its number at 8, the next page of a chain at 16, the count of entries at 20, the
free-space offset at 22, the page type at 25); when the flags say pages are checksummed, 6 more
bytes follow (2 unused, a 4-byte checksum, which is not verified: a wrong one changes nothing
here). Then come the entries' 2-byte offsets. On a hash page, entries are key/data pairs; an
item's first byte says whether its bytes follow inline (KEYDATA, its length up to the previous
item or the page's end) or live on a chain of overflow pages (OFFPAGE: first page at 4, total
length at 8, each overflow page holding its free-space-offset's worth of bytes after the
header). Buckets are not followed: every hash page is read in turn, which finds the same pairs
and cannot loop. Duplicate sets, which rpm never writes in `Packages`, are skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO, Final

from wharf.secscan.errors import IndexingError

HASH_MAGIC: Final = 0x061561
_PAGE_HEADER: Final = 26
_HASH_META: Final = 8
_HASH_PAGES: Final = frozenset({2, 13})  # P_HASH_UNSORTED (older releases) and P_HASH
_OVERFLOW: Final = 7
_KEYDATA: Final = 1
_OFFPAGE: Final = 3
_CHECKSUMMED: Final = 0x01  # DBMETA_CHKSUM: pages carry a checksum after their header
# Then two unused bytes and a 4-byte hash (the 20-byte HMAC is for encrypted files, refused).
_CHECKSUM_BYTES: Final = 6


class _Pages:
    def __init__(self, file: IO[bytes], order: str, size: int, count: int, overhead: int) -> None:
        self._file = file
        self.order = order
        self.size = size
        self.count = count
        self.overhead = overhead

    def page(self, number: int) -> bytes:
        if not 0 < number < self.count:
            raise IndexingError(f"the rpm database points at page {number}, outside the file")
        self._file.seek(number * self.size)
        data = self._file.read(self.size)
        if len(data) < self.size:
            raise IndexingError("the rpm database is truncated")
        return data

    def u16(self, page: bytes, offset: int) -> int:
        value: int = struct.unpack_from(self.order + "H", page, offset)[0]
        return value

    def u32(self, page: bytes, offset: int) -> int:
        value: int = struct.unpack_from(self.order + "I", page, offset)[0]
        return value


def _open(file: IO[bytes], file_size: int) -> _Pages:
    file.seek(0)
    meta = file.read(512)
    if len(meta) < 64:
        raise IndexingError("the rpm database is too short for a Berkeley DB file")
    order = next((o for o in "<>" if struct.unpack_from(o + "I", meta, 12)[0] == HASH_MAGIC), None)
    if order is None:
        raise IndexingError("the rpm database is not a Berkeley DB hash database")
    size = struct.unpack_from(order + "I", meta, 20)[0]
    if size < 512 or size > 65536 or size & (size - 1):
        raise IndexingError(f"the rpm database has an impossible page size ({size})")
    if meta[24] != 0:
        raise IndexingError("the rpm database is encrypted")
    if meta[25] != _HASH_META:
        raise IndexingError("the rpm database's first page is not a hash metadata page")
    overhead = _PAGE_HEADER + (_CHECKSUM_BYTES if meta[26] & _CHECKSUMMED else 0)
    # The file's length bounds the pages, whatever the metadata's last page number claims.
    return _Pages(file, order, size, file_size // size, overhead)


def _overflow(pages: _Pages, first: int, length: int, budget: int) -> bytes:
    if length > budget:
        raise IndexingError(f"the rpm database has a {length}-byte value, over the limit")
    parts: list[bytes] = []
    got, number, seen = 0, first, set()
    while got < length:
        if number in seen:
            raise IndexingError("the rpm database has a loop of overflow pages")
        seen.add(number)
        page = pages.page(number)
        if page[25] != _OVERFLOW:
            raise IndexingError("the rpm database's overflow chain leads to another kind of page")
        used = min(pages.u16(page, 22), pages.size - pages.overhead, length - got)
        parts.append(page[pages.overhead : pages.overhead + used])
        got += used
        number = pages.u32(page, 16)
        if got < length and number == 0:
            raise IndexingError("the rpm database's overflow chain ends early")
    return b"".join(parts)


def _items(pages: _Pages, page: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, item) for each entry of a hash page: its type byte and its bytes after it."""
    entries = pages.u16(page, 20)
    if pages.overhead + 2 * entries > pages.size:
        raise IndexingError("an rpm database page claims more entries than it can hold")
    end = pages.size
    for i in range(entries):
        offset = pages.u16(page, pages.overhead + 2 * i)
        if not pages.overhead + 2 * entries <= offset < end:
            raise IndexingError("an rpm database page has an entry outside its bounds")
        yield page[offset], page[offset + 1 : end]
        end = offset


def values(file: IO[bytes], file_size: int, value_bytes: int) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) pair of inline keys in a hash database file; values on overflow pages
    are gathered (each at most `value_bytes`). Raises IndexingError for a file that is not one,
    or whose pages contradict each other."""
    pages = _open(file, file_size)
    for number in range(1, pages.count):
        page = pages.page(number)
        if page[25] not in _HASH_PAGES:
            continue
        items = list(_items(pages, page))
        for (key_type, key), (data_type, data) in zip(items[::2], items[1::2], strict=False):
            if key_type != _KEYDATA:
                continue
            if data_type == _KEYDATA:
                yield key, data
            elif data_type == _OFFPAGE and len(data) >= 11:
                # HOFFPAGE: three unused bytes after the type, then page number and length.
                first, length = pages.u32(data, 3), pages.u32(data, 7)
                yield key, _overflow(pages, first, length, value_bytes)

"""Numbers in HTTP fields the distribution API reads: `Range`, `Content-Range`, `Content-Length`
and the `n` of paged listings, without I/O.

Only ASCII digits count (`str.isdigit` and the `\\d` of `re` also take '²' and '٣'), and a number
has at most 19 of them, so nothing larger than a 64-bit offset reaches `int()` (which refuses
4,300 digits and more with a ValueError) or the database. Every failure is a `RangeError`.
"""

from __future__ import annotations

import re

MAX_OFFSET = 2**63 - 1
"""The largest byte offset or count any of these fields may name (a signed 64-bit integer)."""

_COUNT = re.compile(r"[0-9]{1,19}", re.ASCII)
_RANGE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})", re.ASCII)
_CONTENT_RANGE = re.compile(r"(?:bytes )?([0-9]{1,19})-([0-9]{1,19})(?:/(?:[0-9]{1,19}|\*))?", re.ASCII)


class RangeError(ValueError):
    """The field is malformed, names a number out of bounds, or a range that cannot be served."""


def parse_count(raw: str, what: str) -> int:
    """A non-negative decimal integer of ASCII digits, at most MAX_OFFSET."""
    if _COUNT.fullmatch(raw) is None:
        raise RangeError(f"{what} must be a non-negative integer of at most 19 digits")
    value = int(raw)
    if value > MAX_OFFSET:
        raise RangeError(f"{what} is too large")
    return value


def parse_range(raw: str, size: int) -> tuple[int, int]:
    """The inclusive (start, end) a `Range: bytes=...` header asks of a blob of `size` bytes.

    One range only: `bytes=a-b`, `bytes=a-` or a suffix `bytes=-n`. A range past the end is cut at
    the end; one that starts at or after it, or is empty, cannot be served."""
    m = _RANGE.fullmatch(raw.strip())
    if m is None or (not m[1] and not m[2]):
        raise RangeError("unsupported Range")
    first, last = (int(g) if g else None for g in (m[1], m[2]))
    if first is not None:
        start = first
        end = min(last, size - 1) if last is not None else size - 1
    else:
        assert last is not None
        start, end = max(size - last, 0), size - 1
        if last == 0:
            raise RangeError("range not satisfiable")
    if start > end or start >= size:
        raise RangeError("range not satisfiable")
    return start, end


def parse_content_range(raw: str) -> tuple[int, int]:
    """(start, length) of an upload chunk's `Content-Range: [bytes ]start-end[/total]`."""
    m = _CONTENT_RANGE.fullmatch(raw.strip())
    if m is None:
        raise RangeError(f"malformed Content-Range {raw[:100]!r}")
    start, end = int(m[1]), int(m[2])
    if end < start:
        raise RangeError("Content-Range ends before it starts")
    if end > MAX_OFFSET:
        raise RangeError("Content-Range is too large")
    return start, end - start + 1

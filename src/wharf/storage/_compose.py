"""Planning how to assemble one object from byte ranges of others with an S3 multipart upload.

S3 assembles an object from parts; a part is either copied server-side from a range of another
object (UploadPartCopy) or sent by us (UploadPart). Every part but the last must hold at least
`min_part` bytes (5 MiB on AWS, SeaweedFS and Ceph RGW) and at most 10,000 parts make an object.
So a run of small ranges (a client that PATCHed 1 MiB chunks) cannot be copied: those bytes are
streamed through Wharf, just enough of them to reach `min_part`, and everything else is copied.
Pure code, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PARTS = 10_000


@dataclass(frozen=True, slots=True)
class Span:
    """Bytes [start, end) of the object `key`, whose whole size is `size`."""

    key: str
    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end == self.size


@dataclass(frozen=True, slots=True)
class Piece:
    """One part of the multipart upload: `copy` means one span copied by the server."""

    spans: tuple[Span, ...]
    copy: bool

    @property
    def length(self) -> int:
        return sum(s.length for s in self.spans)


def _split(span: Span, max_part: int) -> list[Piece]:
    """A large span as copy pieces of at most `max_part` bytes, all about the same size."""
    count = -(-span.length // max_part)
    step = -(-span.length // count)
    pieces = []
    for start in range(span.start, span.end, step):
        pieces.append(Piece((Span(span.key, start, min(start + step, span.end), span.size),), copy=True))
    return pieces


def _plan_once(spans: list[Span], min_part: int, max_part: int) -> list[Piece]:
    pieces: list[Piece] = []
    pending: list[Span] = []
    pending_size = 0

    def flush() -> None:
        nonlocal pending_size
        if pending:
            pieces.append(Piece(tuple(pending), copy=False))
            pending.clear()
            pending_size = 0

    for span in spans:
        if pending:
            need = min_part - pending_size
            if span.length - need >= min_part:
                # Top the streamed run up to min_part from this span, copy the rest of it.
                pending.append(Span(span.key, span.start, span.start + need, span.size))
                pending_size += need
                flush()
                span = Span(span.key, span.start + need, span.end, span.size)
            else:
                pending.append(span)
                pending_size += span.length
                if pending_size >= min_part:
                    flush()
                continue
        if span.length >= min_part:
            pieces.extend(_split(span, max_part))
        else:
            pending.append(span)
            pending_size = span.length
    flush()
    return pieces


def plan(spans: list[Span], min_part: int, max_part: int) -> list[Piece]:
    """Pieces that assemble `spans` in order, copying as many bytes server-side as S3 allows.

    `max_part` must be at least twice `min_part`, so a streamed run (under 2 * min_part) fits a part.
    Needing more than 10,000 parts, the smallest part size is raised until the plan fits: more
    bytes are then streamed, never a failed upload.
    """
    if max_part < 2 * min_part:
        raise ValueError("max_part must be at least twice min_part")
    spans = [s for s in spans if s.length > 0]
    total = sum(s.length for s in spans)
    while True:
        pieces = _plan_once(spans, min_part, max_part)
        if len(pieces) <= MAX_PARTS:
            return pieces
        raised = min(min_part * 2, max_part // 2)
        if raised == min_part:
            raise ValueError(f"{total} bytes cannot be assembled in {MAX_PARTS} parts")
        min_part = raised

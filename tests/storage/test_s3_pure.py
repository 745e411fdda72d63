"""The S3 driver's pure parts: the assembly plan and request signing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wharf.storage._compose import MAX_PARTS, Piece, Span, plan
from wharf.storage._sigv4 import EMPTY_SHA256, Credentials, sign

MiB = 1024 * 1024
MIN, MAX = 5 * MiB, 5 * 1024 * MiB


def _parts(sizes: list[int]) -> list[Span]:
    return [Span(f"p{i}", 0, n, n) for i, n in enumerate(sizes)]


def _layout(pieces: list[Piece]) -> list[tuple[str, int]]:
    return [("copy" if p.copy else "send", p.length) for p in pieces]


def _covers(pieces: list[Piece], spans: list[Span]) -> bool:
    """The pieces hold exactly the spans' bytes, in order."""
    merged: list[tuple[str, int, int]] = []
    for span in (s for p in pieces for s in p.spans):
        if merged and merged[-1][0] == span.key and merged[-1][2] == span.start:
            merged[-1] = (span.key, merged[-1][1], span.end)
        else:
            merged.append((span.key, span.start, span.end))
    return merged == [(s.key, s.start, s.end) for s in spans if s.length]


@pytest.mark.parametrize(
    ("sizes", "layout"),
    [
        ([12 * MiB, 6 * MiB, 8 * MiB], [("copy", 12 * MiB), ("copy", 6 * MiB), ("copy", 8 * MiB)]),
        ([6 * MiB, 1 * MiB], [("copy", 6 * MiB), ("send", 1 * MiB)]),  # the last part may be small
        ([1 * MiB, 12 * MiB, 2 * MiB, 6 * MiB], [("send", MIN), ("copy", 8 * MiB), ("send", 8 * MiB)]),
        ([1 * MiB] * 7, [("send", MIN), ("send", 2 * MiB)]),
        ([0, 6 * MiB, 0], [("copy", 6 * MiB)]),
        ([2 * MiB, 8 * MiB], [("send", MIN), ("copy", 5 * MiB)]),
        ([2 * MiB, 7 * MiB], [("send", 9 * MiB)]),  # 7 MiB less the top-up is under 5 MiB
    ],
)
def test_plan_copies_what_s3_allows(sizes: list[int], layout: list[tuple[str, int]]) -> None:
    spans = _parts(sizes)
    pieces = plan(spans, MIN, MAX)
    assert _layout(pieces) == layout
    assert _covers(pieces, spans)
    assert all(p.length >= MIN for p in pieces[:-1])


def test_plan_splits_parts_larger_than_a_copy_may_be() -> None:
    spans = _parts([11 * 1024 * MiB])
    pieces = plan(spans, MIN, MAX)
    assert [p.copy for p in pieces] == [True, True, True]
    assert max(p.length for p in pieces) <= MAX
    assert _covers(pieces, spans)


def test_plan_stays_within_ten_thousand_parts() -> None:
    spans = _parts([5 * MiB + 1] * (MAX_PARTS + 500))
    pieces = plan(spans, MIN, MAX)
    assert len(pieces) <= MAX_PARTS
    assert _covers(pieces, spans)
    with pytest.raises(ValueError):
        plan(spans, MIN, 2 * MIN)


def test_signature_matches_the_aws_documentation_example() -> None:
    """The GET Object example of the S3 SigV4 documentation ("Signature Calculations...")."""
    headers = sign(
        method="GET",
        host="examplebucket.s3.amazonaws.com",
        path="/test.txt",
        query={},
        headers={"Range": "bytes=0-9"},
        payload_sha256=EMPTY_SHA256,
        credentials=Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region="us-east-1",
        now=datetime(2013, 5, 24, tzinfo=UTC),
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )

"""Property tests: the parsers of client input raise only their own error types, whatever they get
(hypothesis, derandomized so that every run tries the same inputs)."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from tests.hostile import (
    CONTENT_RANGE_VALUES,
    CONTENT_TYPES,
    DIGITS,
    FUZZ,
    HEADER_TEXT,
    JSON,
    RANGE_VALUES,
    encode,
    manifest_bodies,
)
from wharf.oci import jsondoc, ranges
from wharf.oci.manifest import ManifestError, parse_manifest


@FUZZ
@given(manifest_bodies(), CONTENT_TYPES)
def test_parse_manifest_raises_only_manifest_error(body: bytes, content_type: str | None) -> None:
    try:
        parsed = parse_manifest(body, content_type)
    except ManifestError:
        return
    for descriptor in (*parsed.blobs, *parsed.children):
        assert 0 <= descriptor.size < 2**63 and len(descriptor.media_type) <= 255


@FUZZ
@given(st.one_of(JSON.map(encode), st.binary(max_size=100), st.text(max_size=100)))
def test_jsondoc_raises_only_json_error(data: bytes | str) -> None:
    with contextlib.suppress(jsondoc.JsonError):
        jsondoc.loads(data)


@FUZZ
@given(RANGE_VALUES, st.integers(min_value=0, max_value=2**40))
def test_parse_range_raises_only_range_error(value: str, size: int) -> None:
    try:
        start, end = ranges.parse_range(value, size)
    except ranges.RangeError:
        return
    assert 0 <= start <= end < size


@FUZZ
@given(CONTENT_RANGE_VALUES)
def test_parse_content_range_raises_only_range_error(value: str) -> None:
    try:
        start, length = ranges.parse_content_range(value)
    except ranges.RangeError:
        return
    assert start >= 0 and length >= 1 and start + length - 1 <= ranges.MAX_OFFSET


@FUZZ
@given(st.one_of(HEADER_TEXT, DIGITS, st.integers().map(str)))
def test_parse_count_raises_only_range_error(value: str) -> None:
    try:
        n = ranges.parse_count(value, "n")
    except ranges.RangeError:
        return
    assert 0 <= n <= ranges.MAX_OFFSET and value.isascii()


def test_non_ascii_digits_are_not_numbers() -> None:
    for value in ("٣", "²", "1²", "٣-٤"):
        try:
            ranges.parse_count(value, "n")
        except ranges.RangeError:
            continue
        raise AssertionError(value)

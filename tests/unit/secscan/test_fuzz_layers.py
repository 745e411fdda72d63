"""Property tests: whatever bytes a layer holds, the indexer answers an index or an
IndexingError, never another exception (hypothesis, derandomized like the other fuzz tests)."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from tests.hostile import FUZZ
from tests.unit.secscan.samples import APK_INSTALLED, DPKG_STATUS
from tests.unit.secscan.tarbuild import F, L, compress, tar
from wharf.secscan.errors import IndexingError
from wharf.secscan.indexer import index_image
from wharf.secscan.layers import Limits

GOOD = tar(
    [
        F("var/lib/dpkg/status", DPKG_STATUS),
        F("lib/apk/db/installed", APK_INSTALLED),
        L("etc/os-release", "../usr/lib/os-release"),
        F("usr/lib/os-release", "ID=debian\nVERSION_ID=12\n"),
        F("app/node_modules/lodash/package.json", '{"name": "lodash", "version": "4.17.20"}'),
        F("site/x-1.0.dist-info/METADATA", "Name: x\nVersion: 1.0\n"),
        F("var/lib/.wh.old", ""),
    ]
)
LIMITS = Limits(layer_bytes=1 << 20, header_bytes=4096, database_bytes=1 << 16, metadata_bytes=4096)


def index_or_refuse(data: bytes) -> None:
    try:
        index_image([("sha256:fuzz", io.BytesIO(data))], LIMITS)
    except IndexingError as e:
        assert e.reason


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=8),
    st.sampled_from(["gzip", "zstd", "plain"]),
)
def test_flipped_bytes(flips: list[tuple[int, int]], how: str) -> None:
    data = bytearray(GOOD)
    for at, value in flips:
        data[at] = value
    index_or_refuse(compress(bytes(data), how))


@FUZZ
@given(st.integers(0, len(GOOD)), st.sampled_from(["gzip", "zstd", "plain"]))
def test_cut_anywhere(length: int, how: str) -> None:
    whole = compress(GOOD, how)
    index_or_refuse(whole[: length * len(whole) // len(GOOD)])


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    index_or_refuse(data)


def _checksummed(block: bytearray) -> bytes:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


@FUZZ
@given(
    st.integers(0, len(GOOD) // 512 - 1),
    st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_headers_changed_with_valid_checksums(block_no: int, flips: list[tuple[int, int]]) -> None:
    # Past the checksum, into the fields themselves: sizes, types, names, base-256 numbers.
    data = bytearray(GOOD)
    block = data[block_no * 512 : (block_no + 1) * 512]
    for at, value in flips:
        if not 148 <= at < 156:
            block[at] = value
    data[block_no * 512 : (block_no + 1) * 512] = _checksummed(block)
    index_or_refuse(bytes(data))


def test_a_metadata_header_with_bytes_that_are_not_ascii() -> None:
    # Found by the test above: the email parser hands such a header back as a Header object.
    from wharf.secscan.formats import python

    found = python.parse(b"Name: caf\xe9\nVersion: 1.0\n\nbody", "site/cafe-1.0.dist-info/METADATA")
    assert [(p.name, p.version) for p in found] == [("caf\ufffd", "1.0")]

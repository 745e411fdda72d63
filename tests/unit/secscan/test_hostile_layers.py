"""Layers built to hurt: each is refused with a reason, in bounded memory, nothing unpacked."""

import gzip
import io
import tarfile
import tracemalloc
import zipfile
from collections.abc import Callable

import pytest
import zstandard

from tests.unit.secscan.tarbuild import F, L, layer, tar
from wharf.secscan.errors import IndexingError
from wharf.secscan.indexer import Indexer, index_image
from wharf.secscan.layers import Limits


def refused(data: bytes | io.BytesIO, limits: Limits | None = None) -> str:
    stream = data if isinstance(data, io.BytesIO) else io.BytesIO(data)
    with pytest.raises(IndexingError) as e:
        index_image([("sha256:bad", stream)], limits)
    assert e.value.reason.startswith("layer sha256:bad: ")
    return e.value.reason


def raw_header(name: bytes, size: int = 0, type_: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo("placeholder")
    info.size, info.type = size, type_
    block = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    block[:100] = name.ljust(100, b"\0")
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def test_absolute_path() -> None:
    data = raw_header(b"/etc/passwd") + bytes(1024)
    assert "absolute path" in refused(data)


@pytest.mark.parametrize("name", ["../etc/passwd", "usr/../../etc/shadow", "./a/b/../../../x"])
def test_dot_dot(name: str) -> None:
    assert "'..'" in refused(tar([F(name, "x")]))


def test_hard_link_out_of_the_archive() -> None:
    assert "'..'" in refused(tar([L("etc/passwd", "../../../etc/shadow", hard=True)]))


def test_symbolic_links_anywhere_are_fine() -> None:
    # Symbolic links are never followed while indexing, so their targets are no threat.
    index = index_image(
        [("sha256:a", layer([L("usr/share/zoneinfo/localtime", "/etc/../../../../etc/passwd")]))]
    )
    assert index.packages == ()


def test_huge_pax_header() -> None:
    # A pax header declaring 2 MiB of records: refused before it is read, not held in memory.
    info = tarfile.TarInfo("./PaxHeaders/x")
    info.type, info.size = tarfile.XHDTYPE, 2 << 20
    data = info.tobuf(tarfile.USTAR_FORMAT) + b"x" * (2 << 20)
    assert "2097152-byte tar header" in refused(data)


def test_long_names_within_the_limit_are_read() -> None:
    deep = "/".join(["d" * 50] * 8) + "/node_modules/left-pad/package.json"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        data = tar([F(deep, '{"name": "left-pad", "version": "1.3.0"}')], fmt)
        index = index_image([("sha256:a", io.BytesIO(data))])
        assert [f.package.path for f in index.packages] == [deep]


def test_gzip_bomb() -> None:
    # 16 MiB of zeros in a tar entry, compressed to ~16 KiB; the layer limit here is 4 MiB.
    data = gzip.compress(tar([F("zeros", bytes(16 << 20))]))
    assert len(data) < 1 << 20
    assert "larger than 4194304 bytes uncompressed" in refused(data, Limits(layer_bytes=4 << 20))


def test_zstd_bomb() -> None:
    data = zstandard.ZstdCompressor().compress(tar([F("zeros", bytes(16 << 20))]))
    assert "decompression bomb" in refused(data, Limits(layer_bytes=4 << 20))


def test_zstd_window_too_large() -> None:
    # A frame that asks for a 1 GiB window (streamed, so the size is not known up front and the
    # window is not shrunk to fit) is refused rather than given the memory.
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=30)
    out = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(out, closefd=False) as w:
        w.write(tar([F("a", "b")]))
    assert zstandard.get_frame_parameters(out.getvalue()).window_size == 1 << 30
    assert "too much memory" in refused(out.getvalue())


def test_truncated_tar() -> None:
    data = tar([F("var/lib/dpkg/status", "Package: a\nVersion: 1\n" * 100)])
    assert "truncated" in refused(data[:700])


def test_truncated_gzip() -> None:
    data = gzip.compress(tar([F("a", "x" * 100_000)]))
    assert "corrupt" in refused(data[: len(data) // 2])


def test_corrupt_gzip() -> None:
    data = bytearray(gzip.compress(tar([F("a", "x" * 100_000)])))
    data[20:40] = b"\xff" * 20
    assert "corrupt" in refused(bytes(data))


def test_bad_checksum() -> None:
    data = bytearray(tar([F("etc/os-release", "ID=debian\n")]))
    data[0] ^= 0x01
    assert "invalid tar header" in refused(bytes(data))


def test_not_a_tar_at_all() -> None:
    assert "invalid tar header" in refused(b"PK\x03\x04" + bytes(600))


def test_gnu_sparse_file() -> None:
    assert "sparse" in refused(raw_header(b"sparse", type_=tarfile.GNUTYPE_SPARSE) + bytes(1024))


def test_oversized_package_database_is_refused_not_skipped() -> None:
    # Padding dpkg's status must not hide the packages in it.
    status = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\n" + "X-Pad: " + "p" * 5000
    assert "over the 4096-byte limit" in refused(
        tar([F("var/lib/dpkg/status", status)]), Limits(database_bytes=4096)
    )


def test_oversized_package_json_is_skipped_with_a_warning() -> None:
    big = '{"name": "big", "version": "1.0.0", "readme": "' + "r" * 5000 + '"}'
    small = '{"name": "small", "version": "2.0.0"}'
    indexer = Indexer(Limits(metadata_bytes=4096))
    indexer.add_layer(
        "sha256:a",
        layer([F("node_modules/big/package.json", big), F("node_modules/small/package.json", small)]),
    )
    index = indexer.result()
    assert [f.package.name for f in index.packages] == ["small"]
    assert index.warnings == ("node_modules/big/package.json skipped: 5049 bytes, over the limit",)


def test_long_python_metadata_reads_only_its_headers() -> None:
    metadata = "Name: six\nVersion: 1.16.0\n\n" + "description " * 200_000
    indexer = Indexer(Limits(metadata_bytes=4096))
    indexer.add_layer("sha256:a", layer([F("site-packages/six-1.16.0.dist-info/METADATA", metadata)]))
    assert [(f.package.name, f.package.version) for f in indexer.result().packages] == [("six", "1.16.0")]


@pytest.mark.parametrize("how", ["gzip", "plain"])
def test_big_entries_are_streamed_through_not_held(how: str) -> None:
    stream = layer([F("opt/blob.bin", bytes(32 << 20)), F("etc/os-release", "ID=alpine\n")], how)
    tracemalloc.start()
    try:
        index = index_image([("sha256:big", stream)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert index.distribution is not None
    assert peak < 2 << 20, f"indexing a 32 MiB layer held {peak} bytes at once"


def test_negative_size() -> None:
    # A base-256 size field (first byte 0xff) that decodes to -1: it must not turn into
    # "read everything".
    block = bytearray(raw_header(b"var/lib/dpkg/status"))
    block[124:136] = b"\xff" * 12
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    assert "negative size" in refused(bytes(block) + b"Package: a\n" * 1000 + bytes(1024))


# The readers of rpm databases, Go binaries and Java archives (issue 16) --------------------------


def _peak(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_executable_is_searched_as_it_streams_by() -> None:
    # 48 MiB of ELF with nothing to find: searched chunk by chunk, never held.
    stream = layer([F("usr/bin/big", b"\x7fELF" + bytes(48 << 20), mode=0o755)])
    index: list[object] = []
    peak = _peak(lambda: index.append(index_image([("sha256:elf", stream)])))
    assert peak < 8 << 20, f"searching a 48 MiB executable held {peak} bytes at once"


def test_an_executable_bomb_is_stopped_by_the_layer_limit() -> None:
    data = gzip.compress(tar([F("usr/bin/bomb", b"\x7fELF" + bytes(16 << 20), mode=0o755)]))
    assert "decompression bomb" in refused(data, Limits(layer_bytes=4 << 20))


def test_an_rpm_database_cut_short_by_the_end_of_the_layer() -> None:
    data = tar([F("var/lib/rpm/Packages", bytes(64 << 10))])
    assert "truncated" in refused(data[: 32 << 10])


def test_an_rpm_database_held_in_a_temporary_file_is_bounded() -> None:
    # Spooled (over memory_bytes) in pieces: memory stays flat while 24 MiB are copied.
    stream = layer([F("var/lib/rpm/Packages", bytes(24 << 20))], "plain")
    limits = Limits(memory_bytes=1 << 20)

    def run() -> None:
        with pytest.raises(IndexingError, match="not a Berkeley DB hash database"):
            index_image([("sha256:rpm", stream)], limits)

    assert _peak(run) < 4 << 20


def test_rpm_databases_and_archives_behind_links_are_not_followed() -> None:
    index = index_image(
        [
            (
                "sha256:links",
                layer(
                    [
                        L("var/lib/rpm/rpmdb.sqlite", "/etc/shadow"),
                        L("var/lib/rpm/Packages", "../../../../proc/self/mem"),
                        L("opt/app.jar", "/dev/zero"),
                        L("usr/bin/go-tool", "/usr/bin/../../etc/passwd"),
                    ]
                ),
            )
        ]
    )
    assert (index.packages, index.warnings) == ((), ())


def test_a_java_archive_that_is_a_zip_bomb_of_entries() -> None:
    # Ten thousand entries all pointing at one compressed nested "jar" of 1 MiB (a "many files,
    # one body" zip, 10 GiB inflated): a body is read once (and a budget of 1 GiB inflated
    # bounds nested archives in all), and the image is still indexed.
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("lib/a.jar", bytes(1 << 20))
    raw = body.getvalue()
    central = raw.index(b"PK\x01\x02")
    end = raw.index(b"PK\x05\x06")
    entry, record = raw[central:end], bytearray(raw[end:])
    count = 10_000
    record[8:10] = record[10:12] = count.to_bytes(2, "little")
    record[12:16] = (len(entry) * count).to_bytes(4, "little")
    bomb = raw[:central] + entry * count + bytes(record)
    indexer = Indexer()
    indexer.add_layer("sha256:zip", layer([F("opt/bomb.jar", bomb)]))
    assert indexer.result().packages == ()

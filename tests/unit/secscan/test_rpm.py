"""rpm databases, SQLite (RHEL/UBI 9, Fedora) and BerkeleyDB (RHEL/UBI 8), built by rpm and
Berkeley DB themselves (`rpmdb.py`), read from layers; and the same files damaged on purpose."""

from __future__ import annotations

import gc
import io
import sqlite3
import struct
import sys
import threading
from pathlib import Path

import pytest

from tests.unit.secscan import rpmdb
from tests.unit.secscan.tarbuild import D, F, L, layer
from wharf.secscan import ecosystems
from wharf.secscan.errors import IndexingError
from wharf.secscan.formats import bdb, rpm, rpmheader
from wharf.secscan.indexer import ImageIndex, index_image
from wharf.secscan.layers import Limits
from wharf.secscan.packages import Distribution, Kind, Package
from wharf.secscan.versions import Scheme, compare, evaluate

UBI9_OS_RELEASE = (
    'NAME="Red Hat Enterprise Linux"\nVERSION="9.3 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.3"\n'
)
UBI8_OS_RELEASE = 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="8.9"\n'
FEDORA_OS_RELEASE = "NAME=Fedora\nID=fedora\nVERSION_ID=40\n"
ROCKY_OS_RELEASE = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n'


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> rpmdb.RpmDbs:
    return rpmdb.build(tmp_path_factory.mktemp("rpm"))


def found(index: ImageIndex) -> set[tuple[str, str, str]]:
    return {(f.package.name, f.package.version, f.package.source_name) for f in index.packages}


def one_layer(*entries: F | D | L, limits: Limits | None = None) -> ImageIndex:
    return index_image([("sha256:rpm", layer(list(entries)))], limits)


def test_sqlite_rpmdb_of_ubi9(dbs: rpmdb.RpmDbs) -> None:
    index = one_layer(F("etc/os-release", UBI9_OS_RELEASE), F("var/lib/rpm/rpmdb.sqlite", dbs.sqlite))
    assert found(index) == rpmdb.EXPECTED
    assert index.distribution is not None and index.distribution.id == "rhel"
    libs = next(f.package for f in index.packages if f.package.name == "openssl-libs")
    assert libs == Package(
        Kind.RPM,
        "openssl-libs",
        "1:3.0.7-27.el9",
        source_name="openssl",
        arch="noarch",
        path="var/lib/rpm/rpmdb.sqlite",
    )
    assert ecosystems.ecosystem_of(Kind.RPM, index.distribution) == "Red Hat:enterprise_linux:9"
    assert ecosystems.namespace_of(Kind.RPM, index.distribution) == "rhel:9.3"


def test_fedora_keeps_its_database_under_usr_lib_sysimage(dbs: rpmdb.RpmDbs) -> None:
    index = one_layer(
        F("etc/os-release", FEDORA_OS_RELEASE),
        D("usr/lib/sysimage/rpm"),
        F("usr/lib/sysimage/rpm/rpmdb.sqlite", dbs.sqlite),
        L("var/lib/rpm", "../../usr/lib/sysimage/rpm"),
    )
    assert found(index) == rpmdb.EXPECTED
    # Fedora publishes no OSV data: found and reported, matched against nothing.
    assert ecosystems.ecosystem_of(Kind.RPM, index.distribution) == ""
    assert ecosystems.namespace_of(Kind.RPM, index.distribution) == "fedora:40"


@pytest.mark.parametrize("which", ["berkeley", "berkeley_checksummed", "berkeley_s390x"])
def test_berkeley_db_packages_of_ubi8(dbs: rpmdb.RpmDbs, which: str) -> None:
    data: bytes = getattr(dbs, which)
    index = one_layer(F("etc/os-release", UBI8_OS_RELEASE), F("var/lib/rpm/Packages", data))
    assert found(index) == rpmdb.EXPECTED
    assert {f.package.path for f in index.packages} == {"var/lib/rpm/Packages"}


@pytest.mark.parametrize("name", ["rpmdb.sqlite", "Packages"])
def test_a_large_database_is_spooled_to_a_temporary_file(dbs: rpmdb.RpmDbs, name: str) -> None:
    data = dbs.sqlite if name == "rpmdb.sqlite" else dbs.berkeley
    limits = Limits(memory_bytes=1024)
    index = one_layer(F(f"var/lib/rpm/{name}", data), limits=limits)
    assert found(index) == rpmdb.EXPECTED


def test_a_database_over_the_spool_limit_is_refused(dbs: rpmdb.RpmDbs) -> None:
    with pytest.raises(IndexingError, match="over the 4096-byte limit"):
        one_layer(F("var/lib/rpm/rpmdb.sqlite", dbs.sqlite), limits=Limits(spool_bytes=4096))


def test_rocky_and_alma_match_source_packages_red_hat_binary_ones() -> None:
    libs = Package(Kind.RPM, "openssl-libs", "1:3.0.7-27.el9", source_name="openssl")
    rocky = Distribution("rocky", "9.3")
    assert ecosystems.ecosystem_of(Kind.RPM, rocky) == "Rocky Linux:9"
    assert ecosystems.ecosystem_of(Kind.RPM, Distribution("almalinux", "8.9")) == "AlmaLinux:8"
    assert ecosystems.ecosystem_of(Kind.RPM, Distribution("centos", "9")) == ""
    assert ecosystems.match_name(libs, "Rocky Linux:9") == "openssl"
    assert ecosystems.match_name(libs, "Red Hat:enterprise_linux:9") == "openssl-libs"
    # Red Hat's advisories come per repository of the main stream; extended streams stay apart.
    assert ecosystems.ecosystem("Red Hat:enterprise_linux:9::appstream") == "Red Hat:enterprise_linux:9"
    assert ecosystems.ecosystem("Red Hat:enterprise_linux:8::baseos") == "Red Hat:enterprise_linux:8"
    assert ecosystems.ecosystem("Red Hat:rhel_eus:9.2::baseos") == "Red Hat:rhel_eus:9.2::baseos"


# RHSA-2024:2447 (CVE-2023-5678 and others) fixed openssl in RHEL 9 at 1:3.0.7-27.el9, and Red
# Hat's OSV records write the epoch even when it is 0.
OPENSSL_RHSA = {
    "package": {"ecosystem": "Red Hat:enterprise_linux:9::baseos", "name": "openssl-libs"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]}],
}


@pytest.mark.parametrize(
    ("installed", "affected"),
    [
        ("1:3.0.7-24.el9", True),
        ("1:3.0.7-27.el9", False),
        ("1:3.0.7-27.el9_4", False),
        ("3.0.9-1.el9", True),  # no epoch is epoch 0: older than any 1:...
        ("1:3.0.7~beta-27.el9", True),  # a tilde sorts before the release
        ("1:3.0.7^20240101-1.el9", False),  # a caret sorts after it
    ],
)
def test_rpm_evr_ranges(installed: str, affected: bool) -> None:
    assert evaluate(Scheme.RPM, installed, OPENSSL_RHSA).affected is affected


def test_rpm_evr_zero_epoch_is_no_epoch() -> None:
    assert compare(Scheme.RPM, "0:1.0-1", "1.0-1") == 0
    assert compare(Scheme.RPM, "1.0~rc1^git1-1", "1.0~rc1-1") == 1
    assert compare(Scheme.RPM, "1.0~rc1^git1-1", "1.0-1") == -1


# Damaged databases -------------------------------------------------------------------------------


def refused(path: str, data: bytes) -> str:
    with pytest.raises(IndexingError) as e:
        one_layer(F(path, data))
    return e.value.reason


def test_not_an_sqlite_file() -> None:
    assert "not an SQLite database" in refused("var/lib/rpm/rpmdb.sqlite", b"\0" * 4096)


def _sqlite_file(tmp_path: Path, schema: str) -> bytes:
    with sqlite3.connect(tmp_path / "x.sqlite") as conn:
        conn.executescript(schema)
    conn.close()
    return (tmp_path / "x.sqlite").read_bytes()


def test_an_sqlite_file_with_packages_as_a_view(tmp_path: Path) -> None:
    # A view whose query never ends: refused before it is run.
    data = _sqlite_file(
        tmp_path,
        "CREATE VIEW Packages AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)"
        " SELECT i AS hnum, zeroblob(10) AS blob FROM n;",
    )
    assert "has no Packages table" in refused("var/lib/rpm/rpmdb.sqlite", data)


def test_an_sqlite_file_with_a_bad_header_blob(tmp_path: Path) -> None:
    data = _sqlite_file(
        tmp_path,
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL);"
        "INSERT INTO Packages VALUES (1, x'7fffffff00000010');",
    )
    assert "declares 2147483647 tags" in refused("var/lib/rpm/rpmdb.sqlite", data)


def test_a_refused_database_is_closed_by_the_thread_that_read_it(tmp_path: Path) -> None:
    # Scans read layers in worker threads; a reader left open would be closed by whichever thread
    # collects it, which sqlite3 refuses with an error that surfaces nowhere useful.
    data = _sqlite_file(
        tmp_path,
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL);"
        "INSERT INTO Packages VALUES (1, x'7fffffff00000010');",
    )
    reasons: list[str] = []
    reader = threading.Thread(target=lambda: reasons.append(refused("var/lib/rpm/rpmdb.sqlite", data)))
    reader.start()
    reader.join()
    unraisable: list[object] = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert reasons and "declares 2147483647 tags" in reasons[0]
    assert unraisable == []


def test_an_sqlite_file_whose_blobs_are_generated_gigabytes(tmp_path: Path) -> None:
    data = _sqlite_file(
        tmp_path,
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB GENERATED ALWAYS AS (zeroblob(1)));"
        "INSERT INTO Packages (hnum) VALUES (1);"
        # Made a gigabyte afterwards, by rewriting the schema: SQLite would not insert it.
        "PRAGMA writable_schema = ON;"
        "UPDATE sqlite_master SET sql = replace(sql, 'zeroblob(1)', 'zeroblob(1 << 30)');",
    )
    assert "too big" in refused("var/lib/rpm/rpmdb.sqlite", data)


def test_a_truncated_sqlite_file(dbs: rpmdb.RpmDbs) -> None:
    reason = refused("var/lib/rpm/rpmdb.sqlite", dbs.sqlite[: len(dbs.sqlite) // 3])
    assert "rpmdb.sqlite" in reason


def _pages(data: bytes) -> tuple[int, list[int]]:
    size = struct.unpack_from("<I", data, 20)[0]
    overflow = [n for n in range(1, len(data) // size) if data[n * size + 25] == 7]
    return size, overflow


def test_berkeley_overflow_chain_looping_on_itself(dbs: rpmdb.RpmDbs) -> None:
    data = bytearray(dbs.berkeley)
    size, overflow = _pages(bytes(data))
    assert overflow, "the long description needs overflow pages"
    page = overflow[0]
    struct.pack_into("<I", data, page * size + 16, page)  # next page: itself
    struct.pack_into("<H", data, page * size + 22, 1)  # a byte per page: the loop is found, not run
    assert "loop of overflow pages" in refused("var/lib/rpm/Packages", bytes(data))


def test_berkeley_page_pointer_outside_the_file(dbs: rpmdb.RpmDbs) -> None:
    data = bytearray(dbs.berkeley)
    size, overflow = _pages(bytes(data))
    struct.pack_into("<I", data, overflow[0] * size + 16, 1 << 30)
    struct.pack_into("<H", data, overflow[0] * size + 22, 1)
    assert "outside the file" in refused("var/lib/rpm/Packages", bytes(data))


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (12, b"\0\0\0\0", "not a Berkeley DB hash database"),
        (20, struct.pack("<I", 4097), "impossible page size"),
        (24, b"\x01", "encrypted"),
    ],
)
def test_berkeley_metadata(dbs: rpmdb.RpmDbs, offset: int, value: bytes, reason: str) -> None:
    data = bytearray(dbs.berkeley)
    data[offset : offset + len(value)] = value
    assert reason in refused("var/lib/rpm/Packages", bytes(data))


def test_berkeley_value_claiming_gigabytes() -> None:
    # A hand-made hash page whose one value claims 2 GiB on overflow pages: refused at once.
    size = 512
    meta = bytearray(size)
    struct.pack_into("<IIB", meta, 12, bdb.HASH_MAGIC, 9, 0)
    struct.pack_into("<I", meta, 20, size)
    meta[25] = 8
    page = bytearray(size)
    page[25] = 13
    key, data = b"\x01" + struct.pack("<I", 1), b"\x03\0\0\0" + struct.pack("<II", 2, 2 << 30)
    struct.pack_into("<H", page, 20, 2)
    struct.pack_into("<HH", page, 26, size - len(key), size - len(key) - len(data))
    page[size - len(key) :] = key
    page[size - len(key) - len(data) : size - len(key)] = data
    reason = refused("var/lib/rpm/Packages", bytes(meta + page + bytes(size)))
    assert "value, over the limit" in reason


def test_header_offsets_outside_the_data() -> None:
    blob = struct.pack(">II", 1, 4) + struct.pack(">iIiI", rpmheader.NAME, 6, 100, 1) + b"abc\0"
    with pytest.raises(IndexingError, match="points outside its data"):
        rpmheader.package(blob, "x")
    unterminated = struct.pack(">II", 1, 4) + struct.pack(">iIiI", rpmheader.NAME, 6, 0, 1) + b"abcd"
    with pytest.raises(IndexingError, match="runs past its data"):
        rpmheader.package(unterminated, "x")


def test_public_keys_are_not_packages() -> None:
    data = b"gpg-pubkey\0" + b"fd431d51\0"
    entries = struct.pack(">iIiI", rpmheader.NAME, 6, 0, 1)
    entries += struct.pack(">iIiI", rpmheader.VERSION, 6, 11, 1)
    assert rpmheader.package(struct.pack(">II", 2, len(data)) + entries + data, "x") is None


def test_wants() -> None:
    assert rpm.wants("var/lib/rpm/rpmdb.sqlite")
    assert rpm.wants("usr/lib/sysimage/rpm/Packages")
    assert not rpm.wants("var/lib/rpm/Name")
    assert not rpm.wants("home/me/var/lib/rpm/Packages")
    assert rpmheader.source_name("openssl-3.0.7-27.el9.src.rpm") == "openssl"
    assert rpmheader.source_name("python3.11-3.11.5-1.el9_3.nosrc.rpm") == "python3.11"
    assert rpmheader.source_name("") == ""


def test_memory_copy_keeps_the_file_unchanged(dbs: rpmdb.RpmDbs) -> None:
    # The WAL-mode flag is only changed in the copy handed to SQLite.
    stream = io.BytesIO(dbs.sqlite)
    assert len(rpm.parse(stream, len(dbs.sqlite), "var/lib/rpm/rpmdb.sqlite")) == len(rpmdb.EXPECTED)
    assert stream.getvalue() == dbs.sqlite

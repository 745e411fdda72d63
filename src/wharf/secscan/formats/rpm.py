"""rpm's database: `rpmdb.sqlite` (RHEL/UBI 9, Fedora 33 and later) and the Berkeley DB
`Packages` (RHEL/UBI 8, CentOS 7 and 8), under `var/lib/rpm/` or `usr/lib/sysimage/rpm/` (Fedora
36 moved it there and left /var/lib/rpm a symbolic link). Both hold one header blob per
installed package (`rpmheader.py`).

Both are random-access files, so the indexer hands them over whole (in memory, or in a temporary
file when large: `spool.py`). The SQLite file is opened read-only and immutable, with a budget
of virtual-machine steps and `Packages` checked to be a plain table: an image is untrusted, and a
crafted schema could otherwise turn one query into endless work (SQLite's advice for untrusted
database files).
"""

from __future__ import annotations

import contextlib
import io
import sqlite3
import urllib.parse
from collections.abc import Generator
from typing import IO, Final

from wharf.secscan.errors import IndexingError
from wharf.secscan.formats import bdb, rpmheader
from wharf.secscan.packages import Package

DIRECTORIES: Final = ("var/lib/rpm/", "usr/lib/sysimage/rpm/")
SQLITE: Final = "rpmdb.sqlite"
BERKELEY: Final = "Packages"
# `SELECT blob FROM Packages` takes tens of virtual-machine steps a row: fifty million stop a
# crafted file (or an absurd one) long before it costs real time, and no real database.
_STEPS_PER_CHECK: Final = 10_000
_MAX_CHECKS: Final = 5_000
# The largest string or blob SQLite may make: a real header is at most a few MiB (a kernel's file
# list), and a schema may define `blob` as a generated column of any size.
_VALUE_BYTES: Final = 64 << 20
_SQLITE_MAGIC: Final = b"SQLite format 3\0"


def wants(path: str) -> bool:
    directory, _, name = path.rpartition("/")
    return directory + "/" in DIRECTORIES and name in (SQLITE, BERKELEY)


def parse(file: IO[bytes], size: int, path: str) -> list[Package]:
    """The packages of a database file of `size` bytes. Raises IndexingError when it is corrupt
    or not the format its name says."""
    packages = []
    # Closed here, in this thread, even when a header is refused half-way: left to the garbage
    # collector, the SQLite reader would close its connection from whichever thread collects it,
    # which sqlite3 refuses (an error nobody can catch).
    with contextlib.closing(
        _sqlite_blobs(file, path) if path.endswith(SQLITE) else _berkeley_blobs(file, size)
    ) as blobs:
        for blob in blobs:
            found = rpmheader.package(blob, path)
            if found is not None:
                packages.append(found)
    return packages


def _berkeley_blobs(file: IO[bytes], size: int) -> Generator[bytes, None, None]:
    for key, value in bdb.values(file, size, rpmheader.MAX_DATA):
        # Record 0 is rpm's counter of header numbers (four bytes), not a header.
        if key.strip(b"\0"):
            yield value


def _connect(file: IO[bytes], path: str) -> sqlite3.Connection:
    if isinstance(file, io.BytesIO):
        with file.getbuffer() as view:
            data = bytearray(view)  # one copy, patched below (SQLite then makes its own)
        if not data.startswith(_SQLITE_MAGIC):
            raise IndexingError(f"{path} is not an SQLite database")
        # rpm leaves its database in WAL mode (bytes 18-19 are 2); an in-memory copy cannot have
        # a WAL, so it is read as a rollback-journal database, which the pages are the same for.
        data[18:20] = b"\x01\x01"
        db = sqlite3.connect(":memory:")
        db.deserialize(data)
        return db
    file.seek(0)
    if file.read(16) != _SQLITE_MAGIC:
        raise IndexingError(f"{path} is not an SQLite database")
    name = getattr(file, "name", None)
    if not isinstance(name, str):
        raise IndexingError(f"{path} could not be opened")
    return sqlite3.connect(f"file:{urllib.parse.quote(name)}?mode=ro&immutable=1", uri=True)


def _sqlite_blobs(file: IO[bytes], path: str) -> Generator[bytes, None, None]:
    steps = 0

    def budget() -> int:
        nonlocal steps
        steps += 1
        return 1 if steps > _MAX_CHECKS else 0  # non-zero aborts the statement

    try:
        db = _connect(file, path)
    except sqlite3.Error as e:
        raise IndexingError(f"{path} is not a readable SQLite database ({e})") from e
    try:
        db.set_progress_handler(budget, _STEPS_PER_CHECK)
        db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _VALUE_BYTES)
        db.execute("PRAGMA trusted_schema = OFF")
        kind = db.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
        if kind is None or kind[0] != "table":
            raise IndexingError(f"{path} has no Packages table")
        # Row by row: a large database spooled to a file is never all in memory at once.
        for row in db.execute("SELECT blob FROM Packages"):
            if isinstance(row[0], bytes):
                yield row[0]
    except sqlite3.Error as e:
        raise IndexingError(f"{path} could not be read ({e})") from e
    finally:
        db.close()

"""Real rpm databases for the tests, made by the tools that make them on a RHEL system.

`rpmbuild` builds a few tiny packages (one with an epoch, a tilde and a caret in its version, a
subpackage whose source rpm has another name, one with a long description so that its header
needs Berkeley DB overflow pages), `rpm --justdb` installs them into an SQLite rpmdb (Debian's
rpm writes only SQLite: `rpm --showrc` lists `sqlite bdb_ro dummy`), and the BerkeleyDB
`Packages` of RHEL 8 is made from the same header blobs by Berkeley DB's own `db5.3_load`, with
rpm's own read-only BerkeleyDB backend checking that it reads it. Tests skip when the tools are
missing (`scripts/install-system-deps` installs them).
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS = ("rpm", "rpmbuild", "db5.3_load")

SPECS = {
    "openssl": """
Name: openssl
Version: 3.0.7
Release: 27.el9
Epoch: 1
Summary: openssl
License: ASL 2.0
BuildArch: noarch
%description
Secure sockets.
%package libs
Summary: libs
%description libs
The libraries.
%files
%files libs
""",
    "tilde": """
Name: tilde
Version: 2.0~rc1^git20240101
Release: 1.fc40
Summary: tilde
License: MIT
BuildArch: noarch
%description
A pre-release with a snapshot suffix.
%files
""",
    "bigdesc": """
Name: bigdesc
Version: 1.0
Release: 1
Summary: bigdesc
License: MIT
BuildArch: noarch
%description
"""
    + ("A description long enough to need overflow pages. " * 200)
    + "\n%files\n",
}

EXPECTED = {
    ("openssl", "1:3.0.7-27.el9", ""),
    ("openssl-libs", "1:3.0.7-27.el9", "openssl"),
    ("tilde", "2.0~rc1^git20240101-1.fc40", ""),
    ("bigdesc", "1.0-1", ""),
}


@dataclass(frozen=True)
class RpmDbs:
    sqlite: bytes
    berkeley: bytes
    berkeley_checksummed: bytes
    """With Berkeley DB's page checksums on (6 more bytes in each page's header)."""
    berkeley_s390x: bytes
    """The same database big-endian (as RHEL on s390x writes it) with 512-byte pages, so that
    every header spans a chain of overflow pages."""


def _run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def _berkeley(
    blobs: list[tuple[int, bytes]], where: Path, page_size: int, order: str = "1234", checksums: bool = False
) -> bytes:
    """A hash database of rpm's layout: header number (native order) -> header blob, and the
    counter record 0, loaded by Berkeley DB from its dump format."""
    lines = ["VERSION=3", "format=bytevalue", "type=hash", f"db_pagesize={page_size}"]
    lines += [f"db_lorder={order}", "HEADER=END"]
    lines += [" " + struct.pack("<I", 0).hex(), " " + struct.pack("<I", len(blobs) + 1).hex()]
    for number, blob in blobs:
        lines += [" " + struct.pack("<I", number).hex(), " " + blob.hex()]
    lines.append("DATA=END")
    where.mkdir()
    (where / "dump.txt").write_text("\n".join(lines) + "\n")
    _run(
        "db5.3_load", *(["-c", "chksum=1"] if checksums else []), "-f", where / "dump.txt", where / "Packages"
    )
    (where / "dump.txt").unlink()
    if checksums:
        # rpm's own read-only backend does not read checksummed pages; Berkeley DB made it.
        return (where / "Packages").read_bytes()
    listed = _run("rpm", "--dbpath", where, "--define", "_db_backend bdb_ro", "-qa", "--qf", "%{NAME}\\n")
    assert set(listed.split()) == {name for name, _, _ in EXPECTED}, listed
    return (where / "Packages").read_bytes()


def build(tmp: Path) -> RpmDbs:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/install-system-deps)")
    top, db = tmp / "top", tmp / "db"
    for name, spec in SPECS.items():
        (tmp / f"{name}.spec").write_text(spec)
        _run("rpmbuild", "-bb", "--define", f"_topdir {top}", tmp / f"{name}.spec")
    _run("rpm", "--dbpath", db, "--initdb")
    rpms = sorted((top / "RPMS").rglob("*.rpm"))
    _run("rpm", "--dbpath", db, "-i", "--justdb", "--nodeps", "--noscripts", "--nosignature", *rpms)
    with sqlite3.connect(db / "rpmdb.sqlite") as conn:
        blobs = [(int(n), bytes(b)) for n, b in conn.execute("SELECT hnum, blob FROM Packages")]
    conn.close()
    return RpmDbs(
        sqlite=(db / "rpmdb.sqlite").read_bytes(),
        berkeley=_berkeley(blobs, tmp / "bdb4096", 4096),
        berkeley_checksummed=_berkeley(blobs, tmp / "bdbsum", 4096, checksums=True),
        berkeley_s390x=_berkeley(blobs, tmp / "bdb512", 512, "4321"),
    )

"""Installed Python distributions: `*.dist-info/METADATA` (wheels, pip) and `*.egg-info/PKG-INFO`
or a bare `*.egg-info` file (setuptools, distribution packages). Only the headers are read."""

from __future__ import annotations

from email.parser import BytesHeaderParser

from wharf.secscan.packages import Kind, Package


def wants(path: str) -> bool:
    parent, _, name = path.rpartition("/")
    return (
        (name == "METADATA" and parent.endswith(".dist-info"))
        or (name == "PKG-INFO" and parent.endswith(".egg-info"))
        or name.endswith(".egg-info")
    )


def parse(data: bytes, path: str) -> list[Package]:
    # The headers end at the first blank line; the description after it may be long and is not
    # needed, which is why the indexer may hand over only the file's beginning.
    headers = BytesHeaderParser().parsebytes(data.split(b"\n\n", 1)[0])
    # A header holding bytes that are not ASCII comes back as an email.header.Header, not a str.
    name, version = str(headers.get("Name") or "").strip(), str(headers.get("Version") or "").strip()
    if not name or not version:
        return []
    return [Package(Kind.PYTHON, name, version, path=path)]

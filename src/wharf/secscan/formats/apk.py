"""apk's database, `/lib/apk/db/installed`: a paragraph per package, one-letter keys
(`P:` name, `V:` version, `A:` architecture, `o:` origin, the source package)."""

from __future__ import annotations

from wharf.secscan.formats._stanzas import paragraphs
from wharf.secscan.packages import Kind, Package

INSTALLED = "lib/apk/db/installed"


def wants(path: str) -> bool:
    return path == INSTALLED


def parse(data: bytes, path: str) -> list[Package]:
    packages = []
    for lines in paragraphs(data.decode("utf-8", "replace")):
        fields: dict[str, str] = {}
        for line in lines:
            key, sep, value = line.partition(":")
            # Only the first occurrence of a key counts: file entries (F:, R:, Z:) repeat.
            if sep and len(key) == 1 and key not in fields:
                fields[key] = value.strip()
        name, version = fields.get("P", ""), fields.get("V", "")
        if name and version:
            origin = fields.get("o", "")
            packages.append(
                Package(
                    Kind.APK,
                    name,
                    version,
                    source_name=origin if origin != name else "",
                    arch=fields.get("A", ""),
                    path=path,
                )
            )
    return packages

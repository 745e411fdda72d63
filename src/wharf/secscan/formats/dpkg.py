"""dpkg's database: `/var/lib/dpkg/status`, and distroless images' `/var/lib/dpkg/status.d/*`
(one control paragraph per file, without a `Status` field)."""

from __future__ import annotations

import re

from wharf.secscan.formats._stanzas import paragraphs
from wharf.secscan.packages import Kind, Package

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"

# The package's files are on disk in these states (dpkg(1), "Package states"); `config-files`
# and `not-installed` leave only configuration, nothing a vulnerability could live in.
_PRESENT = frozenset({"installed", "half-configured", "triggers-awaited", "triggers-pending", "unpacked"})
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")


def wants(path: str) -> bool:
    if path == STATUS:
        return True
    # status.d holds one file per package, and beside them distroless writes `<name>.md5sums`.
    return path.startswith(STATUS_D) and "/" not in path[len(STATUS_D) :] and not path.endswith(".md5sums")


def _fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in lines:
        if line[0] in " \t":
            continue  # a continuation line (Description, Conffiles): nothing matching needs
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields


def parse(data: bytes, path: str) -> list[Package]:
    packages = []
    for lines in paragraphs(data.decode("utf-8", "replace")):
        fields = _fields(lines)
        name, version = fields.get("package", ""), fields.get("version", "")
        # status.d paragraphs have no Status: everything listed there is installed.
        state = (fields.get("status") or "installed").split()[-1:]
        if not name or not version or not state or state[0] not in _PRESENT:
            continue
        source = _SOURCE.match(fields.get("source", ""))
        source_name = source["name"] if source else ""
        source_version = (source["version"] or "") if source else ""
        packages.append(
            Package(
                Kind.DPKG,
                name,
                version,
                source_name=source_name if source_name != name else "",
                source_version=source_version if source_version != version else "",
                arch=fields.get("architecture", ""),
                path=path,
            )
        )
    return packages

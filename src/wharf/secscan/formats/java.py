"""Java archives (`.jar`, `.war`, `.ear`): the `META-INF/maven/<group>/<artifact>/pom.properties`
that Maven (and Gradle's Maven publishing) writes into every artifact it builds, naming its
`groupId`, `artifactId` and `version`. A shaded archive holds one for each artifact folded into
it, and each is reported: its code is there.

Archives inside the archive (a Spring Boot `BOOT-INF/lib/*.jar`, a web application's
`WEB-INF/lib/*.jar`, an enterprise archive's modules) are read one level deep, each in memory
and capped, with a budget for all of them together: an archive is untrusted, and a zip can claim
any size and point many entries at the same compressed bytes. Nothing is extracted; an archive
without `pom.properties` (built by other tools) is not reported.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Final

from wharf.secscan.errors import IndexingError
from wharf.secscan.packages import Kind, Package

ARCHIVES: Final = (".jar", ".war", ".ear")
POM_PROPERTIES = re.compile(r"^META-INF/maven/[^/]+/[^/]+/pom\.properties$")
MAX_MEMBERS: Final = 100_000
"""Entries an archive may list; real ones have thousands (a large fat jar tens of thousands)."""
PROPERTIES_BYTES: Final = 64 * 1024
NESTED_BYTES: Final = 64 << 20
"""The most an archive inside the archive may be (uncompressed), read into memory."""
NESTED_TOTAL: Final = 1 << 30
"""Uncompressed bytes of all nested archives of one archive together."""
_PIECE: Final = 1 << 20
_ZIP_ERRORS: Final = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    RuntimeError,  # an encrypted member
    NotImplementedError,  # a compression method Python does not read
    ValueError,
    zlib.error,
)


def wants(path: str) -> bool:
    return path.lower().endswith(ARCHIVES)


def _properties(data: bytes) -> dict[str, str]:
    """A Java properties file's simple `key=value` (or `key: value`) lines; comments dropped."""
    fields: dict[str, str] = {}
    for raw in data.decode("latin-1").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut > 0:
            fields[line[:cut].strip()] = line[cut + 1 :].strip()
    return fields


def _members(archive: zipfile.ZipFile, limit: int) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > limit:
        raise IndexingError(f"the archive lists {len(members)} entries (limit {limit})")
    return members


def _read(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes | None:
    """A member's bytes, or None when it is (or decompresses to) more than `limit`: the size a
    zip declares is not trusted, the read itself is capped."""
    if member.file_size > limit:
        return None
    data = bytearray()
    with archive.open(member) as f:
        # In pieces: zipfile decompresses as much as one read asks for before it cuts the result
        # to the declared size, so one big read of a lying member would inflate it all first.
        while len(data) <= limit and (piece := f.read(min(_PIECE, limit + 1 - len(data)))):
            data += piece
    return bytes(data) if len(data) <= limit else None


def _artifacts(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], path: str) -> Iterator[Package]:
    for member in members:
        if not POM_PROPERTIES.match(member.filename):
            continue
        data = _read(archive, member, PROPERTIES_BYTES)
        fields = _properties(data) if data is not None else {}
        group, artifact, version = (fields.get(k, "") for k in ("groupId", "artifactId", "version"))
        if group and artifact and version:
            yield Package(Kind.MAVEN, f"{group}:{artifact}", version, path=path)


def _nested(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], path: str, max_members: int
) -> Iterator[Package]:
    budget = NESTED_TOTAL
    seen: set[int] = set()
    for member in members:
        # Entries sharing one body (a zip bomb's "many files, one body") are read once.
        if not wants(member.filename) or member.is_dir() or budget <= 0 or member.header_offset in seen:
            continue
        seen.add(member.header_offset)
        try:
            data = _read(archive, member, min(NESTED_BYTES, budget))
            if data is None:
                continue
            budget -= len(data)
            inner = zipfile.ZipFile(io.BytesIO(data))
            # "outer.jar!/inner.jar", as Java names a nested archive's entries.
            yield from _artifacts(inner, _members(inner, max_members), f"{path}!/{member.filename}")
        except (*_ZIP_ERRORS, IndexingError):
            continue  # a broken archive inside an archive: the outer one's findings stand


def parse(file: IO[bytes], size: int, path: str, max_members: int = MAX_MEMBERS) -> list[Package]:
    """The artifacts an archive (and the archives directly inside it) declare. Raises
    IndexingError when it is not a readable zip, or lists more than `max_members` entries (a
    parameter so that a test need not build an archive of the real limit's size)."""
    try:
        archive = zipfile.ZipFile(file)
        members = _members(archive, max_members)
        found = list(_artifacts(archive, members, path))
        found += _nested(archive, members, path, max_members)
    except _ZIP_ERRORS as e:
        raise IndexingError(f"not a readable zip archive ({type(e).__name__}: {e})") from e
    return list({p.key: p for p in found}.values())

"""Go programs: the build information the Go toolchain (1.18 and later) embeds in every binary,
which names the Go release, the main module and every module linked in, with their versions.

It lives in the `.go.buildinfo` section: a 32-byte header starting with the magic
"\\xff Go buildinf:" on a 16-byte boundary (the pointer size at 14, flags at 15; flag 2 says the
strings follow inline), then two strings each preceded by its length as a varint: the Go version
("go1.22.3") and the module information, lines of tab-separated fields ("mod", "dep" and "=>" for
a replacement), wrapped in 16 bytes of sentinel at each end. The section's place is told by the
section headers at the file's end, which a stream reaches last; so the executable is streamed
and searched for the magic instead, in bounded memory, and a candidate that does not decode (the
same bytes as a string constant, say) is passed over. Binaries of Go before 1.18 point at their
strings through the data segment instead: not read (their modules are not reported).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from wharf.secscan.packages import Kind, Package

ELF_MAGIC: Final = b"\x7fELF"
MAGIC: Final = b"\xff Go buildinf:"
_HEADER: Final = 32
_INLINE: Final = 0x2
_CHUNK: Final = 1 << 20
INFO_BYTES: Final = 1 << 20
"""The most read after the magic: a large program's module list is tens of KiB."""
_SENTINEL: Final = 16
_GO_VERSION = re.compile(r"^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?$")
_DEVEL: Final = "(devel)"
STDLIB: Final = "stdlib"
"""The name the Go vulnerability database gives the standard library and toolchain."""


def _uvarint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7
    return None


def _strings(blob: bytes) -> tuple[str, str] | None:
    """(Go version, module information) from a candidate starting at the magic, or None."""
    if len(blob) < _HEADER or blob[14] not in (4, 8) or not blob[15] & _INLINE:
        return None
    found: list[str] = []
    pos = _HEADER
    for _ in range(2):
        length = _uvarint(blob, pos)
        if length is None or length[1] + length[0] > len(blob):
            return None
        size, pos = length
        found.append(blob[pos : pos + size].decode("utf-8", "replace"))
        pos += size
    version, modinfo = found
    if not version.startswith("go"):
        return None
    if len(modinfo) >= 2 * _SENTINEL + 1 and modinfo[-_SENTINEL - 1] == "\n":
        modinfo = modinfo[_SENTINEL:-_SENTINEL]
    return version, modinfo


def stdlib_version(go: str) -> str:
    """A Go release as the vulnerability database writes versions: "go1.21.5" is v1.21.5, "go1.21"
    is v1.21.0, "go1.22rc2" is v1.22.0-rc.2; "" for a development toolchain ("devel ...")."""
    m = _GO_VERSION.match(go.split()[0] if go.split() else "")
    if m is None:
        return ""
    major, minor, patch, pre, number = m.groups()
    version = f"v{major}.{minor}.{patch or 0}"
    return f"{version}-{pre}.{number}" if pre else version


def modules(go_version: str, modinfo: str, path: str) -> list[Package]:
    """The standard library at the Go version, the main module and each dependency (as its
    replacement names it, when that is another module version; a local directory replacing it
    leaves the original's name and version)."""
    found: list[list[str]] = []
    for line in modinfo.splitlines():
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 3:
            found.append(fields[1:3])
        elif fields[0] == "=>" and len(fields) >= 3 and found and fields[2] not in ("", _DEVEL):
            found[-1] = fields[1:3]
    packages = []
    stdlib = stdlib_version(go_version)
    if stdlib:
        packages.append(Package(Kind.GO, STDLIB, stdlib, path=path))
    for name, version in found:
        # "(devel)": the main module built from a checkout, with no version to match.
        if name and version and version != _DEVEL:
            packages.append(Package(Kind.GO, name, version, path=path))
    return packages


def _read_up_to(read: Callable[[int], bytes], n: int) -> bytes:
    """`n` bytes, fewer only at the end: a reader may hand out less than asked."""
    out = bytearray()
    while len(out) < n and (more := read(n - len(out))):
        out += more
    return bytes(out)


def scan(read: Callable[[int], bytes], path: str) -> list[Package]:
    """Read an executable to its end (or to its build information) through `read(n)`; its
    modules if it is a Go program, [] for anything else."""
    if _read_up_to(read, len(ELF_MAGIC)) != ELF_MAGIC:
        return []
    window = bytearray()
    start = len(ELF_MAGIC)  # the file offset of window[0]
    while chunk := read(_CHUNK):
        window += chunk
        pos = window.find(MAGIC)
        while pos >= 0:
            if (start + pos) % 16 == 0:
                wanted = pos + _HEADER + INFO_BYTES - len(window)
                window += _read_up_to(read, max(0, wanted))
                decoded = _strings(bytes(window[pos : pos + _HEADER + INFO_BYTES]))
                if decoded is not None:
                    return modules(*decoded, path)
            pos = window.find(MAGIC, pos + 1)
        # Keep what could be the beginning of a magic cut by the chunk's end.
        keep = min(len(MAGIC) - 1, len(window))
        start += len(window) - keep
        del window[: len(window) - keep]
    return []

"""Go programs' embedded build information: a program built here by the installed Go toolchain
(offline: its one dependency is a local module), and hand-made files that try to confuse the
search."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.secscan.tarbuild import F, layer
from wharf.secscan import ecosystems
from wharf.secscan.formats import gobinary
from wharf.secscan.indexer import Indexer, index_image
from wharf.secscan.layers import Limits
from wharf.secscan.packages import Kind, Package
from wharf.secscan.versions import Scheme, Verdict, evaluate

PROGRAM = {
    "go.mod": "module example.com/hello\n\ngo 1.18\n\nrequire example.com/dep v1.2.3\n\n"
    "replace example.com/dep => ./dep\n",
    "main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/dep"\n)\n\n'
    "func main() { fmt.Println(dep.Hello()) }\n",
    "dep/go.mod": "module example.com/dep\n\ngo 1.18\n",
    "dep/dep.go": 'package dep\n\nfunc Hello() string { return "hello" }\n',
}


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """The program's bytes and the Go version that built it."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("needs the Go toolchain (scripts/install-system-deps)")
    src = tmp_path_factory.mktemp("hello")
    for name, text in PROGRAM.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0", "GOWORK": "off"}
    subprocess.run([go, "build", "-trimpath", "-o", "hello", "."], cwd=src, env=env, check=True)
    version = subprocess.run([go, "env", "GOVERSION"], env=env, check=True, capture_output=True, text=True)
    return (src / "hello").read_bytes(), version.stdout.strip()


def test_a_go_program_built_here(hello: tuple[bytes, str]) -> None:
    program, go_version = hello
    index = index_image([("sha256:go", layer([F("usr/local/bin/hello", program, mode=0o755)]))])
    assert {(f.package.name, f.package.version) for f in index.packages} == {
        ("stdlib", gobinary.stdlib_version(go_version)),
        # Replaced by a local directory: the required version is what is reported.
        ("example.com/dep", "v1.2.3"),
    }
    assert {f.package.path for f in index.packages} == {"usr/local/bin/hello"}
    assert all(f.package.kind is Kind.GO for f in index.packages)


def test_only_executables_are_searched(hello: tuple[bytes, str]) -> None:
    program, _ = hello
    index = index_image([("sha256:go", layer([F("usr/share/doc/hello", program, mode=0o644)]))])
    assert index.packages == ()


def test_an_executable_over_the_limit_is_skipped_with_a_warning(hello: tuple[bytes, str]) -> None:
    program, _ = hello
    indexer = Indexer(Limits(executable_bytes=4096))
    indexer.add_layer("sha256:go", layer([F("usr/local/bin/hello", program, mode=0o755)]))
    result = indexer.result()
    assert result.packages == ()
    assert result.warnings == (f"usr/local/bin/hello not searched: {len(program)} bytes, over the limit",)


def dribble(data: bytes, most: int) -> Callable[[int], bytes]:
    """A reader handing out at most `most` bytes a call, as a slow stream may."""
    stream = io.BytesIO(data)
    return lambda n: stream.read(min(n, most))


def buildinfo(version: str, modinfo: str, pointer: int = 8, flags: int = 2) -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out += bytes([n & 0x7F | 0x80])
            n >>= 7
        return out + bytes([n])

    wrapped = "\x00" * 16 + modinfo + "\x00" * 16
    header = gobinary.MAGIC + bytes([pointer, flags]) + bytes(16)
    body = varint(len(version)) + version.encode() + varint(len(wrapped.encode())) + wrapped.encode()
    return header + body


MODINFO = (
    "path\texample.com/app\nmod\texample.com/app\tv0.3.0\th1:abc=\n"
    "dep\tgolang.org/x/net\tv0.16.0\th1:def=\n"
    "dep\tgithub.com/old/thing\tv1.0.0\n=>\tgithub.com/new/thing\tv1.1.0\th1:ghi=\n"
    "build\t-compiler=gc\n"
)


def elf(*pieces: tuple[int, bytes]) -> bytes:
    """An ELF-looking file with `pieces` placed at their offsets."""
    out = bytearray(gobinary.ELF_MAGIC + bytes(60))
    for offset, data in pieces:
        out[len(out) : offset] = bytes(max(0, offset - len(out)))
        out[offset : offset + len(data)] = data
    return bytes(out)


@pytest.mark.parametrize("most", [1 << 20, 7, 1])
def test_build_information_across_chunk_boundaries(most: int) -> None:
    # A decoy first: the magic as a string constant, unaligned and followed by other bytes.
    data = elf((4099, gobinary.MAGIC + b"not build info"), (8192, buildinfo("go1.21.5", MODINFO)))
    packages = gobinary.scan(dribble(data, most), "app")
    assert [(p.name, p.version) for p in packages] == [
        ("stdlib", "v1.21.5"),
        ("example.com/app", "v0.3.0"),
        ("golang.org/x/net", "v0.16.0"),
        ("github.com/new/thing", "v1.1.0"),
    ]


@pytest.mark.parametrize(
    "blob",
    [
        buildinfo("go1.21.5", MODINFO, flags=0),  # Go before 1.18: pointers, not read
        buildinfo("go1.21.5", MODINFO, pointer=3),
        buildinfo("not-go", MODINFO),
        gobinary.MAGIC + bytes([8, 2]) + bytes(16) + b"\xff" * 12,  # a varint that never ends
        gobinary.MAGIC + bytes([8, 2]) + bytes(16) + b"\xff\xff\xff\x7f",  # a 268 MB string
        gobinary.MAGIC + bytes([8, 2]),  # cut short by the end of the file
    ],
)
def test_what_does_not_decode_is_not_build_information(blob: bytes) -> None:
    assert gobinary.scan(dribble(elf((4096, blob)), 1 << 20), "x") == []


def test_not_elf() -> None:
    assert gobinary.scan(io.BytesIO(b"#!/bin/sh\n" + buildinfo("go1.21.5", MODINFO)).read, "x") == []


@pytest.mark.parametrize(
    ("go", "expected"),
    [
        ("go1.21.5", "v1.21.5"),
        ("go1.21", "v1.21.0"),
        ("go1.22rc2", "v1.22.0-rc.2"),
        ("go1.20.3 X:boringcrypto", "v1.20.3"),
        ("devel go1.23-abcdef", ""),
        ("", ""),
    ],
)
def test_stdlib_versions(go: str, expected: str) -> None:
    assert gobinary.stdlib_version(go) == expected


# GO-2023-1840 (CVE-2023-29403, setuid programs): the standard library fixed in 1.19.10 and 1.20.5.
GO_2023_1840 = {
    "package": {"ecosystem": "Go", "name": "stdlib"},
    "ranges": [
        {
            "type": "SEMVER",
            "events": [
                {"introduced": "0"},
                {"fixed": "1.19.10"},
                {"introduced": "1.20.0-0"},
                {"fixed": "1.20.5"},
            ],
        }
    ],
}


@pytest.mark.parametrize(
    ("installed", "verdict"),
    [
        ("v1.19.8", Verdict(True, "1.19.10")),
        ("v1.19.10", Verdict(False)),
        ("v1.20.0-rc.2", Verdict(True, "1.20.5")),
        ("v1.20.5", Verdict(False)),
    ],
)
def test_stdlib_matching(installed: str, verdict: Verdict) -> None:
    assert evaluate(Scheme.GO, installed, GO_2023_1840) == verdict


def test_go_packages_are_in_the_go_ecosystem() -> None:
    package = Package(Kind.GO, "golang.org/x/net", "v0.16.0")
    assert ecosystems.ecosystem_of(Kind.GO, None) == "Go"
    assert ecosystems.match_name(package, "Go") == "golang.org/x/net"
    assert ecosystems.namespace_of(Kind.GO, None) == ""


def test_program_path_is_unused(tmp_path: Path) -> None:
    # The module's own "path" line names the main package, not a module: never a package.
    names = [p.name for p in gobinary.modules("go1.21.5", "path\texample.com/app/cmd/x\n", "x")]
    assert names == ["stdlib"]

"""Unpacking a build's input: Dockerfiles, tar, tar.gz and zip archives, and everything that
could leave the context or fill the disk refused; the base images a Dockerfile names."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from wharf.jobs import build_context
from wharf.jobs.build_context import UnpackRefused
from wharf.jobs.builder import base_images, local_repository
from wharf.oci.names import RepositoryName

LIMITS = {"max_bytes": 1024 * 1024, "max_entries": 100}


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, "w:gz" if mode == "w:gz" else "w") as t:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            t.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _unpack(tmp_path: Path, source: Path, dockerfile: str = "Dockerfile", **limits: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="ctx", dir=tmp_path))
    build_context.unpack(source, root, dockerfile, **{**LIMITS, **limits})
    return root


def test_a_lone_dockerfile_goes_where_the_build_wants_it(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.write_bytes(b"FROM scratch\n")
    assert build_context.kind_of(source) == "dockerfile"
    root = _unpack(tmp_path, source, "sub/Containerfile")
    assert (root / "sub" / "Containerfile").read_bytes() == b"FROM scratch\n"
    dockerfile, context = build_context.dockerfile_in(root, "sub/Containerfile", "sub")
    assert dockerfile == root.resolve() / "sub" / "Containerfile" and context == root.resolve() / "sub"


@pytest.mark.parametrize("mode", ["w:gz", "w"])
def test_tar_archives_with_subdirectories_and_inner_links(tmp_path: Path, mode: str) -> None:
    source = _tar(
        tmp_path / "in",
        [
            (_file("app/Dockerfile"), b"FROM scratch\nCOPY a /a\n"),
            (_file("./app/a"), b"hello"),
            (_link("app/b", "a"), b""),
            (_link("app/c", "app/a", tarfile.LNKTYPE), b""),
        ],
        mode,
    )
    assert build_context.kind_of(source) == ("tar.gz" if mode == "w:gz" else "tar")
    root = _unpack(tmp_path, source)
    assert (root / "app" / "b").read_bytes() == b"hello"
    assert (root / "app" / "c").read_bytes() == b"hello"
    build_context.dockerfile_in(root, "app/Dockerfile", "app")
    with pytest.raises(UnpackRefused, match="no Dockerfile"):
        build_context.dockerfile_in(root, "Dockerfile", "")
    with pytest.raises(UnpackRefused, match="not a directory"):
        build_context.dockerfile_in(root, "app/Dockerfile", "nowhere")


def test_zip_archives(tmp_path: Path) -> None:
    source = tmp_path / "in"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr("Dockerfile", "FROM scratch\n")
        z.writestr("dir/file", "x")
    assert build_context.kind_of(source) == "zip"
    root = _unpack(tmp_path, source)
    assert (root / "dir" / "file").read_text() == "x"


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([(_file("/etc/evil"), b"x")], "absolute path"),
        ([(_file("../evil"), b"x")], "leaves the build context"),
        ([(_file("a/../../evil"), b"x")], "leaves the build context"),
        ([(_link("l", "/etc/passwd"), b"")], "points out of the build context"),
        ([(_link("l", "../outside"), b"")], "points out of the build context"),
        ([(_link("d/l", "../../outside"), b"")], "points out of the build context"),
        # each link stays inside by its name, but followed one through the other they leave
        ([(_link("up", "."), b""), (_link("esc", "up/.."), b"")], "points out of the build context"),
        # a link to the context itself, and a file written through it: allowed
        ([(_link("d", "."), b""), (_file("d/x"), b"x")], None),
        ([(_link("h", "../../etc/passwd", tarfile.LNKTYPE), b"")], "leaves the build context"),
        ([(_link("dev", "", tarfile.CHRTYPE), b"")], "special file"),
        ([(_link("fifo", "", tarfile.FIFOTYPE), b"")], "special file"),
    ],
)
def test_escapes_are_refused(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]], message: str | None
) -> None:
    source = _tar(tmp_path / "in", members)
    outside = tmp_path / "outside"
    if message is None:
        root = _unpack(tmp_path, source)
        assert (root / "x").read_bytes() == b"x"
        return
    with pytest.raises(UnpackRefused, match=message):
        _unpack(tmp_path, source)
    assert not outside.exists()


def test_writing_through_a_link_that_leaves_is_refused(tmp_path: Path) -> None:
    (tmp_path / "victim").mkdir()
    # `up` -> `.` and `esc` -> `up/..` pass the name check one by one; writing esc/x must not land outside
    source = _tar(
        tmp_path / "in", [(_link("up", "."), b""), (_link("esc", "up/.."), b""), (_file("esc/x"), b"x")]
    )
    with pytest.raises(UnpackRefused, match="through a link"):
        _unpack(tmp_path, source)
    assert not (tmp_path / "x").exists()


def test_zip_links_and_escapes_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "in"
    with zipfile.ZipFile(source, "w") as z:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(UnpackRefused, match="may not hold links"):
        _unpack(tmp_path, source)
    with zipfile.ZipFile(source, "w") as z:
        z.writestr("../evil", "x")
    with pytest.raises(UnpackRefused, match="leaves the build context"):
        _unpack(tmp_path, source)


def test_bombs_stop_at_the_limits(tmp_path: Path) -> None:
    # 8 MiB of zeros compress to a few KiB; the context may hold 1 MiB
    big = _tar(tmp_path / "big", [(_file("zeros"), bytes(8 * 1024 * 1024))])
    assert big.stat().st_size < 100_000
    with pytest.raises(UnpackRefused, match="more than 1048576 bytes"):
        _unpack(tmp_path, big)
    many = _tar(tmp_path / "many", [(_file(f"f{i}"), b"") for i in range(101)])
    with pytest.raises(UnpackRefused, match="more than 100 entries"):
        _unpack(tmp_path, many, max_entries=100)
    source = tmp_path / "dockerfile"
    source.write_bytes(b"#" * 2000)
    with pytest.raises(UnpackRefused, match="more than 1000 bytes"):
        _unpack(tmp_path, source, max_bytes=1000)


def test_unreadable_archives(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.write_bytes(b"\x1f\x8b" + os.urandom(100))
    with pytest.raises(UnpackRefused, match="cannot be read"):
        _unpack(tmp_path, source)


def test_base_images() -> None:
    dockerfile = (
        "ARG X=1\n"
        "FROM registry.test/acme/base:1 AS builder\n"
        "RUN make\n"
        "from --platform=linux/amd64 registry.test/acme/runtime@sha256:" + "a" * 64 + "\n"
        "COPY --from=builder /out /out\n"
        "FROM builder\n"
        "FROM scratch\n"
        "FROM docker.io/library/alpine\n"
    )
    images = base_images(dockerfile)
    assert images == [
        "registry.test/acme/base:1",
        "registry.test/acme/runtime@sha256:" + "a" * 64,
        "docker.io/library/alpine",
    ]
    assert local_repository(images[0], "registry.test") == RepositoryName("acme", "base")
    assert local_repository(images[1], "registry.test") == RepositoryName("acme", "runtime")
    assert local_repository(images[2], "registry.test") is None
    assert local_repository("registry.test:5000/a/b", "registry.test") is None
    assert local_repository("localhost:5000/a/b:v1", "localhost:5000") == RepositoryName("a", "b")

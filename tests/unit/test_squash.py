"""Flattening layers: whiteouts, opaque directories, replaced directories, hard links; exact sizes."""

from __future__ import annotations

import gzip
import io
import tarfile

from wharf.core import squash


def _layer(entries: list[tuple[str, str, bytes | str | None]], compress: bool = False) -> bytes:
    """entries: (name, kind, content) with kind file | dir | link (content = target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, content in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, str(content)
                tar.addfile(info)
            else:
                data = content if isinstance(content, bytes) else str(content or "").encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw) if compress else raw


BOTTOM = _layer(
    [
        ("etc", "dir", None),
        ("etc/a", "file", b"a1"),
        ("etc/b", "file", b"b"),
        ("./opt", "dir", None),
        ("./opt/x", "file", b"x"),
        ("./opt/y", "file", b"y"),
        ("t", "file", b"target" * 200),
        ("h", "link", "t"),
        ("d", "dir", None),
        ("d/inner", "file", b"hidden by the file d above"),
        ("long/" + "n" * 150, "file", b"a name too long for ustar"),
    ],
    compress=True,
)
TOP = _layer(
    [
        ("etc/a", "file", b"a2"),
        ("etc/.wh.b", "file", b""),
        ("opt/.wh..wh..opq", "file", b""),
        ("opt/z", "file", b"z"),
        ("d", "file", b"now a file"),
    ]
)


def _flatten(layers_bottom_up: list[bytes]) -> tuple[squash.Plan, bytes]:
    plan = squash.plan([io.BytesIO(x) for x in reversed(layers_bottom_up)])
    out = io.BytesIO()
    squash.write_layer([io.BytesIO(x) for x in layers_bottom_up], plan, out)
    return plan, out.getvalue()


def test_whiteouts_opaque_dirs_and_replacements() -> None:
    plan, flat = _flatten([BOTTOM, TOP])
    assert plan.size == len(flat)  # the size promised in the archive header is exact
    with tarfile.open(fileobj=io.BytesIO(flat)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        content = {
            name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for name, m in members.items()
            if m.isreg()
        }
    assert set(members) == {"etc", "etc/a", "opt", "opt/z", "t", "h", "d", "long/" + "n" * 150}
    assert content["etc/a"] == b"a2" and content["opt/z"] == b"z" and content["d"] == b"now a file"
    assert members["h"].islnk() and members["h"].linkname == "t"
    names = [m for m in members]
    assert names.index("h") > names.index("t")  # hard links come after their targets


def test_single_layer_is_unchanged_in_content() -> None:
    plan, flat = _flatten([BOTTOM])
    with tarfile.open(fileobj=io.BytesIO(flat)) as tar:
        names = {m.name for m in tar.getmembers()}
    assert {"etc/b", "opt/x", "d/inner"} <= names
    assert plan.size == len(flat)


def test_archive_wrapping_is_loadable() -> None:
    _plan, flat = _flatten([BOTTOM, TOP])
    import hashlib
    import json

    prefix = squash.docker_archive_prefix("abc", len(flat))
    suffix = squash.docker_archive_suffix(
        "abc", len(flat), "sha256:" + hashlib.sha256(flat).hexdigest(), {"os": "linux"}, "host/ns/app:v1"
    )
    with tarfile.open(fileobj=io.BytesIO(prefix + flat + suffix)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["host/ns/app:v1"]
    assert layer == flat
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(flat).hexdigest()]

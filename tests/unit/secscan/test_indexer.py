"""The indexer on layers built here: real-looking package databases, whiteouts, compression."""

import io

import pytest

from tests.unit.secscan.samples import (
    ALPINE_OS_RELEASE,
    APK_INSTALLED,
    DEBIAN_OS_RELEASE,
    DPKG_OPENSSL,
    DPKG_STATUS,
    REQUESTS_METADATA,
)
from tests.unit.secscan.tarbuild import D, F, L, layer
from wharf.secscan.indexer import ImageIndex, index_image
from wharf.secscan.packages import Distribution, Kind

SITE = "usr/local/lib/python3.12/site-packages"


def debian_base(how: str = "gzip") -> io.BytesIO:
    return layer(
        [
            D("./"),
            D("./etc/"),
            L("./etc/os-release", "../usr/lib/os-release"),
            D("./usr/lib/"),
            F("./usr/lib/os-release", DEBIAN_OS_RELEASE),
            D("./var/lib/dpkg/"),
            F("./var/lib/dpkg/status", DPKG_STATUS),
            F("./etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"),
        ],
        how,
    )


def names(index: ImageIndex) -> dict[str, tuple[str, str]]:
    return {f.package.name: (f.package.version, f.layer) for f in index.packages}


@pytest.mark.parametrize("how", ["gzip", "zstd", "plain"])
def test_debian_layers(how: str) -> None:
    python = layer(
        [
            F("var/lib/dpkg/status", DPKG_STATUS + DPKG_OPENSSL),
            F(f"{SITE}/requests-2.28.1.dist-info/METADATA", REQUESTS_METADATA),
            F(f"{SITE}/requests-2.28.1.dist-info/RECORD", "requests/__init__.py,,\n"),
            F(
                "usr/lib/python3/dist-packages/six-1.16.0.egg-info",
                "Metadata-Version: 1.2\nName: six\nVersion: 1.16.0\n",
            ),
            F(f"{SITE}/PyYAML-6.0.1-py3.12.egg-info/PKG-INFO", "Name: PyYAML\nVersion: 6.0.1\n"),
        ],
        how,
    )
    index = index_image([("sha256:base", debian_base(how)), ("sha256:python", python)])
    assert index.distribution == Distribution(
        id="debian",
        version_id="12",
        version_codename="bookworm",
        pretty_name="Debian GNU/Linux 12 (bookworm)",
    )
    # A package rewritten unchanged by a later layer keeps the layer that added it.
    assert names(index) == {
        "base-files": ("12.4+deb12u5", "sha256:base"),
        "libc6": ("2.36-9+deb12u4", "sha256:base"),
        "libblkid1": ("2.38.1-5+b1", "sha256:base"),
        "libssl3": ("3.0.11-1~deb12u2", "sha256:python"),
        "requests": ("2.28.1", "sha256:python"),
        "six": ("1.16.0", "sha256:python"),
        "PyYAML": ("6.0.1", "sha256:python"),
    }
    libc = next(f.package for f in index.packages if f.package.name == "libc6")
    assert (libc.kind, libc.source_name, libc.arch, libc.path) == (
        Kind.DPKG,
        "glibc",
        "amd64",
        "var/lib/dpkg/status",
    )
    blkid = next(f.package for f in index.packages if f.package.name == "libblkid1")
    assert (blkid.source_name, blkid.source_version) == ("util-linux", "2.38.1-5")
    assert index.warnings == ()


def test_upgrade_moves_the_package_to_the_upgrading_layer() -> None:
    upgraded = DPKG_STATUS.replace("2.36-9+deb12u4", "2.36-9+deb12u7")
    index = index_image(
        [("sha256:base", debian_base()), ("sha256:up", layer([F("var/lib/dpkg/status", upgraded)]))]
    )
    assert names(index)["libc6"] == ("2.36-9+deb12u7", "sha256:up")
    assert names(index)["base-files"] == ("12.4+deb12u5", "sha256:base")


def test_alpine() -> None:
    base = layer(
        [
            D("etc/"),
            F("etc/os-release", ALPINE_OS_RELEASE),
            D("lib/apk/db/"),
            F("lib/apk/db/installed", APK_INSTALLED),
        ],
        "gzip",
    )
    index = index_image([("sha256:alpine", base)])
    assert index.distribution is not None
    assert (index.distribution.id, index.distribution.version_id) == ("alpine", "3.19.1")
    packages = {f.package.name: f.package for f in index.packages}
    assert packages["musl"].version == "1.2.4_git20230717-r4"
    assert packages["musl"].source_name == ""  # its origin is itself
    assert (packages["libcrypto3"].version, packages["libcrypto3"].source_name) == ("3.1.4-r5", "openssl")
    assert packages["libcrypto3"].arch == "x86_64"


def test_distroless_status_d() -> None:
    base = layer(
        [
            F(
                "var/lib/dpkg/status.d/base",
                "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
            ),
            F("var/lib/dpkg/status.d/base.md5sums", "6a6b5ba1ef5bb5bd3a3c3a2b0d5d0bd7  etc/debian_version\n"),
            F(
                "var/lib/dpkg/status.d/libssl3",
                "Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n",
            ),
            F("etc/os-release", DEBIAN_OS_RELEASE),
        ]
    )
    index = index_image([("sha256:distroless", base)])
    assert {(f.package.name, f.package.path) for f in index.packages} == {
        ("base-files", "var/lib/dpkg/status.d/base"),
        ("libssl3", "var/lib/dpkg/status.d/libssl3"),
    }


def test_npm_packages_only_at_package_roots() -> None:
    app = layer(
        [
            F("app/package.json", '{"name": "my-app", "version": "1.0.0"}'),
            F("app/node_modules/lodash/package.json", '{"name": "lodash", "version": "4.17.20"}'),
            F(
                "app/node_modules/lodash/fp/package.json",
                '{"name": "lodash-fp-internal", "version": "0.0.0"}',
            ),
            F("app/node_modules/@babel/core/package.json", '{"name": "@babel/core", "version": "7.23.2"}'),
            F(
                "app/node_modules/express/node_modules/qs/package.json",
                '{"name": "qs", "version": "6.11.0", "description": "x"}',
            ),
            F("app/node_modules/broken/package.json", "{not json"),
            F("app/node_modules/noversion/package.json", '{"name": "noversion"}'),
        ]
    )
    index = index_image([("sha256:app", app)])
    assert {(f.package.kind, f.package.name, f.package.version) for f in index.packages} == {
        (Kind.NPM, "lodash", "4.17.20"),
        (Kind.NPM, "@babel/core", "7.23.2"),
        (Kind.NPM, "qs", "6.11.0"),
    }


def test_whiteouts_hide_lower_layers_only() -> None:
    lower = layer(
        [
            F(f"{SITE}/requests-2.28.1.dist-info/METADATA", REQUESTS_METADATA),
            F(f"{SITE}/six-1.16.0.dist-info/METADATA", "Name: six\nVersion: 1.16.0\n"),
            F("app/node_modules/lodash/package.json", '{"name": "lodash", "version": "4.17.20"}'),
            F("app/node_modules/qs/package.json", '{"name": "qs", "version": "6.11.0"}'),
            F("lib/apk/db/installed", APK_INSTALLED),
        ]
    )
    upper = layer(
        [
            # pip uninstall requests: the directory is whited out.
            F(f"{SITE}/.wh.requests-2.28.1.dist-info", ""),
            # npm ci: node_modules made opaque, and what the same layer adds survives it.
            D("app/node_modules/"),
            F("app/node_modules/.wh..wh..opq", ""),
            F("app/node_modules/lodash/package.json", '{"name": "lodash", "version": "4.17.21"}'),
            # apk's database replaced by a symbolic link hides the file below.
            L("lib/apk/db/installed", "/dev/null"),
            # A whiteout of something never seen is harmless.
            F("etc/.wh.motd", ""),
        ]
    )
    index = index_image([("sha256:lower", lower), ("sha256:upper", upper)])
    assert names(index) == {"six": ("1.16.0", "sha256:lower"), "lodash": ("4.17.21", "sha256:upper")}


def test_a_file_replacing_a_directory_hides_what_it_held() -> None:
    lower = layer([F(f"{SITE}/requests-2.28.1.dist-info/METADATA", REQUESTS_METADATA)])
    upper = layer([F(f"{SITE}/requests-2.28.1.dist-info", "now a file")])
    assert index_image([("sha256:a", lower), ("sha256:b", upper)]).packages == ()


def test_whole_tree_whiteout_and_root_opaque() -> None:
    lower = debian_base()
    gone_dpkg = layer([F("var/lib/.wh.dpkg", "")])
    index = index_image([("sha256:a", lower), ("sha256:b", gone_dpkg)])
    assert index.packages == ()
    assert index.distribution is not None
    everything = layer([F(".wh..wh..opq", ""), F("etc/os-release", ALPINE_OS_RELEASE)])
    index = index_image([("sha256:a", debian_base()), ("sha256:c", everything)])
    assert index.packages == ()
    assert index.distribution is not None and index.distribution.id == "alpine"


def test_os_release_link_resolved_inside_the_image() -> None:
    # An absolute link target names the image's own /usr/lib/os-release, never this machine's.
    base = layer([L("etc/os-release", "/usr/lib/os-release"), F("usr/lib/os-release", DEBIAN_OS_RELEASE)])
    index = index_image([("sha256:a", base)])
    assert index.distribution is not None and index.distribution.id == "debian"
    dangling = layer([L("etc/os-release", "../../../../etc/os-release")])
    assert index_image([("sha256:a", dangling)]).distribution is None


def test_hard_link_to_a_metadata_file() -> None:
    base = layer(
        [
            F(f"{SITE}/six-1.16.0.dist-info/METADATA", "Name: six\nVersion: 1.16.0\n"),
            L(
                "opt/venv/lib/six-1.16.0.dist-info/METADATA",
                f"{SITE}/six-1.16.0.dist-info/METADATA",
                hard=True,
            ),
        ]
    )
    paths = {f.package.path for f in index_image([("sha256:a", base)]).packages}
    assert paths == {f"{SITE}/six-1.16.0.dist-info/METADATA", "opt/venv/lib/six-1.16.0.dist-info/METADATA"}


def test_empty_layer_and_empty_image() -> None:
    assert index_image([("sha256:a", io.BytesIO(b""))]) == ImageIndex(None, ())
    assert index_image([]) == ImageIndex(None, ())

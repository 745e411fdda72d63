from __future__ import annotations

import hashlib

import pytest

from wharf.oci.digest import Digest, DigestError, is_digest
from wharf.oci.names import InvalidNameError, RepositoryName, is_valid_repository_name, is_valid_tag


def test_parse_and_format() -> None:
    hexpart = hashlib.sha256(b"x").hexdigest()
    d = Digest.parse(f"sha256:{hexpart}")
    assert (d.algorithm, d.encoded, str(d)) == ("sha256", hexpart, f"sha256:{hexpart}")
    assert Digest.of(b"x") == d
    assert Digest.of(b"x", "sha512").encoded == hashlib.sha512(b"x").hexdigest()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256",
        "sha256:",
        ":abc",
        "sha256:abc",
        "SHA256:" + "a" * 64,
        "sha256:" + "A" * 64,
        "md5:" + "a" * 32,
        "sha512:" + "a" * 64,
        "sha256:" + "a" * 65,
        "sha256:" + "a" * 63 + "/",
        "x" * 300,
    ],
)
def test_invalid_digests(value: str) -> None:
    with pytest.raises(DigestError):
        Digest.parse(value)


def test_is_digest() -> None:
    assert is_digest("sha256:abc") and not is_digest("latest")


@pytest.mark.parametrize(
    "name", ["a", "library/busybox", "ns/a/b/c", "a-b/c__d", "a.b/c-d-e", "x1/y2", "a--b"]
)
def test_valid_names(name: str) -> None:
    assert is_valid_repository_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "A", "ns/UPPER", "-a", "a-", "a/", "/a", "a//b", "a/../b", "..", "a_-b", "a___b", "a" * 256, "a b"],
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_repository_name(name)
    with pytest.raises(InvalidNameError):
        RepositoryName.parse(name)


def test_namespace_split() -> None:
    assert RepositoryName.parse("ns/a/b") == RepositoryName("ns", "a/b")
    assert RepositoryName.parse("busybox") == RepositoryName("library", "busybox")
    assert RepositoryName.parse("busybox", "lib") == RepositoryName("lib", "busybox")
    assert str(RepositoryName("ns", "a/b")) == "ns/a/b"


@pytest.mark.parametrize("tag", ["latest", "v1.0", "_x", "A" * 128, "1", "a-b_c.d"])
def test_valid_tags(tag: str) -> None:
    assert is_valid_tag(tag)


@pytest.mark.parametrize("tag", ["", "-a", ".a", "A" * 129, "a/b", "a:b", "a b"])
def test_invalid_tags(tag: str) -> None:
    assert not is_valid_tag(tag)

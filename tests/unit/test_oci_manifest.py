from __future__ import annotations

import json
from typing import Any

import pytest

from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest
from wharf.oci.manifest import MAX_MANIFEST_BYTES, ManifestError, parse_manifest

D1 = str(Digest.of(b"1"))
D2 = str(Digest.of(b"2"))


def _image(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D1, "size": 1},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D2, "size": 1}],
        **extra,
    }


def test_image_manifest() -> None:
    p = parse_manifest(json.dumps(_image()).encode(), mt.OCI_MANIFEST)
    assert p.media_type == mt.OCI_MANIFEST
    assert [str(b.digest) for b in p.required_blobs] == [D1, D2]
    assert p.subject is None and p.artifact_type is None and not p.is_index


def test_media_type_from_body_when_header_is_generic() -> None:
    body = json.dumps(_image()).encode()
    assert parse_manifest(body, None).media_type == mt.OCI_MANIFEST
    assert parse_manifest(body, "application/json").media_type == mt.OCI_MANIFEST
    no_field = _image()
    del no_field["mediaType"]
    assert parse_manifest(json.dumps(no_field).encode(), None).media_type == mt.OCI_MANIFEST


def test_content_type_parameters_are_ignored() -> None:
    body = json.dumps(_image()).encode()
    assert parse_manifest(body, mt.OCI_MANIFEST + "; charset=utf-8").media_type == mt.OCI_MANIFEST


def test_artifact_with_subject() -> None:
    p = parse_manifest(
        json.dumps(
            _image(
                artifactType="application/x.sig",
                subject={"mediaType": mt.OCI_MANIFEST, "digest": D1, "size": 3},
            )
        ).encode(),
        mt.OCI_MANIFEST,
    )
    assert p.artifact_type == "application/x.sig"
    assert p.subject is not None and str(p.subject.digest) == D1


def test_artifact_type_defaults_to_config_type_for_referrers() -> None:
    p = parse_manifest(
        json.dumps(_image(subject={"mediaType": mt.OCI_MANIFEST, "digest": D1, "size": 3})).encode(),
        mt.OCI_MANIFEST,
    )
    assert p.artifact_type == "application/vnd.oci.image.config.v1+json"


def test_foreign_layers_are_not_required() -> None:
    m = _image()
    m["layers"][0]["urls"] = ["https://example.com/layer"]
    p = parse_manifest(json.dumps(m).encode(), mt.OCI_MANIFEST)
    assert [str(b.digest) for b in p.required_blobs] == [D1]


def test_index() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": D1, "size": 5, "platform": {"os": "linux"}}],
    }
    p = parse_manifest(json.dumps(body).encode(), mt.OCI_INDEX)
    assert p.is_index and [str(c.digest) for c in p.children] == [D1]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b'"string"',
        json.dumps({**_image(), "schemaVersion": "2"}).encode(),
        json.dumps({**_image(), "config": None}).encode(),
        json.dumps({**_image(), "config": {"mediaType": "x", "digest": D1, "size": True}}).encode(),
        json.dumps({**_image(), "subject": {"digest": D1}}).encode(),
        json.dumps({**_image(), "artifactType": 5}).encode(),
        json.dumps({**_image(), "mediaType": 7}).encode(),
    ],
)
def test_invalid(body: bytes) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(body, mt.OCI_MANIFEST)


def test_too_large() -> None:
    with pytest.raises(ManifestError, match="4 MiB"):
        parse_manifest(b" " * (MAX_MANIFEST_BYTES + 1), mt.OCI_MANIFEST)


def test_cannot_tell_type() -> None:
    with pytest.raises(ManifestError, match="Content-Type"):
        parse_manifest(b'{"schemaVersion": 2}', None)


def test_schema1() -> None:
    body = {
        "schemaVersion": 1,
        "name": "a/b",
        "tag": "t",
        "fsLayers": [{"blobSum": D1}, {"blobSum": D1}],
        "history": [{}, {}],
        "signatures": [],
    }
    p = parse_manifest(json.dumps(body).encode(), mt.DOCKER_SCHEMA1_SIGNED)
    assert [str(b.digest) for b in p.required_blobs] == [D1]
    with pytest.raises(ManifestError):
        parse_manifest(json.dumps({**body, "fsLayers": []}).encode(), mt.DOCKER_SCHEMA1_SIGNED)


def test_accepts() -> None:
    from wharf.oci.manifest import accepts

    assert accepts(None, mt.OCI_INDEX)
    assert accepts("*/*", mt.OCI_INDEX)
    assert accepts(f"{mt.OCI_MANIFEST}; q=0.5, {mt.OCI_INDEX}", mt.OCI_INDEX)
    assert not accepts(mt.OCI_MANIFEST, mt.OCI_INDEX)


def test_default_platform_child() -> None:
    from wharf.oci.manifest import default_platform_child

    def index(*platforms: tuple[str, str]) -> bytes:
        return json.dumps(
            {
                "manifests": [
                    {"digest": f"sha256:{i}", "platform": {"os": o, "architecture": a}}
                    for i, (o, a) in enumerate(platforms)
                ]
            }
        ).encode()

    assert default_platform_child(index(("linux", "arm64"), ("linux", "amd64"))) == "sha256:1"
    assert default_platform_child(index(("windows", "amd64"))) == "sha256:0"
    assert default_platform_child(b'{"manifests": []}') is None
    assert default_platform_child(b"not json") is None

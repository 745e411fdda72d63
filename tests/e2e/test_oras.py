"""oras-py pushes OCI 1.1 artifacts (artifactType + subject); the referrers API lists and filters them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    CLIENT_TOOLS,
    Clients,
    Server,
    creds_args,
    require_tools,
    sha256_digest,
)

require_tools(*CLIENT_TOOLS)
oras_provider = pytest.importorskip("oras.provider")

pytestmark = pytest.mark.e2e

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_JSON = "application/vnd.oci.empty.v1+json"
SBOM_TYPE = "application/spdx+json"
SIGNATURE_TYPE = "application/vnd.example.wharf-e2e.signature.v1+json"
TITLE = "org.opencontainers.image.title"


def _descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data), **extra}


def _push_artifact(
    registry: Any,
    container: Any,
    tmp_path: Path,
    artifact_type: str,
    name: str,
    payload: bytes,
    subject: dict[str, Any],
    chunked: bool,
    expect_subject_header: bool,
) -> tuple[str, bytes]:
    """Blobs through oras-py, then a hand-built OCI 1.1 manifest; returns (digest, manifest bytes)."""
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"{}")
    blob = tmp_path / name
    blob.write_bytes(payload)
    config = _descriptor(EMPTY_JSON, b"{}")
    layer = _descriptor(artifact_type, payload, annotations={TITLE: name})
    for path, desc, do_chunked in ((empty, config, False), (blob, layer, chunked)):
        r = registry.upload_blob(str(path), container, desc, do_chunked=do_chunked, chunk_size=64 * 1024)
        assert r.status_code in (200, 201), (r.status_code, r.text)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": [layer],
        "subject": subject,
        "annotations": {"org.example.wharf-e2e": name},
    }
    r = registry.upload_manifest(manifest, container)
    assert r.status_code == 201, (r.status_code, r.headers, r.text)
    if expect_subject_header:
        # distribution-spec: a registry that processes `subject` says so in OCI-Subject
        assert r.headers.get("OCI-Subject") == subject["digest"], dict(r.headers)
    body = r.request.body
    assert isinstance(body, bytes)
    assert r.headers["Docker-Content-Digest"] == sha256_digest(body)
    return sha256_digest(body), body


def test_oras_artifact_with_subject_listed_and_filtered_by_referrers(
    server: Server, clients: Clients, images: BuiltImages, tmp_path: Path
) -> None:
    name = "admin/e2e-oras"
    clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        *creds_args(server.creds, "--dest-creds"),
        images.busybox_oci,
        f"docker://{server.host}/{name}:app",
    )
    subject_raw = clients.skopeo_raw(f"docker://{server.host}/{name}:app", server.creds)
    assert subject_raw == clients.skopeo_raw(images.busybox_oci)
    subject = _descriptor(json.loads(subject_raw)["mediaType"], subject_raw)

    registry = oras_provider.Registry(hostname=server.host, insecure=True)
    if server.has_auth:
        # no login(): it would write the credentials into ~/.docker/config.json
        registry.auth.set_basic_auth(ADMIN_USER, ADMIN_PASSWORD)
        # oras-py renews its token only on a 403, never on the 401 naming a wider scope that Quay
        # and distribution answer (and Wharf too): give it one for all this test does up front
        granted = server.auth_headers(f"repository:{name}:pull,push")["Authorization"]
        registry.auth.token = granted.removeprefix("Bearer ")

    sbom = json.dumps(
        {"spdxVersion": "SPDX-2.3", "name": "busybox", "pad": os.urandom(90_000).hex()}
    ).encode()
    sbom_container = registry.get_container(f"{server.host}/{name}:sbom")
    sbom_digest, sbom_manifest = _push_artifact(
        registry,
        sbom_container,
        tmp_path,
        SBOM_TYPE,
        "sbom.spdx.json",
        sbom,
        subject,
        chunked=True,
        expect_subject_header=server.kind == "wharf",
    )
    signature = b'{"signature": "not really"}'
    sig_container = registry.get_container(f"{server.host}/{name}:sig")
    sig_digest, sig_manifest = _push_artifact(
        registry,
        sig_container,
        tmp_path,
        SIGNATURE_TYPE,
        "signature.json",
        signature,
        subject,
        chunked=False,
        expect_subject_header=server.kind == "wharf",
    )

    # oras-py pulls the artifact back by tag: same bytes
    pulled = registry.pull(target=f"{server.host}/{name}:sbom", outdir=str(tmp_path / "pulled"))
    assert [Path(p).name for p in pulled] == ["sbom.spdx.json"]
    assert Path(pulled[0]).read_bytes() == sbom
    assert clients.skopeo_raw(f"docker://{server.host}/{name}@{sbom_digest}", server.creds) == sbom_manifest

    if server.kind == "distribution":
        pytest.skip("distribution 2.8 has no referrers API; artifact push and pull checked")

    headers = server.auth_headers(f"repository:{name}:pull")
    url = f"{server.url}/v2/{name}/referrers/{subject['digest']}"
    expected = {
        sbom_digest: {
            "mediaType": OCI_MANIFEST,
            "digest": sbom_digest,
            "size": len(sbom_manifest),
            "artifactType": SBOM_TYPE,
            "annotations": {"org.example.wharf-e2e": "sbom.spdx.json"},
        },
        sig_digest: {
            "mediaType": OCI_MANIFEST,
            "digest": sig_digest,
            "size": len(sig_manifest),
            "artifactType": SIGNATURE_TYPE,
            "annotations": {"org.example.wharf-e2e": "signature.json"},
        },
    }

    r = httpx.get(url, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == OCI_INDEX
    index = r.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    assert {d["digest"]: d for d in index["manifests"]} == expected
    assert "OCI-Filters-Applied" not in r.headers

    r = httpx.get(url, params={"artifactType": SBOM_TYPE}, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert r.json()["manifests"] == [expected[sbom_digest]]

    r = httpx.get(url, params={"artifactType": "application/vnd.example.none"}, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert r.json()["manifests"] == []

    # a digest nothing refers to: an empty index, not an error
    r = httpx.get(
        f"{server.url}/v2/{name}/referrers/{sha256_digest(b'nothing')}", headers=headers, timeout=30
    )
    assert r.status_code == 200, r.text
    assert r.json()["manifests"] == []

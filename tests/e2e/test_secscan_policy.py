"""Security scanning with real clients (issue 16): an image pushed with skopeo is indexed by the
server's own workers, matched against OSV data the server imports from a local zip, gets an SBOM
referrer that oras-py pulls, and `podman pull` is refused by the organization's pull policy with
a message naming the vulnerability and the policy."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    CLIENT_TOOLS,
    SERVER_KIND,
    Clients,
    Server,
    admin_api,
    creds_args,
    require_tools,
)
from tests.integration.jobs import osv_samples
from tests.unit.secscan.samples import DEBIAN_OS_RELEASE, DPKG_OPENSSL, DPKG_STATUS
from tests.unit.secscan.tarbuild import F, tar
from tests.waiting import wait_until

require_tools(*CLIENT_TOOLS)
oras_provider = pytest.importorskip("oras.provider")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(SERVER_KIND != "wharf", reason="scanning, SBOMs and pull policies are Wharf's"),
]

CDX = "application/vnd.cyclonedx+json"
NAME = "e2e/debian"


@pytest.fixture
def server_settings(tmp_path: Path) -> dict[str, str]:
    data = osv_samples.write_zip(tmp_path / "osv.zip", osv_samples.RECORDS)
    return {
        "WHARF_SECURITY_SCANNER_VULN_SOURCES": json.dumps([str(data)]),
        "WHARF_SECURITY_SCANNER_INDEXING_INTERVAL": "1",
    }


def _blob(root: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def debian_layout(root: Path) -> Path:
    """An OCI layout holding a two-layer Debian 12 image (dpkg status with libc6 and libssl3)."""
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    base = gzip.compress(
        tar(
            [F("etc/os-release", DEBIAN_OS_RELEASE.encode()), F("var/lib/dpkg/status", DPKG_STATUS.encode())]
        ),
        mtime=0,
    )
    ssl = gzip.compress(tar([F("var/lib/dpkg/status", (DPKG_STATUS + DPKG_OPENSSL).encode())]), mtime=0)
    layers = [base, ssl]
    diff_ids = [f"sha256:{hashlib.sha256(gzip.decompress(x)).hexdigest()}" for x in layers]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(root, config)},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(root, x)} for x in layers
            ],
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **_blob(root, manifest),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return root


def test_scan_sbom_referrer_and_pull_policy(server: Server, clients: Clients, tmp_path: Path) -> None:
    api = admin_api(server)
    assert api.post("/organization/", json={"name": "e2e"}).status_code == 201
    r = api.put(
        "/organization/e2e/securitysettings",
        json={
            "pull_policy": {"severity": "High", "fixable_only": True, "exempt_superusers": False},
            "sbom_format": "cyclonedx",
        },
    )
    assert r.status_code == 200, r.text
    layout = debian_layout(tmp_path / "layout")
    ref = f"docker://{server.host}/{NAME}:v1"
    clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        *creds_args(server.creds, "--dest-creds"),
        f"oci:{layout}:v1",
        ref,
    )
    digest = clients.skopeo_digest(ref, server.creds)

    # The server's workers index it (the push queued it) and import the OSV zip (its first backfill).
    def scanned() -> dict[str, Any] | None:
        answer = api.get(f"/repository/{NAME}/manifest/{digest}/security").json()
        features = (answer.get("data") or {}).get("Layer", {}).get("Features", [])
        return answer if any(f["Vulnerabilities"] for f in features) else None

    wait_until(scanned, "the image indexed and matched", timeout_s=120, interval_s=0.5)

    # The SBOM referrer, listed by the referrers API and pulled with oras-py.
    headers = server.auth_headers(f"repository:{NAME}:pull")

    def listed() -> list[dict[str, Any]]:
        r = httpx.get(f"{server.url}/v2/{NAME}/referrers/{digest}", headers=headers, timeout=30)
        return list(r.json().get("manifests", []))

    (found,) = wait_until(listed, "the SBOM referrer", timeout_s=60, interval_s=0.5)
    assert found["artifactType"] == CDX
    registry = oras_provider.Registry(hostname=server.host, insecure=True)
    registry.auth.set_basic_auth(ADMIN_USER, ADMIN_PASSWORD)
    registry.auth.token = headers["Authorization"].removeprefix("Bearer ")
    pulled = registry.pull(target=f"{server.host}/{NAME}@{found['digest']}", outdir=str(tmp_path / "sbom"))
    assert [Path(p).name for p in pulled] == ["sbom.cdx.json"]
    bom = json.loads(Path(pulled[0]).read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["metadata"]["component"]["version"] == digest

    # podman pull is refused, and says why.
    proc = clients.run(
        "podman",
        "pull",
        "--tls-verify=false",
        *creds_args(server.creds),
        f"{server.host}/{NAME}:v1",
        check=False,
    )
    assert proc.returncode != 0
    assert "DEBIAN-CVE-2024-2961" in proc.stderr, proc.stderr
    assert "vulnerability policy of the namespace e2e" in proc.stderr, proc.stderr

    # With the policy off, the same pull works.
    r = api.put("/organization/e2e/securitysettings", json={"pull_policy": {"severity": None}})
    assert r.status_code == 200
    clients.run("podman", "pull", "--tls-verify=false", *creds_args(server.creds), f"{server.host}/{NAME}:v1")

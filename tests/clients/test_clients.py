"""skopeo, podman, buildah and oras-py push and pull through Wharf and get back what they sent."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import PASSWORD, Clients
from tests.process.server import WharfServer

pytestmark = pytest.mark.e2e


def _raw_digest(clients: Clients, ref: str) -> str:
    raw = clients.run("skopeo", "inspect", "--raw", "--tls-verify=false", ref).stdout
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def _creds() -> str:
    return f"admin:{PASSWORD}"


def test_skopeo_multi_layer_image_round_trip(
    clients: Clients, images: dict[str, str], wharf_server: WharfServer, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    clients.run("skopeo", "copy", f"containers-storage:{images['layers']}", f"oci:{layout}:src")
    src_digest = _raw_digest(clients, f"oci:{layout}:src")
    dest = f"docker://{wharf_server.host}/admin/layers"
    clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        _creds(),
        f"oci:{layout}:src",
        f"{dest}:v1",
    )
    info = json.loads(
        clients.run("skopeo", "inspect", "--tls-verify=false", "--creds", _creds(), f"{dest}:v1").stdout
    )
    assert info["Digest"] == src_digest
    assert len(info["Layers"]) >= 4
    # pull back by tag and by digest: byte-identical manifests
    for ref in (f"{dest}:v1", f"{dest}@{src_digest}"):
        out = tmp_path / f"out-{abs(hash(ref))}"
        clients.run("skopeo", "copy", "--src-tls-verify=false", "--src-creds", _creds(), ref, f"oci:{out}:x")
        assert _raw_digest(clients, f"oci:{out}:x") == src_digest
    tags = json.loads(
        clients.run("skopeo", "list-tags", "--tls-verify=false", "--creds", _creds(), dest).stdout
    )
    assert tags["Tags"] == ["v1"]
    clients.run("skopeo", "delete", "--tls-verify=false", "--creds", _creds(), f"{dest}@{src_digest}")
    gone = clients.run(
        "skopeo", "inspect", "--tls-verify=false", "--creds", _creds(), f"{dest}:v1", check=False
    )
    assert gone.returncode != 0


def test_skopeo_multi_arch_index_round_trip(
    clients: Clients, images: dict[str, str], wharf_server: WharfServer, tmp_path: Path
) -> None:
    layout = tmp_path / "multi"
    clients.run(
        "buildah", "manifest", "push", "--all", "--format", "oci", images["multi"], f"oci:{layout}:src"
    )
    src_digest = _raw_digest(clients, f"oci:{layout}:src")
    dest = f"docker://{wharf_server.host}/admin/multi"
    clients.run(
        "skopeo",
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        _creds(),
        f"oci:{layout}:src",
        f"{dest}:v1",
    )
    index = json.loads(
        clients.run(
            "skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", _creds(), f"{dest}:v1"
        ).stdout
    )
    raw = clients.run(
        "skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", _creds(), f"{dest}:v1"
    ).stdout
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == src_digest
    assert {m["platform"]["architecture"] for m in index["manifests"]} == {"amd64", "arm64"}
    for child in index["manifests"]:
        out = tmp_path / child["digest"].replace(":", "-")
        clients.run(
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            _creds(),
            f"{dest}@{child['digest']}",
            f"oci:{out}:x",
        )
        assert _raw_digest(clients, f"oci:{out}:x") == child["digest"]
    out = tmp_path / "all"
    clients.run(
        "skopeo",
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--src-creds",
        _creds(),
        f"{dest}@{src_digest}",
        f"oci:{out}:x",
    )
    assert _raw_digest(clients, f"oci:{out}:x") == src_digest


def test_podman_login_push_pull(clients: Clients, images: dict[str, str], wharf_server: WharfServer) -> None:
    host = wharf_server.host
    bad = clients.run(
        "podman", "login", "--tls-verify=false", "-u", "admin", "-p", "wrong", host, check=False
    )
    assert bad.returncode != 0
    clients.run("podman", "login", "--tls-verify=false", "-u", "admin", "-p", PASSWORD, host)
    ref = f"{host}/admin/podman:v1"
    clients.run("podman", "tag", images["busybox"], ref)
    clients.run("podman", "push", "--tls-verify=false", ref)
    pushed = json.loads(clients.run("podman", "image", "inspect", ref).stdout)[0]["Id"]
    clients.run("podman", "rmi", ref)
    clients.run("podman", "pull", "--tls-verify=false", ref)
    assert json.loads(clients.run("podman", "image", "inspect", ref).stdout)[0]["Id"] == pushed
    clients.run("podman", "logout", host)


def test_buildah_push(clients: Clients, images: dict[str, str], wharf_server: WharfServer) -> None:
    ref = f"{wharf_server.host}/admin/buildah:v1"
    clients.run(
        "buildah", "push", "--tls-verify=false", "--creds", _creds(), images["busybox"], f"docker://{ref}"
    )
    info = json.loads(
        clients.run("skopeo", "inspect", "--tls-verify=false", "--creds", _creds(), f"docker://{ref}").stdout
    )
    assert info["Name"].endswith("/admin/buildah")


def _token(server: WharfServer, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(scope)}"}


def test_oras_artifact_with_subject_and_referrers(
    clients: Clients, images: dict[str, str], wharf_server: WharfServer, tmp_path: Path
) -> None:
    import oras.client

    repo = f"{wharf_server.host}/admin/artifacts"
    clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        _creds(),
        f"containers-storage:{images['busybox']}",
        f"docker://{repo}:app",
    )
    subject_raw = clients.run(
        "skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", _creds(), f"docker://{repo}:app"
    ).stdout.encode()
    subject = {
        "mediaType": json.loads(subject_raw)["mediaType"],
        "digest": "sha256:" + hashlib.sha256(subject_raw).hexdigest(),
        "size": len(subject_raw),
    }

    client = oras.client.OrasClient(hostname=wharf_server.host, insecure=True)
    client.login(username="admin", password=PASSWORD, hostname=wharf_server.host, tls_verify=False)
    sbom = tmp_path / "sbom.json"
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "busybox"}))
    container = f"{repo}:sbom"
    for blob, media in ((sbom, "application/spdx+json"),):
        client.upload_blob(
            str(blob),
            client.get_container(container),
            {
                "mediaType": media,
                "digest": "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest(),
                "size": blob.stat().st_size,
            },
        )
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    client.upload_blob(
        str(empty),
        client.get_container(container),
        {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
            "size": 2,
        },
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/spdx+json",
                "digest": "sha256:" + hashlib.sha256(sbom.read_bytes()).hexdigest(),
                "size": sbom.stat().st_size,
            }
        ],
        "subject": subject,
    }
    resp = client.upload_manifest(manifest, client.get_container(container))
    assert resp.status_code == 201, resp.text
    assert resp.headers["OCI-Subject"] == subject["digest"]
    manifest_digest = resp.headers["Docker-Content-Digest"]

    h = _token(wharf_server, "repository:admin/artifacts:pull")
    r = httpx.get(f"{wharf_server.url}/v2/admin/artifacts/referrers/{subject['digest']}", headers=h)
    assert r.status_code == 200
    refs = r.json()["manifests"]
    assert [(d["digest"], d["artifactType"]) for d in refs] == [(manifest_digest, "application/spdx+json")]
    r = httpx.get(
        f"{wharf_server.url}/v2/admin/artifacts/referrers/{subject['digest']}",
        params={"artifactType": "application/vnd.example.none"},
        headers=h,
    )
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert r.json()["manifests"] == []
    pulled = client.pull(target=container, outdir=str(tmp_path / "pulled"))
    assert [Path(p).read_bytes() for p in pulled] == [sbom.read_bytes()]


def test_server_killed_during_chunked_upload(wharf_server: WharfServer) -> None:
    data = os.urandom(3 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    h = _token(wharf_server, "repository:admin/crash:pull,push")
    with httpx.Client(base_url=wharf_server.url, headers=h, timeout=60) as c:
        r = c.post("/v2/admin/crash/blobs/uploads/")
        location = r.headers["Location"]
        half = len(data) // 2
        r = c.patch(location, content=data[:half], headers={"Content-Range": f"0-{half - 1}"})
        assert r.status_code == 202
        abandoned = c.post("/v2/admin/crash/blobs/uploads/").headers["Location"]
        c.patch(abandoned, content=b"never finished", headers={"Content-Range": "0-13"})

    assert wharf_server.proc is not None
    os.killpg(wharf_server.proc.pid, signal.SIGKILL)
    wharf_server.proc.wait(10)
    time.sleep(0.2)
    wharf_server.start()

    with httpx.Client(base_url=wharf_server.url, headers=h, timeout=60) as c:
        status = c.get(location)
        assert status.status_code == 204
        assert status.headers["Range"] == f"0-{half - 1}"
        r = c.patch(location, content=data[half:], headers={"Content-Range": f"{half}-{len(data) - 1}"})
        assert r.status_code == 202
        r = c.put(r.headers["Location"], params={"digest": digest})
        assert r.status_code == 201, r.text
        assert (
            hashlib.sha256(c.get(f"/v2/admin/crash/blobs/{digest}").content).hexdigest()
            == digest.split(":")[1]
        )
        never = "sha256:" + hashlib.sha256(b"never finished").hexdigest()
        assert c.head(f"/v2/admin/crash/blobs/{never}").status_code == 404

"""podman loads the squashed download of a multi-layer image: one layer, every file there."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import BuiltImages
from tests.e2e.harness import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    CLIENT_TOOLS,
    SERVER_KIND,
    Clients,
    Server,
    creds_args,
    require_tools,
)

require_tools(*CLIENT_TOOLS)
if SERVER_KIND != "wharf":
    pytest.skip("squashed downloads are Wharf's", allow_module_level=True)

pytestmark = pytest.mark.e2e


def test_podman_loads_a_squashed_image(
    server: Server, clients: Clients, images: BuiltImages, tmp_path: Path
) -> None:
    repo = "admin/e2e-squash"
    clients.run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        *creds_args(server.creds, "--dest-creds"),
        images.layers_oci,
        f"docker://{server.host}/{repo}:v1",
    )
    archive = tmp_path / "squashed.tar"
    with httpx.stream(
        "GET", f"{server.url}/c1/squash/{repo}/v1", auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=120
    ) as r:
        assert r.status_code == 200, r.read()
        with archive.open("wb") as f:
            for chunk in r.iter_bytes():
                f.write(chunk)

    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert len(manifest[0]["Layers"]) == 1
    with tarfile.open(fileobj=io.BytesIO(layer)) as flat:
        names = set(flat.getnames())
        assert flat.extractfile("data/run.txt").read() == b"built-by-wharf-e2e\n"  # type: ignore[union-attr]
    assert {"data/a.bin", "data/b.bin", "bin/busybox"} <= names

    loaded = clients.run("podman", "load", "-i", str(archive)).stdout
    assert f"{server.host}/{repo}:v1" in loaded
    info = json.loads(clients.run("podman", "image", "inspect", f"{server.host}/{repo}:v1").stdout)[0]
    assert len(info["RootFS"]["Layers"]) == 1

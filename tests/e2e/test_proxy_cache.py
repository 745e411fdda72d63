"""A proxy-cache organization in a real `wharf serve` whose upstream is a second Wharf (Bearer token
logins with a scope per repository), pulled through by skopeo: the bytes come back identical, and
again from the cache once the upstream is gone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import BuiltImages
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

require_tools(*CLIENT_TOOLS)

pytestmark = pytest.mark.e2e

if SERVER_KIND != "wharf":
    pytest.skip("the proxy cache is Wharf's: the server under test must be wharf", allow_module_level=True)


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"WHARF_FEATURE_PROXY_CACHE": "true", "WHARF_SSRF_ALLOWED_HOSTS": '["127.0.0.1"]'}


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "upstream", kind="wharf")
    srv.workdir.mkdir(parents=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        print(f"--- upstream log ({srv.log_path}) ---\n{srv.log_tail()}")


def test_skopeo_pulls_a_multi_arch_image_through_a_proxy_cache_of_another_wharf(
    server: Server, upstream: Server, clients: Clients, images: BuiltImages, tmp_path: Path
) -> None:
    clients.allow(upstream.host)
    creds = f"{ADMIN_USER}:{ADMIN_PASSWORD}"
    for source, name in ((images.multi_oci, "multi"), (images.layers_oci, "layers")):
        clients.run(
            "skopeo",
            "copy",
            "--all",
            "--dest-tls-verify=false",
            *creds_args(creds, "--dest-creds"),
            source,
            f"docker://{upstream.host}/admin/{name}:v1",
        )
    with admin_api(server) as api:
        assert api.post("/organization/", json={"name": "cache"}).status_code == 201
        config = {
            "upstream_registry": f"{upstream.host}/admin",
            "upstream_registry_username": ADMIN_USER,
            "upstream_registry_password": ADMIN_PASSWORD,
            "insecure": True,
        }
        r = api.post("/organization/cache/validateproxycache", json=config)
        assert r.status_code == 202 and r.json() == "Valid", r.text
        assert api.post("/organization/cache/proxycache", json=config).status_code == 201

    index_raw = clients.skopeo_raw(images.multi_oci)
    layers_raw = clients.skopeo_raw(images.layers_oci)

    def pull_all(into: Path) -> None:
        for name in ("multi", "layers"):
            clients.run(
                "skopeo",
                "copy",
                "--all",
                "--src-tls-verify=false",
                *creds_args(server.creds, "--src-creds"),
                f"docker://{server.host}/cache/{name}:v1",
                f"oci:{into}:{name}",
            )
        assert clients.skopeo_raw(f"oci:{into}:multi") == index_raw
        assert clients.skopeo_raw(f"oci:{into}:layers") == layers_raw
        index = json.loads(index_raw)
        for child in index["manifests"]:
            blob = into / "blobs" / "sha256" / child["digest"].split(":")[1]
            assert blob.exists()

    pull_all(tmp_path / "first")
    upstream.stop()
    pull_all(tmp_path / "cached")

"""GET /c1/squash/...: the flattened image streams as a docker-archive and is cached after."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from tests.integration.world import PW, World
from tests.unit.test_squash import BOTTOM, TOP
from wharf.jobs import gc
from wharf.oci import mediatypes as mt

REPO = "acme/app"


async def _push_layers(world: World) -> str:
    reg = world.reg
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": await reg.push_blob(REPO, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": await reg.push_blob(REPO, BOTTOM),
                "size": len(BOTTOM),
            },
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": await reg.push_blob(REPO, TOP),
                "size": len(TOP),
            },
        ],
    }
    body = json.dumps(manifest).encode()
    assert (await reg.push_manifest(REPO, "v1", body)).status_code == 201
    return "sha256:" + hashlib.sha256(body).hexdigest()


async def test_squashed_download_and_cache(world: World) -> None:
    http = world.reg.http
    digest = await _push_layers(world)
    # RepoTags names SERVER_HOSTNAME, not the Host header of the request
    r = await http.get(f"/c1/squash/{REPO}/v1", auth=("reader", PW), headers={"Host": "evil.example"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == [f"registry.test/{REPO}:v1"]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert config["config"] == {"Cmd": ["/bin/sh"]}
    with tarfile.open(fileobj=io.BytesIO(layer)) as flat:
        names = set(flat.getnames())
    assert "etc/a" in names and "etc/b" not in names and "opt/x" not in names
    # the second download comes from the cache, byte for byte
    cached = "squashed/" + digest.replace(":", "-") + ".tar"
    assert await world.reg.wharf.rt.store.get_bytes(cached) == r.content
    again = await http.get(f"/c1/squash/{REPO}/v1", headers=world.api["owner"])
    assert again.status_code == 200 and again.content == r.content
    # once the image is gone, garbage collection drops the cached download too
    await http.put("/api/v1/organization/acme", json={"tag_expiration_s": 0}, headers=world.api["owner"])
    assert (await http.delete(f"/api/v1/repository/{REPO}", headers=world.api["owner"])).status_code == 204
    report = await gc.collect(world.reg.wharf.rt, grace_s=0)
    assert report.squashed_removed == 1 and await world.reg.wharf.rt.store.stat(cached) is None


async def test_squash_permissions_and_errors(world: World) -> None:
    http = world.reg.http
    await _push_layers(world)
    assert (await http.get(f"/c1/squash/{REPO}/v1")).status_code == 401
    assert (await http.get(f"/c1/squash/{REPO}/v1", auth=("outsider", PW))).status_code == 404
    assert (await http.get(f"/c1/squash/{REPO}/v1", auth=("reader", "wrong-password"))).status_code == 401
    assert (await http.get(f"/c1/squash/{REPO}/nope", auth=("reader", PW))).status_code == 404

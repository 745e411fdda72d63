"""Security scanning end to end: images built here from tar layers are pushed, the push queues
their indexing, the job queue indexes them from the blob store (issue 16)."""

from __future__ import annotations

import gzip
import json
from typing import Any

from tests.integration.registry_client import RegistryClient, sha256
from tests.integration.world import PW, World
from tests.unit.secscan.samples import DEBIAN_OS_RELEASE, DPKG_OPENSSL, DPKG_STATUS
from tests.unit.secscan.tarbuild import F, tar
from wharf.core import secscan as store
from wharf.jobs import runner
from wharf.oci import mediatypes as mt
from wharf.runtime import Runtime

REPO = "acme/app"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

BASE = gzip.compress(
    tar([F("etc/os-release", DEBIAN_OS_RELEASE.encode()), F("var/lib/dpkg/status", DPKG_STATUS.encode())])
)
# The next layer installs libssl3: dpkg rewrites its status file, the other packages stay.
OPENSSL = gzip.compress(tar([F("var/lib/dpkg/status", (DPKG_STATUS + DPKG_OPENSSL).encode())]))


async def drain(rt: Runtime) -> None:
    """Run every job that is ready, as the workers would."""
    while await runner.run_once(rt):
        pass


async def push_image(
    reg: RegistryClient,
    repo: str,
    tag: str,
    layers: list[bytes],
    *,
    config_type: str = mt.OCI_CONFIG,
    layer_type: str = GZIP_LAYER,
) -> bytes:
    """Push an image; returns its manifest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": await _blob(reg, repo, config), "size": len(config)},
        "layers": [
            {"mediaType": layer_type, "digest": await _blob(reg, repo, x), "size": len(x)} for x in layers
        ],
    }
    body = json.dumps(manifest).encode()
    r = await reg.push_manifest(repo, tag, body)
    assert r.status_code == 201, r.text
    return body


async def _blob(reg: RegistryClient, repo: str, data: bytes) -> str:
    return await reg.push_blob(repo, data, user="owner", password=PW)


async def test_a_pushed_image_is_indexed_with_the_layer_that_added_each_package(world: World) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE, OPENSSL]))
    assert (await rt.db.read(store.status)).waiting == 1  # the push queued it, and did no more
    assert await rt.db.read(store.get_index, digest) is None

    await drain(rt)
    index = await rt.db.read(store.get_index, digest)
    assert index is not None and index.status == "scanned" and index.reason is None
    assert index.distribution is not None and index.distribution["version_id"] == "12"
    found = {p.package.name: p.package for p in await rt.db.read(store.packages_of, digest)}
    assert sorted(found) == ["base-files", "libblkid1", "libc6", "libssl3"]
    assert found["libc6"].added_by == sha256(BASE)
    assert found["libssl3"].added_by == sha256(OPENSSL)
    ssl = found["libssl3"]
    assert (ssl.version, ssl.version_format, ssl.ecosystem, ssl.match_name, ssl.namespace) == (
        "3.0.11-1~deb12u2",
        "dpkg",
        "Debian:12",
        "openssl",
        "debian:12",
    )
    # binNMU: the advisories' versions are the source package's.
    assert (found["libblkid1"].match_name, found["libblkid1"].source_version) == ("util-linux", "2.38.1-5")


async def test_artifacts_lists_and_broken_layers(world: World) -> None:
    rt = world.reg.wharf.rt
    chart = sha256(
        await push_image(
            world.reg,
            REPO,
            "chart",
            [gzip.compress(b"a chart")],
            config_type=HELM_CONFIG,
            layer_type=HELM_LAYER,
        )
    )
    image_body = await push_image(world.reg, REPO, "debian", [BASE])
    image = sha256(image_body)
    broken = sha256(await push_image(world.reg, REPO, "broken", [gzip.compress(b"x" * 700)]))
    child = {"mediaType": mt.OCI_MANIFEST, "digest": image, "size": len(image_body)}
    index_body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [child]}).encode()
    r = await world.reg.push_manifest(REPO, "multi", index_body, mt.OCI_INDEX)
    assert r.status_code == 201, r.text
    await drain(rt)

    statuses = {d: await rt.db.read(store.get_index, d) for d in (chart, image, broken, sha256(index_body))}
    assert {d: (i.status if i else None) for d, i in statuses.items()} == {
        chart: "unsupported",
        image: "scanned",
        broken: "failed",
        sha256(index_body): "unsupported",
    }
    chart_index, broken_index = statuses[chart], statuses[broken]
    assert chart_index is not None and HELM_CONFIG in (chart_index.reason or "")
    assert broken_index is not None and sha256(gzip.compress(b"x" * 700)) in (broken_index.reason or "")


async def test_the_backfill_indexes_what_has_no_index(world: World) -> None:
    rt = world.reg.wharf.rt
    digest = sha256(await push_image(world.reg, REPO, "debian", [BASE]))
    await drain(rt)
    assert await rt.db.write(store.forget_index, digest)  # as if pushed before scanning existed

    await runner.HANDLERS["secscan_backfill"](rt, {})
    await drain(rt)
    index = await rt.db.read(store.get_index, digest)
    assert index is not None and index.status == "scanned"
    await runner.HANDLERS["secscan_backfill"](rt, {})  # nothing left to do
    assert (await rt.db.read(store.status)).waiting == 0

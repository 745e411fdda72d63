"""The manifest page: layers, the images of an index, labels (added, removed, expiring tags)."""

from __future__ import annotations

import json
import os
import re

from tests.integration.registry_client import RegistryClient, sha256
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest
from wharf.storage.base import blob_path


async def test_an_index_lists_its_images_and_each_shows_its_layers(
    admin: Visitor, reg: RegistryClient
) -> None:
    repo = "admin/multi"
    amd, amd_manifest = await reg.push_image(repo, layers=3)
    arm, _ = await reg.push_image(repo, layers=1)
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": d,
                "size": 100,
                "platform": {"os": "linux", "architecture": a},
            }
            for d, a in ((amd, "amd64"), (arm, "arm64"))
        ],
    }
    body = json.dumps(index).encode()
    assert (await reg.push_manifest(repo, "latest", body, mt.OCI_INDEX)).status_code == 201
    tags_tab = (await admin.get(f"/repository/{repo}?tab=tags")).text
    assert f"/repository/{repo}/manifest/{sha256(body)}" in tags_tab and ">linux/arm64<" in tags_tab

    page = (await admin.get(f"/repository/{repo}/manifest/{sha256(body)}")).text
    platforms = _rows(page, "platforms")
    assert [row.split()[0] for row in platforms] == ["linux/amd64", "linux/arm64"], platforms
    assert f'href="/repository/{repo}/manifest/{amd}"' in page
    assert f'href="/repository/{repo}/manifest/{arm}"' in page
    assert "<h3>History</h3>" not in page and 'class="layers"' not in page
    child = (await admin.get(f"/repository/{repo}/manifest/{amd}")).text
    for layer in amd_manifest["layers"]:
        assert layer["digest"].split(":")[1][:12] in child
    assert "only reachable by digest" in child
    await admin.submit(f"/repository/{repo}", f"/repository/{repo}/star")
    assert "★ Starred" in (await admin.get(f"/repository/{repo}/manifest/{amd}")).text

    assert (await admin.get(f"/repository/{repo}/manifest/sha256:{'0' * 64}")).status_code == 404


async def test_labels_add_expire_and_delete(
    admin: Visitor, reg: RegistryClient, world: World, wharf: WharfApp
) -> None:
    repo = "admin/labelled"
    digest, _ = await reg.push_image(repo, "v1")
    page = f"/repository/{repo}/manifest/{digest}"
    r = await admin.submit(page, f"{page}/labels/add", key="team", value="<blue>")
    assert r.status_code == 303
    shown = (await admin.get(page)).text
    assert "&lt;blue&gt;" in shown
    r = await admin.submit(page, f"{page}/labels/add", key="quay.expires-after", value="2w")
    assert r.status_code == 303
    tags_tab = (await admin.get(f"/repository/{repo}?tab=tags")).text
    assert "in 13 days" in tags_tab or "in 14 days" in tags_tab
    r = await admin.submit(page, f"{page}/labels/add", key="", value="x")
    assert r.status_code == 400
    delete = await admin.form(page, f"{page}/labels/delete")
    r = await admin.http.post(f"{page}/labels/delete", data=delete.fields)
    assert r.status_code == 303

    # a reader sees the labels and no forms
    await reg.push_image("acme/app", "v1", user="owner", password=PW)
    reader = Visitor(wharf)
    try:
        await reader.sign_in("reader", PW)
        acme_digest = (
            await reg.http.head("/v2/acme/app/manifests/v1", headers=await reg.headers("acme/app"))
        ).headers["Docker-Content-Digest"]
        acme_page = f"/repository/acme/app/manifest/{acme_digest}"
        assert "labels/add" not in (await reader.get(acme_page)).text
        token = (await reader.form("/", "/signout")).fields["_csrf_token"]
        r = await reader.http.post(
            f"{acme_page}/labels/add", data={"_csrf_token": token, "key": "k", "value": "v"}
        )
        assert r.status_code == 403
    finally:
        await reader.close()


async def test_a_repository_with_a_manifest_component_still_opens(
    admin: Visitor, reg: RegistryClient
) -> None:
    await reg.push_image("admin/manifest/tool", "v1")
    r = await admin.get("/repository/admin/manifest/tool?tab=tags")
    assert r.status_code == 200 and "v1" in r.text


_HISTORY = [
    {
        "created": "2026-11-02T10:00:00.123456789Z",
        "created_by": "/bin/sh -c #(nop) ADD file:1a2b3c in / ",
    },
    {"created": "2026-11-02T10:00:01Z", "created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
    {"created": "2026-11-03T09:00:00Z", "created_by": "/bin/sh -c apk add --no-cache nginx"},
    {"created": "2026-11-03T09:00:02Z", "created_by": "ENV APP_MODE=<prod>", "empty_layer": True},
    {
        "created": "2026-11-03T09:00:03Z",
        "created_by": "RUN /bin/sh -c make install # buildkit",
        "comment": "buildkit.dockerfile.v0",
    },
]


async def _push_with_history(reg: RegistryClient, repo: str, tag: str) -> tuple[str, list[int]]:
    sizes = [1000, 2000, 3000]
    layers = []
    for size in sizes:
        data = os.urandom(size)
        layers.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": await reg.push_blob(repo, data),
                "size": size,
            }
        )
    config = json.dumps(
        {
            "architecture": "arm64",
            "variant": "v8",
            "os": "linux",
            "created": "2026-11-03T09:00:03Z",
            "config": {
                "Entrypoint": ["/docker-entrypoint.sh"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "Env": ["PATH=/usr/bin", "APP_MODE=<prod>"],
                "WorkingDir": "/srv",
                "User": "nginx",
                "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
                "Labels": {"org.opencontainers.image.title": "web"},
            },
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": _HISTORY,
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": await reg.push_blob(repo, config),
            "size": len(config),
        },
        "layers": layers,
    }
    body = json.dumps(manifest).encode()
    assert (await reg.push_manifest(repo, tag, body)).status_code == 201
    return sha256(body), sizes


def _rows(page: str, table: str) -> list[str]:
    body = page.split(f'<table class="grid {table}">', 1)[1].split("</table>", 1)[0]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)[1:]
    ]


async def test_an_image_shows_its_history_and_configuration(admin: Visitor, reg: RegistryClient) -> None:
    repo = "admin/web"
    digest, _sizes = await _push_with_history(reg, repo, "v1")
    page = (await admin.get(f"/repository/{repo}/manifest/{digest}")).text

    rows = _rows(page, "history")
    assert rows == [
        "1 2026-11-02 10:00 UTC ADD file:1a2b3c in / 1000 B",
        "2 2026-11-02 10:00 UTC CMD [&#34;sh&#34;] empty layer",
        "3 2026-11-03 09:00 UTC RUN apk add --no-cache nginx 2.0 KiB",
        "4 2026-11-03 09:00 UTC ENV APP_MODE=&lt;prod&gt; empty layer",
        "5 2026-11-03 09:00 UTC RUN make install buildkit.dockerfile.v0 2.9 KiB",
    ], rows
    assert page.count('class="empty-layer"') == 2

    config = page.split('<dl class="facts image-config">', 1)[1].split("</dl>", 1)[0]
    assert "linux/arm64/v8" in config
    assert "[&#34;/docker-entrypoint.sh&#34;]" in config
    assert "[&#34;nginx&#34;, &#34;-g&#34;, &#34;daemon off;&#34;]" in config
    assert "<code>/srv</code>" in config and "<code>nginx</code>" in config
    assert "<code>443/tcp</code>, <code>80/tcp</code>" in config
    assert "<code>APP_MODE=&lt;prod&gt;</code>" in config and "<code>PATH=/usr/bin</code>" in config
    # labels from the configuration, and the blobs folded under Layers with the config first
    assert "org.opencontainers.image.title" in page
    layers = page.split('<details class="layers">', 1)[1].split("</details>", 1)[0]
    assert "Layers: 3, 5.9 KiB" in layers and layers.count('class="digest"') == 4


async def test_a_configuration_too_big_or_missing_is_explained(
    admin: Visitor, reg: RegistryClient, wharf: WharfApp
) -> None:
    repo = "admin/odd"
    digest, manifest = await reg.push_image(repo, "v1")
    page = (await admin.get(f"/repository/{repo}/manifest/{digest}")).text
    # a configuration without history: the layers, each without a step
    assert page.count("no history recorded") == len(manifest["layers"])

    await wharf.rt.store.delete(blob_path(Digest.parse(manifest["config"]["digest"])))
    page = (await admin.get(f"/repository/{repo}/manifest/{digest}")).text
    assert "The image configuration is not stored in this registry." in page

    big = b'{"history": []}' + b" " * (4 * 1024 * 1024)
    huge = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": await reg.push_blob(repo, big), "size": len(big)},
        "layers": [],
    }
    body = json.dumps(huge).encode()
    assert (await reg.push_manifest(repo, "big", body)).status_code == 201
    page = (await admin.get(f"/repository/{repo}/manifest/{sha256(body)}")).text
    assert "more than the 4 MiB this page reads" in page


async def test_an_index_marks_variants_and_attestations(admin: Visitor, reg: RegistryClient) -> None:
    repo = "admin/attested"
    image, _ = await _push_with_history(reg, repo, "arm")
    attestation, _ = await reg.push_image(repo, layers=1)
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": image,
                "size": 100,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": attestation,
                "size": 100,
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {
                    "vnd.docker.reference.type": "attestation-manifest",
                    "vnd.docker.reference.digest": image,
                },
            },
        ],
    }
    body = json.dumps(index).encode()
    assert (await reg.push_manifest(repo, "latest", body, mt.OCI_INDEX)).status_code == 201
    rows = _rows((await admin.get(f"/repository/{repo}/manifest/{sha256(body)}")).text, "platforms")
    assert rows[0].startswith("linux/arm64/v8 ")
    assert rows[1].startswith(f"attestation for {image[:19]}"), rows

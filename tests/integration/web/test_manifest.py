"""The manifest page: layers, the images of an index, labels (added, removed, expiring tags)."""

from __future__ import annotations

import json

from tests.integration.registry_client import RegistryClient, sha256
from tests.integration.web_client import Visitor
from tests.integration.world import PW, World
from wharf.app import WharfApp
from wharf.oci import mediatypes as mt


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
    assert "linux/amd64" in page and "linux/arm64" in page
    assert f"/repository/{repo}/manifest/{amd}" in page
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

"""Response shapes real Quay clients read: builds and security scans answered as Quay answers them
when the feature has nothing to show, the user fields Quay has, quota reports, index tags and
manifest layers filled from the image configuration's history."""

from __future__ import annotations

import pytest

from tests.integration.world import World

REPO = "acme/app"


async def _image(world: World) -> str:
    digest, _ = await world.reg.push_image(REPO, "latest", user="owner", password="matrix-password")
    return digest


async def test_repo_builds_are_an_empty_list(world: World) -> None:
    http = world.reg.http
    for who in ("reader", "owner", "admin"):
        r = await http.get(f"/api/v1/repository/{REPO}/build/", headers=world.api[who])
        assert r.status_code == 200, r.text
        assert r.json() == {"builds": []}
    r = await http.get(f"/api/v1/repository/{REPO}/build/?limit=10&since=0", headers=world.api["reader"])
    assert r.json() == {"builds": []}
    # read on the repository is needed, as in Quay
    assert (
        await http.get(f"/api/v1/repository/{REPO}/build/", headers=world.api["outsider"])
    ).status_code == 404
    assert (await http.get(f"/api/v1/repository/{REPO}/build/")).status_code == 401
    assert (await http.get("/api/v1/repository/acme/pub/build/")).json() == {"builds": []}
    assert (
        await http.get("/api/v1/repository/acme/nothing/build/", headers=world.api["owner"])
    ).status_code == 404


async def test_manifest_security_is_unsupported(world: World) -> None:
    http = world.reg.http
    digest = await _image(world)
    url = f"/api/v1/repository/{REPO}/manifest/{digest}/security"
    for who in ("reader", "owner"):
        r = await http.get(url, headers=world.api[who])
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "unsupported", "data": None}
    r = await http.get(url + "?vulnerabilities=true", headers=world.api["reader"])
    assert r.json() == {"status": "unsupported", "data": None}
    assert (await http.get(url, headers=world.api["outsider"])).status_code == 404
    assert (await http.get(url)).status_code == 401
    missing = f"/api/v1/repository/{REPO}/manifest/sha256:{'0' * 64}/security"
    assert (await http.get(missing, headers=world.api["reader"])).status_code == 404


@pytest.mark.parametrize("path", ["build/", "manifest/{digest}/security"])
async def test_placeholders_are_in_the_api_documents(world: World, path: str) -> None:
    doc = (await world.reg.http.get("/api/v1/openapi.json")).json()
    wanted = "/api/v1/repository/{repository}/" + path.replace("{digest}", "{manifestref}")
    assert wanted in doc["paths"]

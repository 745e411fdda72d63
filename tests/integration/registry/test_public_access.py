"""Public repositories: anonymous pull, no anonymous push, the FEATURE_ANONYMOUS_ACCESS switch."""

from __future__ import annotations

import httpx
import jwt

from tests.integration.registry_client import RegistryClient
from wharf.app import build_app
from wharf.config import Settings
from wharf.core import repositories

REPO = "admin/pub"


async def _make_public(reg: RegistryClient) -> str:
    digest, _ = await reg.push_image(REPO, "v1")
    repo = await reg.wharf.rt.db.read(repositories.get, "admin", "pub")
    assert repo is not None
    await reg.wharf.rt.db.write(repositories.set_visibility, repo, "public", None)
    return digest


async def test_anonymous_pull_of_public_repository(reg: RegistryClient) -> None:
    digest = await _make_public(reg)
    token = await reg.token(f"repository:{REPO}:pull,push", user=None)
    access = jwt.decode(token, options={"verify_signature": False})["access"]
    assert access == [{"type": "repository", "name": REPO, "actions": ["pull"]}]
    h = {"Authorization": f"Bearer {token}"}
    r = await reg.http.get(f"/v2/{REPO}/manifests/v1", headers=h)
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest
    r = await reg.http.post(f"/v2/{REPO}/blobs/uploads/", headers=h)
    assert r.status_code == 401


async def test_private_repository_is_invisible_to_anonymous(reg: RegistryClient) -> None:
    await reg.push_image("admin/priv", "v1")
    token = await reg.token("repository:admin/priv:pull", user=None)
    r = await reg.http.get("/v2/admin/priv/manifests/v1", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_anonymous_access_can_be_switched_off(reg: RegistryClient, settings: Settings) -> None:
    await _make_public(reg)
    closed = build_app(settings.model_copy(update={"FEATURE_ANONYMOUS_ACCESS": False}), run_workers=False)
    try:
        transport = httpx.ASGITransport(app=closed)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
            r = await c.get("/v2/auth", params={"scope": f"repository:{REPO}:pull"})
            assert r.status_code == 401
    finally:
        await closed.rt.close()

"""FEATURE_RESTRICTED_USERS for database users (AUTHENTICATION_TYPE Database), as Quay has it:
every user not in RESTRICTED_USERS_WHITELIST is restricted, superusers never are. Directory users
are tested in tests/integration/identity/test_directory_sync.py, the whole rule in
tests/core/test_restricted_users.py."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.integration.registry_client import RegistryClient
from tests.integration.world import api_token
from wharf.config import Settings
from wharf.core import repositories

PW = "restricted-password"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"FEATURE_RESTRICTED_USERS": True, "RESTRICTED_USERS_WHITELIST": ["wendy"]}
    )


async def _create_repo(reg: RegistryClient, user: str, name: str) -> httpx.Response:
    body = {"repository": name, "visibility": "private", "description": ""}  # in their own namespace
    return await reg.http.post("/api/v1/repository", json=body, headers=await api_token(reg, user))


async def _blob_upload(reg: RegistryClient, repo: str, user: str, password: str) -> int:
    """Status of a monolithic blob upload with a token asked for push."""
    token = await reg.token(f"repository:{repo}:pull,push", user=user, password=password)
    r = await reg.http.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": "sha256:" + "0" * 64},
        content=b"",
        headers={"Authorization": f"Bearer {token}"},
    )
    return r.status_code


async def test_a_user_not_whitelisted_writes_nothing_of_their_own(reg: RegistryClient) -> None:
    await reg.create_user("rob", PW)
    # a repository made before the feature was turned on stays readable, never writable
    await reg.wharf.rt.db.write(repositories.create, "rob", "old", visibility="private", actor=None)
    r = await _create_repo(reg, "rob", "app")
    assert r.status_code == 403, r.text
    h = await api_token(reg, "rob")
    assert await _blob_upload(reg, "rob/new", "rob", PW) == 401  # pushing would create it
    assert await _blob_upload(reg, "rob/old", "rob", PW) == 401
    r = await reg.http.get("/api/v1/repository/rob/old", headers=h)
    assert r.status_code == 200 and r.json()["can_write"] is False
    r = await reg.http.post("/api/v1/organization/", json={"name": "robs"}, headers=h)
    assert r.status_code == 403 and "restricted users cannot create organizations" in r.json()["detail"]
    r = await reg.http.put("/api/v1/user/robots/ci", headers=h)
    assert r.status_code == 403


async def test_a_restricted_user_still_administers_what_their_namespace_holds(reg: RegistryClient) -> None:
    """As on Quay: its content is frozen (tags, triggers), but visibility, description and the
    repository itself are still theirs to change."""
    await reg.create_user("rob", PW)
    await reg.wharf.rt.db.write(repositories.create, "rob", "old", visibility="private", actor=None)
    h = await api_token(reg, "rob")
    r = await reg.http.put(
        "/api/v1/repository/rob/old/tag/v1", json={"manifest_digest": "sha256:" + "0" * 64}, headers=h
    )
    assert r.status_code == 403 and "restricted user owned namespace" in r.json()["detail"]
    assert (await reg.http.get("/api/v1/repository/rob/old/trigger/", headers=h)).status_code == 403
    r = await reg.http.post(
        "/api/v1/repository/rob/old/changevisibility", json={"visibility": "public"}, headers=h
    )
    assert r.status_code == 200, r.text
    r = await reg.http.put("/api/v1/repository/rob/old", json={"description": "kept"}, headers=h)
    assert r.status_code == 200, r.text
    assert (await reg.http.delete("/api/v1/repository/rob/old", headers=h)).status_code == 204
    assert (await reg.http.get("/api/v1/repository/rob/old", headers=h)).status_code == 404


async def test_whitelisted_users_and_superusers_are_not_restricted(reg: RegistryClient) -> None:
    await reg.create_user("wendy", PW)
    assert (await _create_repo(reg, "wendy", "app")).status_code == 201
    await reg.push_blob("wendy/other", b"layer", user="wendy", password=PW)
    # admin is not whitelisted, but a superuser (Quay exempts SUPER_USERS)
    assert (await _create_repo(reg, "admin", "app")).status_code == 201
    await reg.push_blob("admin/other", b"layer", user="admin", password=ADMIN_PASSWORD)

"""The permission resolver as a table: identity x repository x action, through the real surfaces.

Every row logs in the way a client does (/v2/auth with a password, or a /api/v1 bearer token),
and checks what the registry token grants and what the API lets the identity do.
"""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.integration.registry_client import RegistryClient
from tests.integration.world import PW, World, api_token
from wharf.core import scopes


async def _granted(reg: RegistryClient, who: str, repo: str) -> list[str] | None:
    """The actions /v2/auth grants `who` on `repo`, or None when the login itself is refused."""
    auth = None if who == "anonymous" else (who, ADMIN_PASSWORD if who == "admin" else PW)
    r = await reg.http.get("/v2/auth", params={"scope": f"repository:{repo}:pull,push,*"}, auth=auth)
    if r.status_code == 401:
        return None
    assert r.status_code == 200, r.text
    access = jwt.decode(r.json()["token"], options={"verify_signature": False})["access"]
    return sorted(access[0]["actions"])


ALL = ["*", "pull", "push"]
RW = ["pull", "push"]
R = ["pull"]
NONE: list[str] = []

# identity -> (private acme/app, public acme/pub, not-yet-existing acme/new)
REGISTRY_TABLE = {
    "anonymous": (NONE, R, NONE),
    "admin": (ALL, ALL, ALL),  # superuser
    "owner": (ALL, ALL, ALL),  # owners team: admin of the organization
    "reader": (R, R, NONE),  # member of a team granted read
    "writer": (RW, RW, NONE),  # member of a team granted write
    "maker": (NONE, R, ALL),  # creator team: may create, no role on existing repositories
    "direct": (ALL, ALL, NONE),  # direct admin grant on both repositories
    "outsider": (NONE, R, NONE),
    "disabled": (None, None, None),  # cannot log in at all
}


@pytest.mark.parametrize("who", list(REGISTRY_TABLE))
async def test_registry_access_table(world: World, who: str) -> None:
    got = tuple([await _granted(world.reg, who, repo) for repo in ("acme/app", "acme/pub", "acme/new")])
    assert got == REGISTRY_TABLE[who]


@pytest.mark.parametrize("who", ["reader", "writer", "outsider", "direct", "owner"])
async def test_granted_actions_work_and_others_are_refused(world: World, who: str) -> None:
    reg = world.reg
    token = (
        await reg.http.get("/v2/auth", params={"scope": "repository:acme/app:pull,push"}, auth=(who, PW))
    ).json()
    h = {"Authorization": f"Bearer {token['token']}"}
    can_pull = "pull" in (REGISTRY_TABLE[who][0] or [])
    can_push = "push" in (REGISTRY_TABLE[who][0] or [])
    listing = await reg.http.get("/v2/acme/app/tags/list", headers=h)
    assert listing.status_code == (200 if can_pull else 401)
    upload = await reg.http.post("/v2/acme/app/blobs/uploads/", headers=h)
    assert upload.status_code == (202 if can_push else 401)
    if not can_pull:
        assert listing.json()["errors"][0]["code"] == "UNAUTHORIZED"


# identity -> status of GET /api/v1/repository/acme/app/permissions/user/ (repository admin only)
API_TABLE = {
    "anonymous": 401,
    "admin": 200,
    "owner": 200,
    "direct": 200,
    "reader": 403,
    "writer": 403,
    "maker": 404,
    "outsider": 404,
}


@pytest.mark.parametrize("who", list(API_TABLE))
async def test_permission_api_needs_repository_admin(world: World, who: str) -> None:
    headers = world.api.get(who, {})
    r = await world.reg.http.get("/api/v1/repository/acme/app/permissions/user/", headers=headers)
    assert r.status_code == API_TABLE[who], r.text
    if r.status_code == 200:
        assert set(r.json()["permissions"]) == {"direct"}
    change = await world.reg.http.put(
        "/api/v1/repository/acme/app/permissions/user/outsider", json={"role": "read"}, headers=headers
    )
    assert change.status_code == API_TABLE[who]


async def test_token_scopes_cap_roles(world: World) -> None:
    reg = world.reg
    readonly = await api_token(reg, "owner", frozenset({scopes.REPO_READ}))
    r = await reg.http.get("/api/v1/repository/acme/app/permissions/user/", headers=readonly)
    assert r.status_code == 403
    no_org_admin = await api_token(reg, "owner", frozenset({scopes.REPO_ADMIN}))
    r = await reg.http.put("/api/v1/organization/acme/team/x1", json={"role": "member"}, headers=no_org_admin)
    assert r.status_code == 403
    r = await reg.http.get("/api/v1/repository/acme/app/permissions/user/", headers=no_org_admin)
    assert r.status_code == 200


async def test_creator_becomes_admin_of_what_it_creates(world: World) -> None:
    reg = world.reg
    await reg.push_blob("acme/made", b"x", user="maker", password=PW)
    assert await _granted(reg, "maker", "acme/made") == ALL
    r = await reg.http.get("/api/v1/repository/acme/made/permissions/user/", headers=world.api["maker"])
    assert r.json()["permissions"]["maker"]["role"] == "admin"
    # other creators do not get in
    assert await _granted(reg, "reader", "acme/made") == NONE


async def test_revoking_a_grant_takes_effect(world: World) -> None:
    reg = world.reg
    owner = world.api["owner"]
    r = await reg.http.delete("/api/v1/repository/acme/app/permissions/team/writers", headers=owner)
    assert r.status_code == 204
    assert await _granted(reg, "writer", "acme/app") == NONE
    r = await reg.http.delete("/api/v1/organization/acme/team/readers/members/reader", headers=owner)
    assert r.status_code == 204
    assert await _granted(reg, "reader", "acme/app") == NONE
    r = await reg.http.delete("/api/v1/repository/acme/app/permissions/team/writers", headers=owner)
    assert r.status_code == 404


async def test_catalog_follows_the_resolver(world: World) -> None:
    reg = world.reg

    async def catalog(user: str) -> list[str]:
        r = await reg.http.get("/v2/auth", params={"scope": "registry:catalog:*"}, auth=(user, PW))
        c = await reg.http.get("/v2/_catalog", headers={"Authorization": f"Bearer {r.json()['token']}"})
        return list(c.json()["repositories"])

    assert await catalog("owner") == ["acme/app", "acme/pub"]
    assert await catalog("reader") == ["acme/app", "acme/pub"]
    assert await catalog("outsider") == []
    assert await catalog("maker") == []


@pytest.mark.parametrize("who", ["owner", "admin"])
async def test_a_user_read_token_lists_no_private_repository(world: World, who: str) -> None:
    """A token with only user:read reads no private repository, so neither search, the repository
    listing nor the catalog (through a registry token it logs in for) names one; repo:read does."""
    reg = world.reg
    token = await api_token(reg, who, frozenset({scopes.USER_READ}))
    # the superuser reads acme/app through its super:user scope, the owner through repo:read
    reading = await api_token(
        reg, who, frozenset({scopes.SUPER_USER if who == "admin" else scopes.REPO_READ})
    )

    async def found(headers: dict[str, str]) -> set[str]:
        r = await reg.http.get("/api/v1/find/repositories", params={"query": "acme"}, headers=headers)
        assert r.status_code == 200, r.text
        return {f"{x['namespace']['name']}/{x['name']}" for x in r.json()["results"]}

    async def catalog(headers: dict[str, str]) -> set[str]:
        password = headers["Authorization"].removeprefix("Bearer ")
        r = await reg.http.get(
            "/v2/auth", params={"scope": "registry:catalog:*"}, auth=("$oauthtoken", password)
        )
        assert r.status_code == 200, r.text
        c = await reg.http.get("/v2/_catalog", headers={"Authorization": f"Bearer {r.json()['token']}"})
        assert c.status_code == 200, c.text
        return set(c.json()["repositories"])

    assert "acme/app" in await found(reading) and "acme/app" in await catalog(reading)
    assert "acme/app" not in await found(token)
    assert "acme/app" not in await catalog(token)
    r = await reg.http.get("/api/v1/repository", params={"namespace": "acme"}, headers=token)
    assert r.status_code == 403 or "app" not in {x["name"] for x in r.json()["repositories"]}


async def test_organization_views(world: World) -> None:
    http: httpx.AsyncClient = world.reg.http
    r = await http.get("/api/v1/organization/acme", headers=world.api["owner"])
    body = r.json()
    assert body["is_admin"] is True and body["ordered_teams"] == ["makers", "owners", "readers", "writers"]
    assert body["teams"]["owners"]["role"] == "admin"
    r = await http.get("/api/v1/organization/acme", headers=world.api["outsider"])
    assert r.json()["is_member"] is False and "teams" not in r.json()
    r = await http.get("/api/v1/organization/acme/members", headers=world.api["owner"])
    assert [m["name"] for m in r.json()["members"]] == ["disabled", "maker", "owner", "reader", "writer"]
    r = await http.get("/api/v1/organization/acme/team/readers/members", headers=world.api["owner"])
    assert [m["name"] for m in r.json()["members"]] == ["disabled", "reader"]
    assert (
        await http.delete("/api/v1/organization/acme/team/owners", headers=world.api["owner"])
    ).status_code == 400
    r = await http.delete("/api/v1/organization/acme/team/owners/members/owner", headers=world.api["owner"])
    assert r.status_code == 400  # the last owner stays
    assert (await http.get("/api/v1/organization/nope")).status_code == 404
    r = await http.post("/api/v1/organization/", json={"name": "owner"}, headers=world.api["outsider"])
    assert r.status_code == 400  # the name is a user's


async def test_deleting_an_organization(world: World) -> None:
    http = world.reg.http
    assert (await http.delete("/api/v1/organization/acme", headers=world.api["reader"])).status_code == 403
    assert (await http.delete("/api/v1/organization/acme", headers=world.api["owner"])).status_code == 204
    assert (await http.get("/api/v1/organization/acme")).status_code == 404
    assert await _granted(world.reg, "owner", "acme/app") == NONE


async def test_who_holds_what(world: World) -> None:
    http = world.reg.http
    owner = world.api["owner"]
    r = await http.get("/api/v1/repository/acme/app/permissions/user/writer/transitive", headers=owner)
    assert r.json() == {"permissions": [{"role": "write"}]}
    r = await http.get("/api/v1/repository/acme/app/permissions/user/outsider/transitive", headers=owner)
    assert r.json() == {"permissions": []}
    r = await http.get("/api/v1/organization/acme/team/readers/permissions", headers=world.api["reader"])
    assert r.json() == {
        "permissions": [
            {"repository": {"name": "acme/app", "is_public": False}, "role": "read"},
            {"repository": {"name": "acme/pub", "is_public": True}, "role": "read"},
        ]
    }
    assert (
        await http.get("/api/v1/organization/acme/team/readers/permissions", headers=world.api["outsider"])
    ).status_code == 403
    token = (await http.put("/api/v1/organization/acme/robots/bot", headers=owner)).json()["token"]
    assert token
    await http.put(
        "/api/v1/repository/acme/pub/permissions/user/acme+bot", json={"role": "write"}, headers=owner
    )
    r = await http.get("/api/v1/organization/acme/robots/bot/permissions", headers=owner)
    assert r.json() == {
        "permissions": [{"repository": {"name": "acme/pub", "is_public": True}, "role": "write"}]
    }

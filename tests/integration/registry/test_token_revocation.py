"""Revocation reaches registry tokens already issued: each change that takes access away ends the
tokens its account holds at once, not when they expire (core/revocation.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.integration.world import PW, World
from wharf.app import build_app

Change = Callable[[World], Awaitable[httpx.Response]]


async def _token(world: World, user: str, scope: str = "repository:acme/app:pull", password: str = PW) -> str:
    return await world.reg.token(scope, user=user, password=password)


async def _works(http: httpx.AsyncClient, token: str, path: str = "/v2/acme/app/tags/list") -> bool:
    """Whether the token is still honoured: True for any answer but 401; a revoked token gets a
    401 that tells the client to fetch a new one."""
    r = await http.get(path, headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 401:
        return True
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    return False


def _api(method: str, path: str, as_user: str = "owner", **kw: object) -> Change:
    async def change(world: World) -> httpx.Response:
        return await world.reg.http.request(method, f"/api/v1{path}", headers=world.api[as_user], **kw)  # type: ignore[arg-type]

    return change


# (what changes, whose token ends, whose token (with access to the same place) does not)
CASES: dict[str, tuple[Change, str, str, str]] = {
    "user disabled": (
        _api("PUT", "/superuser/users/reader", "admin", json={"enabled": False}),
        "reader",
        "writer",
        "repository:acme/app:pull",
    ),
    "user deleted": (
        _api("DELETE", "/superuser/users/reader", "admin"),
        "reader",
        "writer",
        "repository:acme/app:pull",
    ),
    "password changed": (
        _api("PUT", "/superuser/users/reader", "admin", json={"password": "another-password"}),
        "reader",
        "writer",
        "repository:acme/app:pull",
    ),
    "robot token regenerated": (
        _api("POST", "/organization/acme/robots/deployer/regenerate"),
        "acme+deployer",
        "reader",
        "repository:acme/app:pull",
    ),
    "robot deleted": (
        _api("DELETE", "/organization/acme/robots/deployer"),
        "acme+deployer",
        "reader",
        "repository:acme/app:pull",
    ),
    "removed from a team": (
        _api("DELETE", "/organization/acme/team/readers/members/reader"),
        "reader",
        "writer",
        "repository:acme/app:pull",
    ),
    "removed from the organization": (
        _api("DELETE", "/organization/acme/members/writer"),
        "writer",
        "reader",
        "repository:acme/app:pull",
    ),
    "team deleted": (
        _api("DELETE", "/organization/acme/team/readers"),
        "reader",
        "writer",
        "repository:acme/app:pull",
    ),
    "team role lowered": (
        _api("PUT", "/organization/acme/team/makers", json={"role": "member"}),
        "maker",
        "owner",
        "repository:acme/new:pull,push",
    ),
    "user permission changed": (
        _api("PUT", "/repository/acme/app/permissions/user/direct", json={"role": "read"}),
        "direct",
        "writer",
        "repository:acme/app:pull,push",
    ),
    "user permission removed": (
        _api("DELETE", "/repository/acme/app/permissions/user/direct"),
        "direct",
        "writer",
        "repository:acme/app:pull",
    ),
    "robot permission removed": (
        _api("DELETE", "/repository/acme/app/permissions/user/acme+deployer"),
        "acme+deployer",
        "direct",
        "repository:acme/app:pull",
    ),
    "team permission changed": (
        _api("PUT", "/repository/acme/app/permissions/team/writers", json={"role": "read"}),
        "writer",
        "reader",
        "repository:acme/app:pull,push",
    ),
    "team permission removed": (
        _api("DELETE", "/repository/acme/app/permissions/team/writers"),
        "writer",
        "reader",
        "repository:acme/app:pull",
    ),
}


async def _robot(world: World) -> str:
    """acme+deployer, with read on acme/app: its token."""
    http, owner = world.reg.http, world.api["owner"]
    assert (await http.put("/api/v1/organization/acme/robots/deployer", headers=owner)).status_code == 201
    r = await http.put(
        "/api/v1/repository/acme/app/permissions/user/acme+deployer", json={"role": "read"}, headers=owner
    )
    assert r.status_code == 200, r.text
    r = await http.get("/api/v1/organization/acme/robots/deployer", headers=owner)
    return str(r.json()["token"])


@pytest.mark.parametrize("case", CASES)
async def test_the_change_ends_tokens_issued_before_it(world: World, case: str) -> None:
    change, revoked, bystander, scope = CASES[case]
    passwords = {"acme+deployer": await _robot(world)}
    http = world.reg.http
    path = f"/v2/{scope.split(':')[1]}/tags/list"
    before = await _token(world, revoked, scope, passwords.get(revoked, PW))
    other = await _token(world, bystander, scope, passwords.get(bystander, PW))
    assert await _works(http, before, path) and await _works(http, other, path)

    r = await change(world)
    assert r.status_code in (200, 204), r.text

    assert not await _works(http, before, path)
    assert await _works(http, other, path)  # everyone else's tokens go on working


async def test_a_revoked_token_is_refused_by_every_registry_endpoint(world: World) -> None:
    reg = world.reg
    digest, manifest = await reg.push_image("acme/app", "v1")
    token = await _token(world, "writer", "repository:acme/app:pull,push")
    catalog = await _token(world, "writer", "registry:catalog:*")
    paths = [
        "/v2/",
        "/v2/acme/app/tags/list",
        "/v2/acme/app/manifests/v1",
        f"/v2/acme/app/manifests/{digest}",
        f"/v2/acme/app/blobs/{manifest['config']['digest']}",
        f"/v2/acme/app/referrers/{digest}",
    ]
    for path in paths:
        assert await _works(reg.http, token, path), path
    assert await _works(reg.http, catalog, "/v2/_catalog")
    r = await reg.http.post("/v2/acme/app/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 202, r.text
    upload = r.headers["Location"]

    r = await _api("PUT", "/repository/acme/app/permissions/team/writers", json={"role": "read"})(world)
    assert r.status_code == 200

    for path in paths:
        assert not await _works(reg.http, token, path), path
    assert not await _works(reg.http, catalog, "/v2/_catalog")
    bearer = {"Authorization": f"Bearer {token}"}
    for method, url in (
        ("POST", "/v2/acme/app/blobs/uploads/"),
        ("PATCH", upload),
        ("PUT", f"{upload}?digest={digest}"),
        ("DELETE", upload),
        ("PUT", "/v2/acme/app/manifests/v2"),
        ("DELETE", f"/v2/acme/app/manifests/{digest}"),
    ):
        r = await reg.http.request(method, url, headers=bearer, content=b"x")
        assert r.status_code == 401, (method, url, r.text)
    # a new token has what the writer may do now: pull, not push
    fresh = await _token(world, "writer", "repository:acme/app:pull,push")
    assert await _works(reg.http, fresh, "/v2/acme/app/manifests/v1")
    r = await reg.http.post("/v2/acme/app/blobs/uploads/", headers={"Authorization": f"Bearer {fresh}"})
    # refused as Quay does: a challenge naming the scope (docs/registry-api.md), not a revoked token
    assert r.status_code == 401
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]


async def test_a_deleted_repository_honours_no_old_token_when_made_again(world: World) -> None:
    reg = world.reg
    token = await _token(world, "direct", "repository:acme/app:pull,push")
    assert await _works(reg.http, token)
    r = await _api("DELETE", "/repository/acme/app")(world)
    assert r.status_code == 204, r.text
    await reg.push_blob("acme/app", b"again")  # the owner's admin makes it again, without `direct`
    assert not await _works(reg.http, token)


async def test_revocation_on_one_node_reaches_the_others(world: World) -> None:
    """Two `wharf serve` processes on one database: a token checked by node A is refused by node A
    as soon as node B has made the change."""
    reg = world.reg
    token = await _token(world, "reader")
    node_b = build_app(reg.wharf.rt.settings, run_workers=False)
    try:
        transport = httpx.ASGITransport(app=node_b, client=("10.1.2.4", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as http_b:
            assert await _works(reg.http, token) and await _works(http_b, token)
            r = await http_b.delete(
                "/api/v1/organization/acme/team/readers/members/reader", headers=world.api["owner"]
            )
            assert r.status_code == 204, r.text
            assert not await _works(reg.http, token)
            assert not await _works(http_b, token)
    finally:
        await node_b.rt.close()


async def test_a_repository_made_private_ends_pulls_granted_because_it_was_public(world: World) -> None:
    """Anonymous callers and users without a role pull a public repository; once it is private,
    their tokens stop there at once. A token whose pull comes from a role keeps working."""
    reg = world.reg
    digest = await reg.push_blob("acme/pub", b"public layer")
    blob = f"/v2/acme/pub/blobs/{digest}"
    anonymous = await reg.token("repository:acme/pub:pull", user=None)
    outsider = await _token(world, "outsider", "repository:acme/pub:pull")
    reader = await _token(world, "reader", "repository:acme/pub:pull")
    mount = await _token(world, "outsider", "repository:acme/pub:pull repository:outsider/copy:pull,push")
    for token in (anonymous, outsider, reader):
        assert (await reg.http.get(blob, headers={"Authorization": f"Bearer {token}"})).status_code == 200

    r = await _api("POST", "/repository/acme/pub/changevisibility", json={"visibility": "private"})(world)
    assert r.status_code == 200, r.text

    assert not await _works(reg.http, anonymous, blob)
    assert not await _works(reg.http, outsider, blob)
    r = await reg.http.get(blob, headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 200
    # nor can such a token mount the private repository's blobs elsewhere
    r = await reg.http.post(
        "/v2/outsider/copy/blobs/uploads/",
        params={"mount": digest, "from": "acme/pub"},
        headers={"Authorization": f"Bearer {mount}"},
    )
    assert r.status_code == 202  # no mount: an upload starts instead


async def test_revoking_an_app_token_ends_the_registry_tokens_it_was_traded_for(world: World) -> None:
    http, reader = world.reg.http, world.api["reader"]
    r = await http.post("/api/v1/user/apptoken", json={"title": "laptop"}, headers=reader)
    assert r.status_code == 200, r.text
    created = r.json()["token"]
    token = await _token(world, "$app", password=created["token_code"])
    assert await _works(http, token)
    r = await http.delete(f"/api/v1/user/apptoken/{created['uuid']}", headers=reader)
    assert r.status_code == 204, r.text
    assert not await _works(http, token)


async def test_revoking_an_oauth_token_ends_the_registry_tokens_it_was_traded_for(world: World) -> None:
    http, owner = world.reg.http, world.api["owner"]
    r = await http.post(
        "/api/v1/organization/acme/applications",
        json={"name": "ci", "redirect_uri": "https://ci.example/cb"},
        headers=owner,
    )
    assert r.status_code == 200, r.text
    client_id = r.json()["client_id"]
    r = await http.post(
        f"/api/v1/organization/acme/applications/{client_id}/tokens",
        json={"name": "deploys", "scope": "repo:read"},
        headers=owner,
    )
    assert r.status_code == 200, r.text
    created = r.json()
    oauth_token = created["access_token"]
    token = await _token(world, "$oauthtoken", password=oauth_token)
    assert await _works(http, token)
    r = await http.delete(
        f"/api/v1/organization/acme/applications/{client_id}/tokens/{created['uuid']}", headers=owner
    )
    assert r.status_code == 204, r.text
    assert not await _works(http, token)
